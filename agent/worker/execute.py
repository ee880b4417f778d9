"""One run of one job on a worker: claim it, run the engine's pipeline, hand over the video, finish.

    claim      storage.cluster.ClusterStore.claim: a new attempt number, this worker named; a job
               cancelled or finished meanwhile is not run. A job run `cluster.max_attempts` times
               already (its workers kept dying) is failed instead, refunded, never run again.
    moved      a claim after another worker's attempt says so in an event (Stage.MOVED): the job
               starts again here, from the start (that worker's files are on its own disk)
    run        Pipeline.run against this box's backends, its events stored by an EventWriter
    hand over  the finished MP4 is PUT to a front door (agent.worker.upload), which records itself
               as the video's holder, fenced by the attempt
    finish     JobStore.finish with `attempt`: settled or refunded exactly once, the terminal event
               stored with it; retried until stored (the database may be restarting)

A cancel from a front door stores the cancelled state (and the refund) itself, then asks
procrastinate to abort the run: the worker is told over LISTEN/NOTIFY and cancels the run's task at
once; a run that misses it notices at its next event batch (refused: it is stale). A worker shutting
down (SIGTERM) lets its runs finish for `cluster.shutdown_grace_s`, then procrastinate aborts them
with the reason SHUTDOWN and puts them back in the queue (the task's retry), where another worker
claims them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import tenacity

from agent.choices import Aspect, Length, Mode
from agent.engine.backends import Backends
from agent.engine.cascade import Attempt
from agent.engine.events import ProgressEvent
from agent.engine.pipeline import JobSpec, Pipeline, topic_seed
from agent.engine.render.errors import BudgetTooSmall, RenderError
from agent.engine.render.spec import size_for_aspect
from agent.engine.outcome import job_charge, wire_result
from agent.engine.routes import job_mode, RouteUnavailable, plan_route
from agent.protocol import API_PREFIX, ErrorCode, JobStatus
from agent.settings import Settings
from agent.worker.events import terminal_event
from agent.worker.upload import UploadRefused, upload_video
from agent.worker.writer import EventWriter, RunStale
from providers.errors import AllProvidersFailed
from storage import AttemptRecord, Finish, JobStore, ProgressBatch, StorageUnavailable
from storage.cluster import Claim, ClusterStore
from storage.models import JobRow

__all__ = ["Executor"]

log = logging.getLogger(__name__)

FINISH_RETRY_MAX_S = 10.0


@dataclass
class Executor:
    settings: Settings
    name: str  # this worker
    cluster: ClusterStore
    jobs: JobStore
    pipeline: Pipeline
    backends: Backends
    data_dir: Path
    http: aiohttp.ClientSession
    wall: Callable[[], float]
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    def __post_init__(self) -> None:
        self.running: dict[str, asyncio.Task[Any]] = {}

    def workdir(self, job_id: str) -> Path:
        return self.data_dir / "jobs" / job_id

    async def run(self, job_id: str, *, shutting_down: Callable[[], bool]) -> None:
        """One run of `job_id` (the procrastinate task's body). Raises CancelledError when aborted."""
        claim = await self.cluster.claim(job_id, self.name, self.wall())
        if claim is None:
            log.info("job %s: not active any more (cancelled or finished): nothing to run", job_id)
            return
        writer = EventWriter(self.cluster, job_id, claim.attempt, wall=self.wall,
                             flush_s=self.settings.agent.event_flush_s)
        writer.progress = claim.job.progress
        self.running[job_id] = asyncio.current_task()  # type: ignore[assignment]
        try:
            await self._run(claim, writer, shutting_down)
        finally:
            self.running.pop(job_id, None)
            await asyncio.to_thread(shutil.rmtree, self.workdir(job_id), True)

    async def _run(self, claim: Claim, writer: EventWriter, shutting_down: Callable[[], bool]) -> None:
        job_id = claim.job.id
        limit = self.settings.cluster.max_attempts
        if claim.attempt > limit:
            log.error("job %s: quarantined: run %d times (cluster.max_attempts = %d), its workers kept stopping",
                      job_id, claim.attempt - 1, limit)
            await self._finish(claim, writer, self._failure(
                JobStatus.FAILED, ErrorCode.QUARANTINED,
                f"the workers stopped {claim.attempt - 1} times while making this video, so it was set aside "
                "and will not be retried; your credits were refunded. Please try again"))
            return
        if claim.attempt > 1:
            who = claim.previous_worker or "another worker"
            writer.emit(stage="moved", progress=0.0,
                        message=f"the worker {who} stopped; this video starts again on {self.name}")
            log.info("job %s: moved from %s to %s (attempt %d)", job_id, who, self.name, claim.attempt)
        writer.emit(stage="starting", progress=0.0, message=f"started on {self.name}")
        flusher = asyncio.create_task(writer.run(), name=f"events-{job_id}")
        work = asyncio.create_task(self._pipeline(claim, writer), name=f"run-{job_id}")
        stale = asyncio.create_task(writer.stale.wait())
        try:
            await asyncio.wait({work, stale}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:  # aborted by procrastinate: a cancel, or the worker is stopping
            work.cancel()
            await asyncio.gather(work, return_exceptions=True)
            if shutting_down():
                with contextlib.suppress(Exception):
                    writer.emit(stage="queued", progress=0.0,
                                message=f"the worker {self.name} is shutting down; the video goes back in line")
                    await writer.flush()
                log.info("job %s: handed back (worker stopping)", job_id)
            else:
                log.info("job %s: cancelled on %s", job_id, self.name)
            raise
        finally:
            stale.cancel()
            flusher.cancel()
            await asyncio.gather(stale, flusher, return_exceptions=True)
        if not work.done():  # stale: cancelled or moved elsewhere; this run writes nothing more
            work.cancel()
            await asyncio.gather(work, return_exceptions=True)
            log.info("job %s: stopped: this run (attempt %d) is not the job's current one", job_id, claim.attempt)
            return
        fin = work.result()
        if fin is None:
            return
        await self._finish(claim, writer, fin)
        log.info("job %s: %s on %s (%s)", job_id, fin.status, self.name, fin.error_code or "ok")

    async def _pipeline(self, claim: Claim, writer: EventWriter) -> Finish | None:
        row = claim.job
        admin = f"{claim.user.platform}:{claim.user.platform_user_id}" in self.settings.quotas.admins
        workdir = self.workdir(row.id)

        def on_progress(e: ProgressEvent) -> None:
            if e.stage != "done":
                writer.emit(stage=e.stage, progress=e.fraction, message=e.message, provider=e.provider,
                            done=e.done, total=e.total, stage_done=e.stage_done)

        def on_attempt(a: Attempt) -> None:
            writer.record(AttemptRecord(a.stage, a.item, a.provider, a.tier, a.outcome, a.message, a.elapsed_s,
                                        self.wall()))

        timeout = asyncio.timeout(self.settings.agent.job_timeout_s)
        try:
            plan = plan_route(self.settings, self.backends, row.route)
            spec = self._spec(row, job_mode(self.settings, plan, None))
            async with timeout:
                result = await self.pipeline.run(spec, workdir, on_progress, orders=plan.orders,
                                                 on_attempt=on_attempt)
                await writer.flush()
                await upload_video(self.http, self.settings.cluster.front_door_url,
                                   self.settings.cluster.worker_token, row.id, claim.attempt, result.video,
                                   deadline_s=self.settings.agent.job_timeout_s)
        except RunStale:
            return None
        except UploadRefused as exc:
            log.warning("job %s: %s", row.id, exc)
            return None
        except RouteUnavailable as exc:
            return self._failure(JobStatus.FAILED, ErrorCode.ALL_PROVIDERS_FAILED, str(exc))
        except AllProvidersFailed as exc:
            return self._failure(JobStatus.FAILED, ErrorCode.ALL_PROVIDERS_FAILED,
                                 f"no {exc.stage} service could make {exc.item} right now; please try again later")
        except BudgetTooSmall as exc:
            return self._failure(JobStatus.FAILED, ErrorCode.RENDER_FAILED,
                                 f"the video cannot fit the size limit: {exc}")
        except RenderError as exc:
            log.warning("job %s: render failed: %s", row.id, exc)
            return self._failure(JobStatus.FAILED, ErrorCode.RENDER_FAILED, "rendering the video failed")
        except TimeoutError:
            if not timeout.expired():
                log.exception("job %s: unexpected timeout", row.id)
                return self._failure(JobStatus.FAILED, ErrorCode.INTERNAL, "something went wrong on our side")
            minutes = self.settings.agent.job_timeout_s / 60
            return self._failure(JobStatus.FAILED, ErrorCode.TIMEOUT,
                                 f"the video took longer than {minutes:.0f} minutes and was stopped")
        except Exception:
            log.exception("job %s: failed unexpectedly", row.id)
            return self._failure(JobStatus.FAILED, ErrorCode.INTERNAL, "something went wrong on our side")
        charged = job_charge(self.settings, plan, result, row.price, admin)
        url = f"{API_PREFIX}/jobs/{row.id}/video"
        return Finish("done", self.wall(), charged=charged,
                      result=wire_result(result, url, self.settings.agent.public_url))

    async def _finish(self, claim: Claim, writer: EventWriter, fin: Finish) -> None:
        """Store the final state (fenced by the attempt), trying again while the database is away."""
        admin = f"{claim.user.platform}:{claim.user.platform_user_id}" in self.settings.quotas.admins
        retrying = tenacity.AsyncRetrying(
            retry=tenacity.retry_if_exception_type(StorageUnavailable),
            stop=tenacity.stop_after_delay(self.settings.agent.job_timeout_s),
            wait=tenacity.wait_exponential(multiplier=0.5, max=FINISH_RETRY_MAX_S), sleep=self.sleep, reraise=True)
        async for attempt in retrying:
            with attempt:
                with contextlib.suppress(RunStale):
                    await writer.flush()
                if writer.stale.is_set():
                    return
                await self.jobs.finish(claim.job.id, fin, ProgressBatch(claim.job.id),
                                       lambda row, balance: terminal_event(row, balance, fin, admin=admin),
                                       attempt=claim.attempt)

    def _spec(self, row: JobRow, route_mode: Mode) -> JobSpec:
        import json

        o = json.loads(row.options or "{}")  # checked by the front door before they were stored
        scale = self.settings.video.size_scale
        size = None
        if scale < 1.0:
            size = tuple(max(64, int(side * scale) // 2 * 2) for side in size_for_aspect(o["aspect"]))
        return JobSpec(
            job_id=row.id, topic=row.topic, aspect=Aspect(o["aspect"]), length=Length(o["length"]),
            mode=Mode(o.get("mode") or route_mode), voice=o.get("voice", ""), max_bytes=o.get("max_bytes"),
            seed=topic_seed(row.topic), route=row.route, size=size,  # type: ignore[arg-type]
            language=o.get("language") or self.settings.video.language,
        )

    def _failure(self, status: JobStatus, code: ErrorCode, message: str) -> Finish:
        return Finish(status.value, self.wall(), error_code=code.value, error_message=message)
