"""The job runner: a bounded queue, N workers, per-job timeout, cancel by id, restart recovery.

    submit  -> credits reserved + job stored (one transaction) -> queued (position events)
    worker  -> running: Pipeline.run in its own task, kept by job id, under agent.job_timeout_s
    finish  -> done (settled, charged the cheaper tier if one served) | failed | cancelled (refunded),
               written under asyncio.shield so a cancel mid-bookkeeping cannot lose the credits.

GPU-heavy steps are already serialised by the pipeline's GPU lock; `agent.workers` bounds how many
jobs run at once. On shutdown running jobs are interrupted but stay `running` in the store; at the
next start `recover()` resumes each one whose work directory holds a manifest (Pipeline.run resumes
from it) and fails the others with a refund. Queued jobs stay queued, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.backends import Backends
from agent.cascade import Attempt
from agent.events import ProgressEvent
from agent.live import LiveJob
from agent.pipeline import JobResult, JobSpec, Pipeline
from agent.protocol import ErrorCode, JobStatus
from agent.quota import QuotaPolicy, WallClock
from agent.render.errors import BudgetTooSmall, RenderError
from agent.routes import RouteUnavailable, charged_price, plan_route
from agent.settings import Settings
from agent.views import live_job_json, make_event, row_job_json, video_path
from providers.errors import AllProvidersFailed
from storage import AttemptRecord, Finish, JobStore, NewJob, QuotaLedger, UserKey
from storage.models import JobRow, User

__all__ = ["JobRunner", "SubmitData", "QuotaExceeded", "TooManyJobs", "QueueFull"]

log = logging.getLogger(__name__)

SSE_FLUSH_RETRIES = 3


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


@dataclass(frozen=True)
class SubmitData:
    """A validated submission (see agent.api): nothing here is used as a path."""

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
    ) -> None:
        self.settings = settings
        self.store = store
        self.ledger = ledger
        self.policy = policy
        self.pipeline = pipeline
        self.backends = backends
        self.data_dir = data_dir
        self.wall = wall_clock
        self._live: dict[str, LiveJob] = {}
        self._waiting: dict[str, None] = {}  # insertion-ordered: the queue
        self._ready: asyncio.Queue[str] = asyncio.Queue()
        self._claims = 0
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._finishing: set[asyncio.Task[Any]] = set()
        self._admitting: set[asyncio.Task[Any]] = set()  # submissions being stored
        self._write_lock = asyncio.Lock()  # orders event writes against final writes
        self._positions_dirty = False
        self._workers: list[asyncio.Task[None]] = []
        self._background: list[asyncio.Task[None]] = []

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        await asyncio.to_thread((self.data_dir / "jobs").mkdir, parents=True, exist_ok=True)
        await self.recover()
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
        if self._admitting or self._finishing:
            await asyncio.gather(*self._admitting, *self._finishing, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self.flush()
        log.info("job runner stopped: %d job(s) left queued or running for the next start", len(self._live))

    def workdir(self, job_id: str) -> Path:
        return self.data_dir / "jobs" / job_id

    def video_file(self, job_id: str) -> Path:
        return self.workdir(job_id) / "video.mp4"

    # ------------------------------------------------------------------ queries

    def live(self, job_id: str) -> LiveJob | None:
        return self._live.get(job_id)

    def queued_count(self) -> int:
        return sum(1 for jid in self._waiting if self._live[jid].status is JobStatus.QUEUED)

    def running_count(self) -> int:
        return len(self._tasks)

    def queue_json(self) -> dict[str, Any]:
        a = self.settings.agent
        return {"queued": self.queued_count(), "running": self.running_count(), "workers": a.workers,
                "queue_size": a.queue_size}

    async def job_json(self, job_id: str) -> dict[str, Any] | None:
        live = self._live.get(job_id)
        if live is not None:
            return live_job_json(live)
        found = await self.store.get_with_user(job_id)
        return None if found is None else row_job_json(*found)

    # ------------------------------------------------------------------ submit

    async def submit(self, data: SubmitData) -> tuple[dict[str, Any], bool]:
        """Reserve and enqueue; returns (job JSON, created). Idempotent on (user, request_id).

        One unit of work in the store (user, request id, allowance, reservation, job). It runs in a
        task of its own, shielded, so a client that hangs up mid-submit cannot leave a job stored and
        charged but never queued."""
        if self.queued_count() + self._claims >= self.settings.agent.queue_size:
            existing = await self.store.by_user_request(data.platform, data.user_id, data.request_id)
            if existing is not None:  # a repeated request still gets its job
                return self._existing_json(*existing), False
            raise QueueFull("the agent's queue is full; try again in a little while",
                            self.settings.agent.busy_retry_after_s)
        self._claims += 1
        task = asyncio.ensure_future(self._admit(data))
        self._admitting.add(task)
        task.add_done_callback(self._admitting.discard)
        return await asyncio.shield(task)

    async def _admit(self, data: SubmitData) -> tuple[dict[str, Any], bool]:
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
                first_event=lambda: first,
                max_in_flight=self.policy.max_in_flight(data.platform, data.user_id),
                day=self.policy.day(now), daily=self.policy.daily,
                user=UserKey(data.platform, data.user_id, data.user_name),
            )
        finally:
            self._claims -= 1
        if outcome.created:
            assert outcome.job is not None
            live.user_id = outcome.job.user_id
            live.publish_stored(first)
            self._enqueue(live)
            log.info("job %s: queued for %s:%s (%s, %d credits) at #%s", live.id, data.platform,
                     data.user_id, data.route, price, live.position)
            return live_job_json(live), True
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
            str(self.policy.quota_json(data.platform, data.user_id, outcome.balance, 0, self.backends)["resets_at"]),
        )

    def _existing_json(self, row: JobRow, user: User) -> dict[str, Any]:
        live = self._live.get(row.id)
        return live_job_json(live) if live is not None else row_job_json(row, user)

    def _enqueue(self, live: LiveJob, *, front: bool = False) -> None:
        self._live[live.id] = live
        if front:
            self._waiting = {live.id: None, **self._waiting}
        else:
            self._waiting[live.id] = None
        self._ready.put_nowait(live.id)
        self._positions_dirty = True

    # ------------------------------------------------------------------ events

    def emit(self, live: LiveJob, **fields: Any) -> dict[str, Any]:
        event = make_event(live, live.last_seq + 1, self.wall(), **fields)
        live.append(event)
        return event

    def _on_progress(self, live: LiveJob, e: ProgressEvent) -> None:
        if e.stage == "done":  # the terminal event follows with the result
            return
        self.emit(live, stage=e.stage, progress=e.fraction, message=e.message, provider=e.provider,
                  done=e.done, total=e.total, stage_done=e.stage_done)

    def _on_attempt(self, live: LiveJob, a: Attempt) -> None:
        live.pending_attempts.append(AttemptRecord(a.stage, a.item, a.provider, a.tier, a.outcome, a.message,
                                                   a.elapsed_s, self.wall()))
        if a.outcome == "ok":
            served = live.provenance.setdefault(a.stage, {})
            served[a.provider] = served.get(a.provider, 0) + 1

    def _refresh_positions(self) -> None:
        if not self._positions_dirty:
            return
        self._positions_dirty = False
        position = 0
        for job_id in self._waiting:
            live = self._live[job_id]
            if live.status is not JobStatus.QUEUED:
                continue
            position += 1
            if live.position != position:
                live.position = position
                self.emit(live, stage="queued", message=f"queued: #{position} in line")

    async def flush(self) -> None:
        """Store every pending event and attempt (one transaction for all jobs)."""
        async with self._write_lock:
            batches = [live.take_pending() for live in self._live.values()
                       if live.pending_events or live.pending_attempts]
            if not batches:
                return
            try:
                await self.store.save_progress(batches)
            except Exception:
                log.exception("storing job events failed; will retry")
                for batch in batches:  # put them back, in front of anything newer
                    live = self._live.get(batch.job_id)
                    if live is not None:
                        live.pending_events[:0] = batch.events
                        live.pending_attempts[:0] = batch.attempts
                raise

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
            if job_id not in self._waiting:  # cancelled while queued
                continue
            del self._waiting[job_id]
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
            async with self._write_lock:
                await self.store.mark_running(live.id, now, live.take_pending())
            plan = plan_route(self.settings, self.backends, live.route)
            spec = self._spec(live, plan.mode)
            async with timeout:
                result = await self.pipeline.run(
                    spec, self.workdir(live.id), lambda e: self._on_progress(live, e),
                    orders=plan.orders, on_attempt=lambda a: self._on_attempt(live, a),
                )
        except asyncio.CancelledError:
            if not live.cancel_requested:
                raise  # shutdown
            fin = self._failure(JobStatus.CANCELLED, ErrorCode.CANCELLED, "cancelled; your credits were refunded")
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
            charged = 0 if live.admin else min(live.price, charged_price(self.settings, plan, result.provenance))
            fin = Finish("done", self.wall(), charged=charged, result=self._result_json(live, result))
        await self._finish_shielded(live, fin)

    def _spec(self, live: LiveJob, route_mode: str) -> JobSpec:
        o = live.options
        seed = int.from_bytes(hashlib.sha256(live.topic.encode()).digest()[:4], "big")
        return JobSpec(
            job_id=live.id, topic=live.topic, aspect=o["aspect"], length=o["length"],
            mode=o.get("mode") or route_mode, voice=o.get("voice", ""), max_bytes=o.get("max_bytes"),
            seed=seed, route=live.route,
        )

    def _failure(self, status: JobStatus, code: ErrorCode, message: str) -> Finish:
        return Finish(status.value, self.wall(), error_code=code.value, error_message=message)

    def _result_json(self, live: LiveJob, r: JobResult) -> dict[str, Any]:
        url = video_path(live.id)
        public = self.settings.agent.public_url.rstrip("/")
        return {
            "title": r.title, "duration_s": round(r.duration_s, 3), "bytes": r.bytes, "width": r.width,
            "height": r.height, "provenance": {k: dict(v) for k, v in r.provenance.items()},
            "provenance_line": r.provenance_line(), "video_url": url,
            "download_url": f"{public}{url}" if public else None,
        }

    # ------------------------------------------------------------------ finishing

    async def _finish_shielded(self, live: LiveJob, fin: Finish) -> None:
        task = asyncio.ensure_future(self._finish(live, fin))
        self._finishing.add(task)
        task.add_done_callback(self._finishing.discard)
        await asyncio.shield(task)

    async def _finish(self, live: LiveJob, fin: Finish) -> None:
        def terminal(row: JobRow, balance: int | None) -> dict[str, Any]:
            fields: dict[str, Any] = {"stage": fin.status, "position": None}
            if fin.status == "done":
                assert fin.result is not None
                result = dict(fin.result, credits_charged=row.charged or 0,
                              credits_left=None if live.admin else balance)
                fields.update(progress=1.0, message="done", result=result, provider="")
            else:
                fields.update(message=fin.error_message or fin.status, refunded=True,
                              error={"code": fin.error_code, "message": fin.error_message or "", "refunded": True,
                                     "credits_refunded": row.refunded,
                                     "credits_left": None if live.admin else balance})
            return make_event(live, live.last_seq + 1, fin.now, status=fin.status, **fields)

        for attempt in range(SSE_FLUSH_RETRIES):
            try:
                async with self._write_lock:
                    out = await self.store.finish(live.id, fin, live.take_pending(), terminal)
                break
            except Exception:
                log.exception("job %s: storing the final state failed (try %d)", live.id, attempt + 1)
                if attempt + 1 == SSE_FLUSH_RETRIES:
                    raise
                await asyncio.sleep(0.5 * (attempt + 1))
        self._live.pop(live.id, None)  # from now on the stored row answers for the job
        self._waiting.pop(live.id, None)
        if out is not None:
            _row, event = out
            live.status = JobStatus(fin.status)
            live.publish_stored(event)
            log.info("job %s: %s (%s)", live.id, fin.status, fin.error_code or "ok")

    # ------------------------------------------------------------------ cancel

    async def cancel(self, job_id: str) -> bool:
        """Cancel an active job; False when it is not active here (finished or unknown)."""
        live = self._live.get(job_id)
        if live is None:
            return False
        live.cancel_requested = True
        if job_id in self._waiting:
            del self._waiting[job_id]
            self._positions_dirty = True
            fin = self._failure(JobStatus.CANCELLED, ErrorCode.CANCELLED, "cancelled; your credits were refunded")
            await self._finish_shielded(live, fin)
            return True
        task = live.task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=30)
        return True

    # ------------------------------------------------------------------ recovery and retention

    async def recover(self) -> None:
        resumed = failed = queued = 0
        for row in await self.store.with_status(JobStatus.RUNNING.value):
            live = await self._live_from_row(row)
            if await asyncio.to_thread((self.workdir(row.id) / "manifest.json").is_file):
                live.resumed = True
                self._live[live.id] = live
                self._waiting[live.id] = None
                self._ready.put_nowait(live.id)
                resumed += 1
            else:
                await self._finish_shielded(live, self._failure(
                    JobStatus.FAILED, ErrorCode.AGENT_RESTARTED,
                    "the agent restarted before any of this video was saved; your credits were refunded"))
                failed += 1
        for row in await self.store.with_status(JobStatus.QUEUED.value):
            live = await self._live_from_row(row)
            self._enqueue(live)
            queued += 1
        self._refresh_positions()
        if resumed or failed or queued:
            log.info("recovered jobs: %d resumed, %d failed (nothing saved), %d still queued",
                     resumed, failed, queued)

    async def _live_from_row(self, row: JobRow) -> LiveJob:
        user = await self.store.user_of(row.user_id)
        assert user is not None
        return LiveJob.from_row(row, user, self.policy.is_admin(user.platform, user.platform_user_id))

    async def cleanup_expired(self) -> int:
        """Delete the files of jobs finished more than agent.retention_h ago; rows stay."""
        cutoff = self.wall() - self.settings.agent.retention_h * 3600
        ids = await self.store.expired(cutoff)
        for job_id in ids:
            await asyncio.to_thread(shutil.rmtree, self.workdir(job_id), True)
        await self.store.mark_files_deleted(ids, self.wall())
        if ids:
            log.info("retention: deleted the files of %d finished job(s)", len(ids))
        return len(ids)

    async def _retention(self) -> None:
        while True:
            try:
                await self.cleanup_expired()
            except Exception:
                log.exception("retention cleanup failed")
            await asyncio.sleep(self.settings.agent.retention_check_s)


def _human_duration(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes = rest // 60
    return f"{hours} h {minutes} min" if hours else f"{max(1, minutes)} min"
