"""The job runner: a bounded queue, N workers, per-job timeout, cancel by id, restart recovery.

    submit  -> credits reserved + job stored (one transaction) -> queued (position events)
    worker  -> running: Pipeline.run in its own task, kept by job id, under agent.job_timeout_s
    finish  -> done (settled, charged the cheaper tier if one served) | failed | cancelled (refunded),
               written under asyncio.shield so a cancel mid-bookkeeping cannot lose the credits, and
               retried with backoff until it is stored (a full disk delays it, never loses it); a
               failed or cancelled job's files are deleted as soon as its final state is stored.

GPU-heavy steps are already serialised by the pipeline's GPU lock; `agent.workers` bounds how many
jobs run at once. On shutdown running jobs are interrupted but stay `running` in the store; at the
next start `recover()` resumes each one whose work directory holds a manifest (Pipeline.run resumes
from it) and fails the others with a refund. Queued jobs stay queued, in order. Before that, the
start sweeps what a killed agent leaves in the job folders: render temp folders with partial MP4s,
and the hidden temp files of writes that never finished.

Quarantine: a job that crashes the agent would crash it again at every restart. So each resume is
counted in the store (and committed) before the job runs again, and a job that would be resumed
more than `agent.max_recoveries` times is failed instead, refunded, with the `quarantined` code and
an operator log line: it never runs again. A clean shutdown takes that count back for the jobs it
interrupts (`JobStore.forgive_recoveries`), so only crashes (kill -9, a segfault, power loss) add up.

Disks: a job starts only with `agent.min_free_disk_mb` free in the data directory (agent.engine.disk), and a
submission is refused (503 disk_full) below it; a job that fails while the disk is that full says so
(`disk_full`) instead of blaming the providers. What stays on disk, and for how long: agent.service.retention.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import secrets
import shutil
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import tenacity

from agent.engine.backends import Backends
from agent.engine.cascade import Attempt, Outcome
from agent.choices import Aspect, Length, Mode
from agent.engine.disk import MB, DataDisk
from agent.engine.events import ProgressEvent
from agent.service.line import WaitingLine
from agent.service.live import SEQ_RESERVE_BLOCK, LiveJob
from agent.service.observers import JobObserver
from agent.engine.pipeline import JobSpec, Pipeline, topic_seed
from agent.protocol import ErrorCode, Event, Job, JobError, JobResult, JobStatus, QueueInfo, convert, to_builtins
from agent.service.quota import QuotaPolicy, WallClock
from agent.engine.render import remove_stale_temp_dirs
from agent.engine.render.errors import BudgetTooSmall, RenderError
from agent.engine.render.spec import size_for_aspect
from agent.service.retention import Retention
from agent.engine.outcome import job_charge, wire_result
from agent.service.derive import PARENT_KEY, ParentExpired, prepare_workdir
from agent.service.review import ReviewDesk
from agent.engine.routes import RouteUnavailable, job_mode, plan_route
from agent.settings import Settings
from agent.service.views import job_from_live, job_from_row, make_event, video_path
from providers.errors import AllProvidersFailed
from storage import AttemptRecord, Finish, JobStore, NewJob, ProgressBatch, QuotaLedger, StorageUnavailable, UserKey
from storage.models import JobRow, User

__all__ = ["JobRunner", "SubmitData", "QuotaExceeded", "TooManyJobs", "QueueFull", "DiskFull", "CancelOutcome",
           "Sleep"]

log = logging.getLogger(__name__)
T = TypeVar("T")

# hidden temp files of atomic writes (providers.media, providers.http, providers.audio): renamed into
# place when complete, so one found at start-up is a partial write of a killed process
PARTIAL_FILE_GLOBS = (".*.tmp", ".*.part", ".*.src", ".*.tmp.wav")
Sleep = Callable[[float], Awaitable[None]]
FINISH_RETRY_FIRST_S = 0.5  # storing a final state that failed is tried again after this...
FINISH_RETRY_MAX_S = 30.0  # ...doubling up to this, for as long as the process lives
STOP_FINISH_GRACE_S = 10.0  # at shutdown, how long unstored final states may still try
CANCEL_WAIT_S = 30.0  # how long a DELETE waits for the job to stop before it answers
DISK_FULL_MESSAGE = ("the video service is out of disk space right now; your credits were refunded, please try "
                     "again later")
# Queue positions: every job behind one that starts moves up. Announcing each move to each job
# made O(queue) events per start (at 1000 queued jobs, thousands of events a second, and the loop
# stalled on them). The position a job reports (GET) is always exact; its events are spared:
POSITION_EXACT = 10  # a move to one of the first places is announced at once
POSITION_EVENT_EVERY_S = 5.0  # further back, a job's new place is announced at most this often
POSITION_EVENTS_PER_PASS = 100  # events one pass may emit (bounds its time on the loop); the rest next pass
STORE_PENDING_MESSAGE = ("finished, but the agent cannot save the result yet (its storage is full); it will "
                         "arrive as soon as it is saved")


class QuotaExceeded(Exception):
    def __init__(self, message: str, retry_after_s: int, balance: int, price: int, resets_at: str) -> None:
        super().__init__(message)
        self.retry_after_s, self.balance, self.price, self.resets_at = retry_after_s, balance, price, resets_at


class TooManyJobs(Exception):
    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class QueueFull(Exception):
    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class DiskFull(Exception):
    """The data directory is below agent.min_free_disk_mb: nothing was stored or charged."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class CancelOutcome(enum.Enum):
    """What a cancel did."""

    CANCELLED = "cancelled"  # the job is cancelled (stored, or stored as soon as the database can)
    NOT_ACTIVE = "not_active"  # it is not queued or running here: finished, or unknown
    ALREADY_FINISHED = "already_finished"  # it finished first; its final state waits to be stored


@dataclass(frozen=True)
class SubmitData:
    """A validated submission (see agent.service.api): nothing here is used as a path."""

    request_id: str
    platform: str
    user_id: str
    user_name: str
    topic: str
    options: Mapping[str, Any]  # resolved: mode, model, aspect, voice, length, max_bytes
    route: str
    route_price: int


class JobRunner:
    def __init__(
        self, *, settings: Settings, store: JobStore, ledger: QuotaLedger, policy: QuotaPolicy,
        pipeline: Pipeline, backends: Backends, data_dir: Path, wall_clock: WallClock = time.time,
        disk: DataDisk | None = None, sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.settings = settings
        self.store = store
        self.ledger = ledger
        self.policy = policy
        self.pipeline = pipeline
        self.backends = backends
        self.data_dir = data_dir
        self.wall = wall_clock
        self.disk = disk or DataDisk(data_dir, settings.agent.min_free_disk_mb * MB)
        self._sleep = sleep
        self.retention = Retention(settings=settings, store=store, jobs_dir=data_dir / "jobs", wall_clock=wall_clock,
                                   is_active=lambda job_id: job_id in self._live)
        self._live: dict[str, LiveJob] = {}
        self._waiting = WaitingLine()
        self._ready: asyncio.Queue[str] = asyncio.Queue()
        self._claims = 0
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._finishing: set[asyncio.Task[Any]] = set()
        self._admitting: set[asyncio.Task[Any]] = set()  # submissions being stored
        self._write_lock = asyncio.Lock()  # orders event writes against final writes
        self._positions_dirty = False
        self._workers: list[asyncio.Task[None]] = []
        self._background: list[asyncio.Task[None]] = []
        self.observers: list[JobObserver] = []  # metrics, the console (agent.service.observers)
        self.review = ReviewDesk(self, settings.agent.review_ttl_s, sleep)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        await asyncio.to_thread((self.data_dir / "jobs").mkdir, parents=True, exist_ok=True)
        removed = await asyncio.to_thread(remove_leftovers, self.data_dir / "jobs")
        if removed:
            log.info("removed %d temp file(s) and folder(s) left by an earlier run", removed)
        await self.recover()
        with contextlib.suppress(Exception):  # reserve seq numbers for the recovered jobs now
            await self.flush(every_job=True)
        a = self.settings.agent
        self._workers = [asyncio.create_task(self._worker(), name=f"job-worker-{i}") for i in range(a.workers)]
        self._background = [
            asyncio.create_task(self._flusher(), name="job-event-flusher"),
            asyncio.create_task(self._retention(), name="job-retention"),
        ]

    async def stop(self) -> None:
        """Interrupt running jobs (they stay `running` for recovery), store what is pending."""
        tasks = [*self._workers, *self._background]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._admitting:
            await asyncio.gather(*self._admitting, return_exceptions=True)
        if self._finishing:  # final states still being stored: bounded, the database may be full
            _done, late = await asyncio.wait(set(self._finishing), timeout=STOP_FINISH_GRACE_S)
            for task in late:
                task.cancel()
            if late:
                log.warning("job runner stopping: %d final state(s) could not be stored; those jobs stay running "
                            "for recovery at the next start", len(late))
                await asyncio.gather(*late, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self.flush(every_job=True, release=True)  # all streamed events are stored now
        self.review.close()
        interrupted = [job_id for job_id, live in self._live.items()
                       if live.status in (JobStatus.RUNNING, JobStatus.REVIEW)]
        try:  # a clean stop is not a crash: these jobs' next resume does not count towards quarantine
            await self.store.forgive_recoveries(interrupted)
        except Exception:
            log.exception("could not record that %d running job(s) were stopped cleanly", len(interrupted))
        log.info("job runner stopped: %d job(s) left queued or running for the next start", len(self._live))

    def workdir(self, job_id: str) -> Path:
        return self.data_dir / "jobs" / job_id

    def video_file(self, job_id: str) -> Path:
        return self.workdir(job_id) / "video.mp4"

    # ------------------------------------------------------------------ queries

    def live(self, job_id: str) -> LiveJob | None:
        return self._live.get(job_id)

    def queued_count(self) -> int:
        return self._waiting.queued

    def running_count(self) -> int:
        return len(self._tasks)

    def queue_info(self) -> QueueInfo:
        a = self.settings.agent
        return QueueInfo(queued=self.queued_count(), running=self.running_count(), workers=a.workers,
                         queue_size=a.queue_size)

    async def job(self, job_id: str) -> Job | None:
        live = self._live.get(job_id)
        if live is not None:
            return job_from_live(live)
        found = await self.store.get_with_user(job_id)
        return None if found is None else job_from_row(*found)

    # ------------------------------------------------------------------ submit

    async def submit(self, data: SubmitData) -> tuple[Job, bool]:
        """Reserve and enqueue; returns (the job, created). Idempotent on (user, request_id).

        One unit of work in the store (user, request id, allowance, reservation, job). It runs in a
        task of its own, shielded, so a client that hangs up mid-submit cannot leave a job stored and
        charged but never queued."""
        if self.queued_count() + self._claims >= self.settings.agent.queue_size:
            existing = await self.store.by_user_request(data.platform, data.user_id, data.request_id)
            if existing is not None:  # a repeated request still gets its job
                return self._existing_json(*existing), False
            raise QueueFull("the agent's queue is full; try again in a little while",
                            self.settings.agent.busy_retry_after_s)
        if (await self.disk.check()).low:
            existing = await self.store.by_user_request(data.platform, data.user_id, data.request_id)
            if existing is not None:
                return self._existing_json(*existing), False
            raise DiskFull("the video service is out of disk space right now; nothing was charged, please try "
                           "again later", self.settings.agent.busy_retry_after_s)
        self._claims += 1
        task = asyncio.ensure_future(self._admit(data))
        self._admitting.add(task)
        task.add_done_callback(self._admitting.discard)
        return await asyncio.shield(task)

    async def _admit(self, data: SubmitData) -> tuple[Job, bool]:
        now = self.wall()
        try:
            price = self.policy.price(data.platform, data.user_id, data.route_price)
            live = LiveJob(
                id=secrets.token_urlsafe(16), request_id=data.request_id, user_id=0,
                platform=data.platform, platform_user_id=data.user_id, user_name=data.user_name,
                topic=data.topic, options=dict(data.options), route=data.route, price=price,
                admin=self.policy.is_admin(data.platform, data.user_id), created_at=now,
                position=self.queued_count() + self._claims,
            )
            first = make_event(live, 1, now, stage="queued", message=f"queued: #{live.position} in line")
            outcome = await self.store.submit(
                NewJob(live.id, data.request_id, 0, data.topic, live.options, data.route, price, now),
                first_event=lambda: to_builtins(first),
                max_in_flight=self.policy.max_in_flight(data.platform, data.user_id),
                day=self.policy.day(now), daily=self.policy.daily,
                user=UserKey(data.platform, data.user_id, data.user_name), seq_reserved=1 + SEQ_RESERVE_BLOCK,
            )
        finally:
            self._claims -= 1
        if outcome.created:
            live.user_id = outcome.user_id
            live.publish_stored(first)
            live.announced_position, live.announced_at = live.position, asyncio.get_running_loop().time()
            self.observe(live, first)
            live.reserved(outcome.seq_reserved)
            self._enqueue(live)
            log.info("job %s: queued for %s:%s (%s, %d credits) at #%s", live.id, data.platform,
                     data.user_id, data.route, price, live.position)
            return job_from_live(live), True
        if outcome.job is not None:
            assert outcome.user is not None
            return self._existing_json(outcome.job, outcome.user), False
        if outcome.rejected == "in_flight":
            limit = self.settings.quotas.max_in_flight
            raise TooManyJobs(f"you already have {limit} video(s) on the way; wait for one to finish",
                              self.settings.agent.busy_retry_after_s)
        retry = self.policy.seconds_to_reset(now)
        raise QuotaExceeded(
            f"not enough credits: this costs {price}, you have {outcome.balance}; credits reset in "
            f"{_human_duration(retry)}", retry, outcome.balance, price,
            self.policy.quota(data.platform, data.user_id, outcome.balance, 0, self.backends).resets_at,
        )

    def _existing_json(self, row: JobRow, user: User) -> Job:
        live = self._live.get(row.id)
        return job_from_live(live) if live is not None else job_from_row(row, user)

    def requeue(self, live: LiveJob) -> None:
        """A reviewed job goes back to a worker, ahead of the line (it waited for its person, not for us)."""
        live.status, live.stage = JobStatus.QUEUED, "queued"
        self._enqueue(live, front=True)
        self._refresh_positions()

    async def end(self, live: LiveJob, status: JobStatus, code: ErrorCode, message: str) -> None:
        """End a job no task is running (one in review), refunded; waits until the end is stored."""
        await self._settled(live, self._start_finish(live, self._failure(status, code, message)))

    def _enqueue(self, live: LiveJob, *, front: bool = False) -> None:
        self._live[live.id] = live
        self._waiting.add(live.id, queued=live.status is JobStatus.QUEUED, front=front)
        self._ready.put_nowait(live.id)
        self._positions_dirty = True

    # ------------------------------------------------------------------ events

    def emit(self, live: LiveJob, **fields: Any) -> Event:
        event = make_event(live, live.last_seq + 1, self.wall(), **fields)
        live.append(event)
        self.observe(live, event)
        return event

    def observe(self, live: LiveJob, event: Event | None = None, attempt: Attempt | None = None) -> None:
        """Tell the observers; one that fails is logged and never stops the job."""
        for observer in self.observers:
            try:
                if event is not None:
                    observer.job_event(live, event)
                if attempt is not None:
                    observer.job_attempt(live, attempt)
            except Exception:
                log.exception("job %s: observer %s failed", live.id, type(observer).__name__)

    def _on_progress(self, live: LiveJob, e: ProgressEvent) -> None:
        if e.stage == "done":  # the terminal event follows with the result
            return
        self.emit(live, stage=e.stage, progress=e.fraction, message=e.message, provider=e.provider,
                  done=e.done, total=e.total, stage_done=e.stage_done)

    def _on_attempt(self, live: LiveJob, a: Attempt) -> None:
        live.pending_attempts.append(AttemptRecord(a.stage, a.item, a.provider, a.tier, a.outcome, a.message,
                                                   a.elapsed_s, self.wall()))
        self.observe(live, attempt=a)
        if a.outcome is Outcome.OK:
            served = live.provenance.setdefault(a.stage, {})
            served[a.provider] = served.get(a.provider, 0) + 1

    def _refresh_positions(self) -> None:
        """Set every queued job's position; announce the moves (see POSITION_EXACT and below)."""
        if not self._positions_dirty:
            return
        self._positions_dirty = False
        now = asyncio.get_running_loop().time()
        budget = POSITION_EVENTS_PER_PASS
        position = 0
        for job_id in self._waiting:
            live = self._live[job_id]
            if live.status is not JobStatus.QUEUED:
                continue
            position += 1
            live.position = position
            if live.announced_position == position:
                continue
            if budget <= 0 or (position > POSITION_EXACT and now - live.announced_at < POSITION_EVENT_EVERY_S):
                self._positions_dirty = True  # announced by a later pass
                continue
            budget -= 1
            live.announced_position, live.announced_at = position, now
            self.emit(live, stage="queued", message=f"queued: #{position} in line")

    async def flush(self, *, every_job: bool = False, release: bool = False) -> None:
        """Store every pending event and attempt (one transaction for all jobs), reserving the next
        block of seq numbers of each job written (`every_job`: of all jobs; `release`: shutting down,
        reserve nothing beyond the last event)."""
        async with self._write_lock:
            batches = [live.take_pending(release=release) for live in self._live.values()
                       if every_job or live.pending_events or live.pending_attempts]
            if not batches:
                return
            try:
                await _outlasting_cancel(self.store.save_progress(batches))
            except BaseException as exc:
                if _stored_anyway(exc):
                    self._reserved(batches)
                else:
                    if isinstance(exc, Exception) and not isinstance(exc, StorageUnavailable):
                        log.exception("storing job events failed; will retry")  # the database logs its own faults
                    for batch in batches:
                        live = self._live.get(batch.job_id)
                        if live is not None:
                            live.put_back(batch)
                raise
            self._reserved(batches)

    def _reserved(self, batches: list[ProgressBatch]) -> None:
        """Stored: each job may now stream the events up to the seq its batch reserved."""
        for batch in batches:
            live = self._live.get(batch.job_id)
            if live is not None:
                live.reserved(batch.reserve_seq)

    async def _flusher(self) -> None:
        interval = self.settings.agent.event_flush_s
        while True:
            await asyncio.sleep(interval)
            self._refresh_positions()
            with contextlib.suppress(Exception):
                await self.flush()

    # ------------------------------------------------------------------ workers

    async def _worker(self) -> None:
        while True:
            job_id = await self._ready.get()
            if not self._waiting.remove(job_id):  # cancelled while queued
                continue
            self._positions_dirty = True
            live = self._live[job_id]
            task = asyncio.create_task(self._execute(live), name=f"job-{job_id}")
            live.task = task
            self._tasks[job_id] = task
            try:
                await asyncio.wait({task})
            except asyncio.CancelledError:  # shutdown: interrupt the job, keep it for recovery
                task.cancel()
                await asyncio.wait({task})
                raise
            finally:
                self._tasks.pop(job_id, None)
                if task.done() and not task.cancelled() and task.exception() is not None:
                    log.error("job %s: runner error", job_id, exc_info=task.exception())

    async def _execute(self, live: LiveJob) -> None:
        now = self.wall()
        live.status, live.position = JobStatus.RUNNING, None
        live.started_at = live.started_at or now
        if live.resumed:
            self.emit(live, message="the agent restarted: resuming from the last finished step")
        else:
            self.emit(live, stage="starting", message="started")
        timeout = asyncio.timeout(self.settings.agent.job_timeout_s)
        try:
            disk = await self.disk.check()
            if disk.low:
                log.error("job %s: not started: %s", live.id, disk.describe())
                raise _NotStarted(ErrorCode.DISK_FULL, DISK_FULL_MESSAGE)
            await self._mark_running(live, now)
            plan = plan_route(self.settings, self.backends, live.route)
            spec = self._spec(live, job_mode(self.settings, plan, None))
            try:  # a derived job (agent.service.derive) starts from its parent's files
                await prepare_workdir(live.options, self.workdir(live.id),
                                      self.workdir(str(live.options.get(PARENT_KEY) or "-")))
            except ParentExpired as exc:
                raise _NotStarted(ErrorCode.PARENT_EXPIRED, f"{exc}; your credits were refunded") from None
            async with timeout:
                if await self.review.script_only(live):  # agent.service.review: stop after the script
                    script = await self.pipeline.write_script(
                        spec, self.workdir(live.id), lambda e: self._on_progress(live, e),
                        orders=plan.orders, on_attempt=lambda a: self._on_attempt(live, a))
                    await self.review.park(live, script)
                    return
                result = await self.pipeline.run(
                    spec, self.workdir(live.id), lambda e: self._on_progress(live, e),
                    orders=plan.orders, on_attempt=lambda a: self._on_attempt(live, a),
                )
        except asyncio.CancelledError:
            if not live.cancel_requested:
                raise  # shutdown
            fin = self._failure(JobStatus.CANCELLED, ErrorCode.CANCELLED, "cancelled; your credits were refunded")
        except _NotStarted as exc:
            fin = self._failure(JobStatus.FAILED, exc.code, str(exc))
        except RouteUnavailable as exc:
            fin = self._failure(JobStatus.FAILED, ErrorCode.ALL_PROVIDERS_FAILED, str(exc))
        except AllProvidersFailed as exc:
            log.warning("job %s: %s", live.id, exc)
            fin = self._failure(JobStatus.FAILED, ErrorCode.ALL_PROVIDERS_FAILED,
                                f"no {exc.stage} service could make {exc.item} right now; please try again later")
        except BudgetTooSmall as exc:
            fin = self._failure(JobStatus.FAILED, ErrorCode.RENDER_FAILED,
                                f"the video cannot fit the size limit: {exc}")
        except RenderError as exc:
            log.warning("job %s: render failed: %s", live.id, exc)
            fin = self._failure(JobStatus.FAILED, ErrorCode.RENDER_FAILED, "rendering the video failed")
        except TimeoutError:
            if not timeout.expired():
                log.exception("job %s: unexpected timeout", live.id)
                fin = self._failure(JobStatus.FAILED, ErrorCode.INTERNAL, "something went wrong on our side")
            else:
                minutes = self.settings.agent.job_timeout_s / 60
                fin = self._failure(JobStatus.FAILED, ErrorCode.TIMEOUT,
                                    f"the video took longer than {minutes:.0f} minutes and was stopped")
        except Exception:
            log.exception("job %s: failed unexpectedly", live.id)
            fin = self._failure(JobStatus.FAILED, ErrorCode.INTERNAL, "something went wrong on our side")
        else:
            charged = job_charge(self.settings, plan, result, live.price, live.admin)
            fin = Finish("done", self.wall(), charged=charged,
                         result=wire_result(result, video_path(live.id), self.settings.agent.public_url,
                                            live.options.get(PARENT_KEY)))
        if fin.error_code in _DISK_SUSPECT:
            disk = await self.disk.check()
            if disk.low:  # the providers did not fail: the disk they write to is full
                log.error("job %s: failed (%s) while %s", live.id, fin.error_code, disk.describe())
                fin = self._failure(JobStatus.FAILED, ErrorCode.DISK_FULL, DISK_FULL_MESSAGE)
        await self._finish_shielded(live, fin)

    async def _mark_running(self, live: LiveJob, now: float) -> None:
        try:
            await self._store_pending(live, lambda batch: self.store.mark_running(live.id, now, batch))
        except StorageUnavailable as exc:
            log.error("job %s: not started: the database cannot store it: %s", live.id, exc)
            raise _NotStarted(ErrorCode.STORAGE_UNAVAILABLE, "the video service cannot save anything right now "
                              "(its storage is full); your credits will be refunded, please try again later") from exc

    async def _store_pending(self, live: LiveJob, write: Callable[[ProgressBatch], Awaitable[T]]) -> T:
        """Run `write` with the job's pending events and attempts; put them back when it fails. Taken
        under the write lock: taken outside it, a failing flush could put events back after this
        write stored the events that follow them, and they would never be stored."""
        async with self._write_lock:
            batch = live.take_pending()
            try:
                result = await _outlasting_cancel(write(batch))
            except BaseException as exc:
                if _stored_anyway(exc):
                    live.reserved(batch.reserve_seq)
                else:
                    live.put_back(batch)
                raise
            live.reserved(batch.reserve_seq)
            return result

    def _spec(self, live: LiveJob, route_mode: Mode) -> JobSpec:
        o = live.options  # checked by agent.service.api.parse_submission before they were stored
        seed = int(o.get("seed") or topic_seed(live.topic))  # a derived job's redone scenes: a new seed
        scale = self.settings.video.size_scale
        size = None
        if scale < 1.0:  # previews and tests: the aspect kept, even sides, at least 64 px
            size = tuple(max(64, int(side * scale) // 2 * 2) for side in size_for_aspect(o["aspect"]))
        return JobSpec(
            job_id=live.id, topic=live.topic, aspect=Aspect(o["aspect"]), length=Length(o["length"]),
            mode=Mode(o.get("mode") or route_mode), voice=o.get("voice", ""), max_bytes=o.get("max_bytes"),
            seed=seed, route=live.route, size=size,  # type: ignore[arg-type]
            language=o.get("language") or self.settings.video.language,
        )

    def _failure(self, status: JobStatus, code: ErrorCode, message: str) -> Finish:
        return Finish(status.value, self.wall(), error_code=code.value, error_message=message)

    # ------------------------------------------------------------------ finishing

    def _start_finish(self, live: LiveJob, fin: Finish) -> asyncio.Task[None]:
        task = asyncio.ensure_future(self._finish(live, fin))
        self._finishing.add(task)
        task.add_done_callback(self._finishing.discard)
        return task

    async def _finish_shielded(self, live: LiveJob, fin: Finish) -> None:
        await asyncio.shield(self._start_finish(live, fin))

    async def _finish(self, live: LiveJob, fin: Finish) -> None:
        def terminal(row: JobRow, balance: int | None) -> dict[str, Any]:
            fields: dict[str, Any] = {"stage": fin.status, "position": None}
            credits_left = None if live.admin else balance
            if fin.status == "done":
                assert fin.result is not None
                result = convert(dict(fin.result, credits_charged=row.charged or 0, credits_left=credits_left),
                                 JobResult)
                fields.update(progress=1.0, message="done", result=result, provider="")
            else:  # refunded: only when credits were given back (a free or an admin's job had none)
                refunded = row.refunded > 0
                fields.update(message=fin.error_message or fin.status, refunded=refunded,
                              error=JobError(code=ErrorCode(fin.error_code), message=fin.error_message or "",
                                             refunded=refunded, credits_refunded=row.refunded,
                                             credits_left=credits_left))
            return to_builtins(make_event(live, live.last_seq + 1, fin.now, status=fin.status, **fields))

        out = await self._store_final(live, fin, terminal)
        if out is not None and fin.status != JobStatus.DONE.value:
            # nothing of a failed job is needed again; gone before anyone is told it ended
            await asyncio.to_thread(shutil.rmtree, self.workdir(live.id), True)
        self._live.pop(live.id, None)  # from now on the stored row answers for the job
        self._waiting.remove(live.id)
        if out is not None:
            _row, event = out
            live.status = JobStatus(fin.status)
            live.publish_stored(published := convert(event, Event))
            self.observe(live, published)
            log.info("job %s: %s (%s)", live.id, fin.status, fin.error_code or "ok")

    async def _store_final(
        self, live: LiveJob, fin: Finish, terminal: Callable[[JobRow, int | None], dict[str, Any]],
    ) -> tuple[JobRow, Any] | None:
        """Store the final state, trying again with capped backoff until it is stored: a job whose
        final state is lost keeps its credits reserved and its user's slot taken forever. Logged when
        it starts failing, when the reason changes, and when it is stored at last."""
        failing = ""

        def failed(state: tenacity.RetryCallState) -> None:  # before each wait: log once per reason
            nonlocal failing
            exc = state.outcome.exception() if state.outcome else None
            reason = f"{type(exc).__name__}: {exc}"
            if reason != failing:
                failing = reason
                log.error("job %s: storing its final state (%s) failed: %s; trying again until it is stored",
                          live.id, fin.status, reason, exc_info=(
                              (type(exc), exc, exc.__traceback__)
                              if exc is not None and not isinstance(exc, StorageUnavailable) else False))
            if live.final_pending is None:
                live.final_pending = fin.status
                self.emit(live, message=STORE_PENDING_MESSAGE)  # streamed now, stored with the final state

        retrying = tenacity.AsyncRetrying(
            retry=tenacity.retry_if_exception_type(Exception),
            stop=tenacity.stop_never,  # for as long as the process lives
            wait=tenacity.wait_exponential(multiplier=FINISH_RETRY_FIRST_S, max=FINISH_RETRY_MAX_S),
            sleep=self._sleep, before_sleep=failed, reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                out = await self._store_pending(live, lambda batch: self.store.finish(live.id, fin, batch, terminal))
        tries = attempt.retry_state.attempt_number
        if failing:
            log.info("job %s: final state (%s) stored after %d tries", live.id, fin.status, tries)
        return out

    # ------------------------------------------------------------------ cancel

    async def cancel(self, job_id: str) -> CancelOutcome:
        """Cancel an active job. Waits (bounded) until the job has stopped and its final state is
        stored, or is waiting to be stored because the database cannot take writes now."""
        live = self._live.get(job_id)
        if live is None:
            return CancelOutcome.NOT_ACTIVE
        if live.final_pending is not None:  # it finished before this cancel: nothing left to stop
            return (CancelOutcome.CANCELLED if live.final_pending == JobStatus.CANCELLED.value
                    else CancelOutcome.ALREADY_FINISHED)
        live.cancel_requested = True
        if live.status is JobStatus.REVIEW:  # no worker holds it: it ends here
            await self.review.cancelled(live)
            return CancelOutcome.CANCELLED
        if self._waiting.remove(job_id):
            self._positions_dirty = True
            fin = self._failure(JobStatus.CANCELLED, ErrorCode.CANCELLED, "cancelled; your credits were refunded")
            await self._settled(live, self._start_finish(live, fin))
            return CancelOutcome.CANCELLED
        task = live.task
        if task is not None and not task.done():
            task.cancel()
            await self._settled(live, task)
        if live.final_pending not in (None, JobStatus.CANCELLED.value):
            return CancelOutcome.ALREADY_FINISHED
        return CancelOutcome.CANCELLED

    async def _settled(self, live: LiveJob, task: asyncio.Future[Any], timeout_s: float = CANCEL_WAIT_S) -> None:
        """Until `task` is done or the job's final state is waiting for the database, at most timeout_s."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not task.done() and live.final_pending is None and loop.time() < deadline:
            await asyncio.wait({task}, timeout=min(0.05, max(0.0, deadline - loop.time())))

    # ------------------------------------------------------------------ recovery and retention

    async def recover(self) -> None:
        resumed = failed = queued = quarantined = 0
        limit = self.settings.agent.max_recoveries
        for row in await self.store.with_status(JobStatus.RUNNING.value):
            live = await self._live_from_row(row)
            if await asyncio.to_thread((self.workdir(row.id) / "manifest.json").is_file):
                if await self.store.count_recovery(row.id, limit) is None:  # committed before it runs
                    await self._quarantine(live, row.recoveries)
                    quarantined += 1
                    continue
                live.resumed = True
                self._live[live.id] = live
                self._waiting.add(live.id, queued=False)  # resumed: waits, is not counted as queued
                self._ready.put_nowait(live.id)
                resumed += 1
            else:  # not awaited: a database that cannot store it yet must not hold up the start
                self._live[live.id] = live
                self._start_finish(live, self._failure(
                    JobStatus.FAILED, ErrorCode.AGENT_RESTARTED,
                    "the agent restarted before any of this video was saved; your credits were refunded"))
                failed += 1
        for row in await self.store.with_status(JobStatus.QUEUED.value):
            live = await self._live_from_row(row)
            self._enqueue(live)
            queued += 1
        self._refresh_positions()
        if resumed or failed or queued or quarantined:
            log.info("recovered jobs: %d resumed, %d failed (nothing saved), %d quarantined, %d still queued",
                     resumed, failed, quarantined, queued)

    async def _quarantine(self, live: LiveJob, recoveries: int) -> None:
        """Fail, for good and with a refund, a job that was interrupted too often (agent.max_recoveries)."""
        limit = self.settings.agent.max_recoveries
        times = recoveries + 1
        log.error("job %s: quarantined after %d interruptions (resumed %d times, agent.max_recoveries = %d): "
                  "failed and refunded, it will never run again; its files are in %s",
                  live.id, times, recoveries, limit, self.workdir(live.id))
        await self._finish_shielded(live, self._failure(
            JobStatus.FAILED, ErrorCode.QUARANTINED,
            f"the video service stopped {times} time{'s' if times != 1 else ''} while making this video, so it "
            "was set aside and will not be retried; your credits were refunded. Please try again, perhaps "
            "with a different topic or voice"))

    async def _live_from_row(self, row: JobRow) -> LiveJob:
        user = await self.store.user_of(row.user_id)
        assert user is not None
        return LiveJob.from_row(row, user, self.policy.is_admin(user.platform, user.platform_user_id))

    async def cleanup_expired(self) -> int:
        """Delete the files of jobs finished more than agent.retention_h ago; rows stay."""
        return await self.retention.expire()

    async def _retention(self) -> None:
        while True:
            await self.retention.run()
            await asyncio.sleep(self.settings.agent.retention_check_s)


def remove_leftovers(jobs_dir: Path) -> int:
    """Remove render temp folders and partial temp files under `jobs_dir` (blocking; at start-up,
    before any job runs); returns how many."""
    removed = remove_stale_temp_dirs(jobs_dir)
    for pattern in PARTIAL_FILE_GLOBS:
        for path in jobs_dir.rglob(pattern):
            if path.is_file():
                path.unlink(missing_ok=True)
                removed += 1
    return removed


class _NotStarted(Exception):
    """A job that cannot start (disk or database full): it fails at once, refunded."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


# job errors that a full data directory causes too: checked against the disk before they are believed
_DISK_SUSPECT = frozenset({ErrorCode.ALL_PROVIDERS_FAILED.value, ErrorCode.RENDER_FAILED.value,
                           ErrorCode.INTERNAL.value})


_STORED = object()  # the CancelledError argument of a write that was stored all the same


async def _outlasting_cancel(write: Awaitable[T]) -> T:
    """Await a unit of work that a cancellation cannot stop: it runs on the database's thread and
    commits or not whatever the caller does. So a cancelled caller waits for its outcome (holding
    the write lock, so nothing overtakes it) and is cancelled with `_STORED` when it was stored:
    putting stored events back would store them twice."""
    task = asyncio.ensure_future(write)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait({task})
        if not task.cancelled() and task.exception() is None:
            raise asyncio.CancelledError(_STORED) from None
        raise


def _stored_anyway(exc: BaseException) -> bool:
    return isinstance(exc, asyncio.CancelledError) and bool(exc.args) and exc.args[0] is _STORED


def _human_duration(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes = rest // 60
    return f"{hours} h {minutes} min" if hours else f"{max(1, minutes)} min"
