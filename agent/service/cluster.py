"""The front door of the distributed mode: jobs go to the queue engine, workers run them elsewhere.

`ClusterRunner` answers the HTTP handlers (agent.service.api) as the embedded `JobRunner` does, but
runs nothing itself and keeps nothing in memory that another front door would need: the job, its
events, its credits and its place in the queue are in PostgreSQL, so any number of front doors can
serve the same jobs, and a restarted one loses nothing.

    submit   the route must be served by a live worker now (its heartbeat younger than
             cluster.lost_after_s), else 400 with the routes available now, as the embedded agent
             says it; then ONE unit of work (storage.JobStore.submit): user, request id, allowance,
             reservation, the per-user in-flight limit (counted under the user's row lock, so it
             holds across front doors), the job, its first event, and the queue engine's job
             (agent.taskqueue.enqueue_in): charged and queued commit together or not at all
    cancel   the cancelled state and the refund are stored first (conditional: exactly once,
             whoever else finishes the job), then procrastinate is asked to abort the run: the
             worker is told over LISTEN/NOTIFY and stops it (polled every second as a fallback)
    status   every worker from its heartbeat row: lost when silent for cluster.lost_after_s
    stalled  like every worker, each front door puts back in line the jobs of silent workers, so a
             cluster whose only other worker died still recovers its jobs
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web

from agent.engine.routes import RouteUnavailable
from agent.protocol import (ErrorCode, Event, Job, JobStatus, QueueInfo, Stage, WorkerBackend, WorkerInfo,
                            WorkerState, convert, to_builtins)
from agent.engine.disk import DataDisk
from agent.service.jobs import CancelOutcome, DiskFull, QuotaExceeded, SubmitData, TooManyJobs, _human_duration
from agent.service.quota import QuotaPolicy, WallClock, iso_utc
from agent.service.retention import Retention
from agent.service.views import job_from_row
from agent.service.worker_api import proxy_video
from agent.settings import Settings
from agent.taskqueue import enqueue_in, open_queue
from agent.worker.events import terminal_event
from storage import Database, Finish, JobStore, NewJob, ProgressBatch, QuotaLedger, UserKey
from storage.cluster import ClusterStore
from storage.models import ClusterWorkerRow, JobRow

if TYPE_CHECKING:
    import procrastinate

__all__ = ["ClusterRunner", "worker_infos", "open_front_door", "holder_url"]

log = logging.getLogger(__name__)
STALLED_CHECK_S = 5.0
QUEUE_INFO_S = 2.0
FORGET_CHECK_S = 600.0
FORGET_AFTER_S = 7 * 24 * 3600  # a worker silent a week is shown lost until then, then forgotten
WORKERS_TTL_S = 1.0  # a heartbeat is cluster.heartbeat_s apart: a second-old view of the workers is current


def worker_infos(rows: list[ClusterWorkerRow], now: float, lost_after_s: float) -> list[WorkerInfo]:
    out = []
    for row in rows:
        ago = max(0.0, now - row.heartbeat_at)
        lost = row.state != WorkerState.STOPPED and ago >= lost_after_s
        state = WorkerState.LOST.value if lost else row.state
        jobs = [str(j) for j in json.loads(row.jobs or "[]")]
        backends = [convert(b, WorkerBackend) for b in json.loads(row.backends or "[]")]
        out.append(WorkerInfo(name=row.name, state=state, last_heartbeat=iso_utc(row.heartbeat_at) or "",
                              seconds_since_heartbeat=round(ago, 1), current_job=jobs[0] if jobs else None,
                              jobs=jobs, routes=list(json.loads(row.routes or "[]")), backends=backends,
                              problem="" if lost else row.problem))
    return out


class ClusterRunner:
    def __init__(
        self, *, settings: Settings, store: JobStore, cluster: ClusterStore, ledger: QuotaLedger,
        policy: QuotaPolicy, queue: procrastinate.App, data_dir: Path, disk: DataDisk,
        http: aiohttp.ClientSession, holder: str, wall_clock: WallClock = time.time,
    ) -> None:
        self.settings, self.store, self.cluster, self.ledger = settings, store, cluster, ledger
        self.http, self.holder = http, holder  # holder: how the other front doors reach this one
        self.policy, self.queue, self.data_dir, self.disk, self.wall = policy, queue, data_dir, disk, wall_clock
        self.retention = Retention(settings=settings, store=store, jobs_dir=data_dir / "jobs", wall_clock=wall_clock,
                                   is_active=lambda job_id: False)  # a front door runs no job
        self._queue_info = QueueInfo(queued=0, running=0, workers=0, queue_size=settings.agent.queue_size)
        self._background: list[asyncio.Task[None]] = []
        self._workers_read: tuple[float, list[ClusterWorkerRow]] | None = None
        self._unserved_since: dict[str, float] = {}  # route -> when this front door first saw no worker serve it

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        await asyncio.to_thread((self.data_dir / "jobs").mkdir, parents=True, exist_ok=True)
        self._background = [
            asyncio.create_task(self._every(self.settings.agent.retention_check_s, self.retention.run),
                                name="retention"),
            asyncio.create_task(self._every(STALLED_CHECK_S, self._requeue_stalled), name="stalled-jobs"),
            asyncio.create_task(self._every(STALLED_CHECK_S, self._fail_unserved), name="unserved-jobs"),
            asyncio.create_task(self._every(QUEUE_INFO_S, self._refresh_queue_info), name="queue-info"),
            asyncio.create_task(self._every(FORGET_CHECK_S, self._forget_workers), name="forget-workers"),
        ]

    async def stop(self) -> None:
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)

    async def _every(self, interval_s: float, fn: Any) -> None:
        while True:
            try:
                await fn()
            except Exception as exc:  # noqa: BLE001 - the database may be away; next round tries again
                log.debug("%s failed: %s", getattr(fn, "__name__", fn), exc)
            await asyncio.sleep(interval_s)

    async def _requeue_stalled(self) -> None:
        for job in await self.queue.job_manager.get_stalled_jobs(
                seconds_since_heartbeat=self.settings.cluster.lost_after_s):
            log.warning("job %s: its worker stopped heartbeating; queued again for another worker",
                        job.task_kwargs.get("job_id"))
            with contextlib.suppress(Exception):  # a worker put it back first
                await self.queue.job_manager.retry_job(job)

    async def _fail_unserved(self) -> None:
        """A queued job waits for a worker that serves its model; when none has for
        `cluster.unserved_after_s` (the only GPU box went down after the job was accepted), it fails
        with a refund instead of waiting without end. Every front door may do it: finishing moves
        only an active job, so it happens once."""
        self._workers_read = None  # decided on a fresh read of the heartbeats
        live, now = set(await self.live_routes()), self.wall()
        for route in list(self._unserved_since):
            if route in live:
                del self._unserved_since[route]
        for row in await self.store.with_status(JobStatus.QUEUED.value):
            if row.route in live:
                continue
            since = self._unserved_since.setdefault(row.route, now)
            if now - max(since, row.created_at) < self.settings.cluster.unserved_after_s:
                continue
            found = await self.store.get_with_user(row.id)
            if found is None:
                continue
            admin = self.policy.is_admin(found[1].platform, found[1].platform_user_id)
            fin = Finish(JobStatus.FAILED.value, now, error_code=ErrorCode.ALL_PROVIDERS_FAILED.value,
                         error_message=f"no GPU box can make this video now (model {row.route!r}); your credits "
                                       "were refunded")
            def closing(r: JobRow, balance: int | None, fin: Finish = fin, admin: bool = admin) -> dict[str, Any]:
                return terminal_event(r, balance, fin, admin=admin)

            if await self.store.finish(row.id, fin, ProgressBatch(row.id), closing) is not None:
                log.warning("job %s: no live worker served %r for %.0f s; failed and refunded", row.id, row.route,
                            now - max(since, row.created_at))
                await self._abort(row)

    async def _forget_workers(self) -> None:
        """Drop from the status the workers silent for FORGET_AFTER_S (retired boxes)."""
        if gone := await self.cluster.forget_workers(self.wall() - FORGET_AFTER_S):
            log.info("forgot %d worker(s) silent for more than %d h", gone, FORGET_AFTER_S // 3600)

    async def _refresh_queue_info(self) -> None:
        counts = await self.store.count_by_status()
        live = [w for w in await self._read_workers() if self._alive(w)]
        self._queue_info = QueueInfo(queued=counts.get("queued", 0), running=counts.get("running", 0),
                                     workers=len(live), queue_size=self.settings.agent.queue_size)

    def _alive(self, row: ClusterWorkerRow) -> bool:
        return row.state == WorkerState.UP and self.wall() - row.heartbeat_at < self.settings.cluster.lost_after_s

    # ------------------------------------------------------------------ queries

    def live(self, job_id: str) -> None:
        return None  # nothing lives here: the database answers

    def workdir(self, job_id: str) -> Path:
        return self.data_dir / "jobs" / job_id

    def video_file(self, job_id: str) -> Path:
        return self.workdir(job_id) / "video.mp4"

    def queue_info(self) -> QueueInfo:
        return self._queue_info

    async def job(self, job_id: str) -> Job | None:
        found = await self.store.get_with_user(job_id)
        return None if found is None else job_from_row(*found)

    async def workers(self) -> list[WorkerInfo]:
        return worker_infos(await self.cluster.workers(), self.wall(), self.settings.cluster.lost_after_s)

    async def _read_workers(self) -> list[ClusterWorkerRow]:
        """The heartbeat rows, read at most every WORKERS_TTL_S (every submit asks which routes are live)."""
        now = self.wall()
        if self._workers_read is None or now - self._workers_read[0] >= WORKERS_TTL_S:
            self._workers_read = (now, await self.cluster.workers())
        return self._workers_read[1]

    async def live_routes(self) -> list[str]:
        served: set[str] = set()
        for row in await self._read_workers():
            if self._alive(row):
                served.update(json.loads(row.routes or "[]"))
        return [name for name in self.settings.routes if name in served]

    # ------------------------------------------------------------------ submit

    async def submit(self, data: SubmitData) -> tuple[Job, bool]:
        routes = await self.live_routes()
        if data.route not in routes:  # a refusal is decided on a fresh read: a worker may have just come up
            self._workers_read = None
            routes = await self.live_routes()
        if data.route not in routes:
            existing = await self.store.by_user_request(data.platform, data.user_id, data.request_id)
            if existing is not None:  # a repeated request gets its job, whatever the cluster is doing now
                return job_from_row(*existing), False
            raise RouteUnavailable(f"model not available now {data.route!r} (no worker serves it); available now: "
                                   f"{', '.join(routes) or 'none'}")
        if (await self.disk.check()).low:
            raise DiskFull("the video service is out of disk space right now; nothing was charged, please try "
                           "again later", self.settings.agent.busy_retry_after_s)
        return await asyncio.shield(self._admit(data))  # a client hanging up cannot split the unit of work

    async def _admit(self, data: SubmitData) -> tuple[Job, bool]:
        now = self.wall()
        job_id = secrets.token_urlsafe(16)
        price = self.policy.price(data.platform, data.user_id, data.route_price)
        first = Event(seq=1, job_id=job_id, status=JobStatus.QUEUED, stage=Stage.QUEUED, progress=0.0,
                      message="queued: waiting for a worker", provider="", at=iso_utc(now) or "", position=None)
        outcome = await self.store.submit(
            NewJob(job_id, data.request_id, 0, data.topic, dict(data.options), data.route, price, now),
            first_event=lambda: to_builtins(first),
            max_in_flight=self.policy.max_in_flight(data.platform, data.user_id),
            day=self.policy.day(now), daily=self.policy.daily,
            user=UserKey(data.platform, data.user_id, data.user_name), seq_reserved=1,
            enqueue=lambda session, jid: enqueue_in(session, job_id=jid, route=data.route),
        )
        if outcome.job is not None:
            assert outcome.user is not None
            if outcome.created:
                log.info("job %s: queued for %s:%s (%s, %d credits)", job_id, data.platform, data.user_id,
                         data.route, price)
            return job_from_row(outcome.job, outcome.user), outcome.created
        if outcome.rejected == "in_flight":
            limit = self.settings.quotas.max_in_flight
            raise TooManyJobs(f"you already have {limit} video(s) on the way; wait for one to finish",
                              self.settings.agent.busy_retry_after_s)
        retry = self.policy.seconds_to_reset(now)
        raise QuotaExceeded(
            f"not enough credits: this costs {price}, you have {outcome.balance}; credits reset in "
            f"{_human_duration(retry)}", retry, outcome.balance, price,
            iso_utc(self.policy.next_reset(now)) or "",
        )

    # ------------------------------------------------------------------ cancel

    async def cancel(self, job_id: str) -> CancelOutcome:
        found = await self.store.get_with_user(job_id)
        if found is None or JobStatus(found[0].status).terminal:
            return CancelOutcome.NOT_ACTIVE
        row, user = found
        admin = self.policy.is_admin(user.platform, user.platform_user_id)
        fin = Finish(JobStatus.CANCELLED.value, self.wall(), error_code=ErrorCode.CANCELLED.value,
                     error_message="cancelled; your credits were refunded")
        out = await self.store.finish(job_id, fin, ProgressBatch(job_id),
                                      lambda r, balance: terminal_event(r, balance, fin, admin=admin))
        if out is None:
            return CancelOutcome.ALREADY_FINISHED
        log.info("job %s: cancelled (refunded %d)", job_id, out[0].refunded)
        await self._abort(row)
        return CancelOutcome.CANCELLED

    async def _abort(self, row: JobRow) -> None:
        if row.queue_job_id is None:
            return
        try:  # todo -> cancelled; doing -> abort requested (the worker is notified and stops the run)
            await self.queue.job_manager.cancel_job_by_id_async(row.queue_job_id, abort=True)
        except Exception as exc:  # noqa: BLE001 - the run is refused at its next event batch anyway
            log.warning("job %s: could not ask its worker to stop (%s); it stops at its next event", row.id, exc)

    async def proxy_video(self, request: web.Request, job_id: str, disposition: str) -> web.StreamResponse | None:
        """A done job's video that another front door holds, streamed from it; None if none can."""
        row = await self.store.get(job_id)
        if row is None or not row.artifact_holder or row.artifact_holder == self.holder:
            return None
        return await proxy_video(request, self.http, row.artifact_holder, job_id, self.settings.cluster.worker_token,
                                 disposition)

    async def cleanup_expired(self) -> int:
        return await self.retention.expire()


def holder_url(settings: Settings) -> str:
    """How the other front doors reach this one: cluster.advertise_url, else agent.host and port."""
    return settings.cluster.advertise_url.rstrip("/") or f"http://{settings.agent.host}:{settings.agent.port}"


@contextlib.asynccontextmanager
async def open_front_door(settings: Settings, db: Database, *, ledger: QuotaLedger, policy: QuotaPolicy,
                          data_dir: Path, disk: DataDisk, wall_clock: WallClock) -> AsyncIterator[ClusterRunner]:
    """The queue engine on the database and a started `ClusterRunner`, stopped on exit."""
    async with open_queue(settings.agent.database_url) as queue, aiohttp.ClientSession() as http:
        runner = ClusterRunner(settings=settings, store=JobStore(db), cluster=ClusterStore(db), ledger=ledger,
                               policy=policy, queue=queue, data_dir=data_dir, disk=disk, http=http,
                               holder=holder_url(settings), wall_clock=wall_clock)
        await runner.start()
        log.info("front door of the distributed mode: jobs run on the workers; videos held here are reached "
                 "at %s", runner.holder)
        try:
            yield runner
        finally:
            await runner.stop()
