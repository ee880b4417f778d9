"""The worker process (`reelbot worker`): heartbeats, the queue engine's worker, stalled jobs.

    open        the database (migrated), the queue engine (procrastinate, agent.taskqueue), the
                engine's runtime (this box's providers, health board, pipeline)
    every cluster.heartbeat_s
                probe the backends and derive the routes served (agent.worker.capabilities); check
                the data directory's free space (agent.engine.disk): below agent.min_free_disk_mb
                the worker serves no route (state "disk-full", the reason in `problem`) until space
                is freed; write the heartbeat row (cluster_workers: backends, routes, current jobs);
                put back in the queue the jobs of workers silent for cluster.lost_after_s
                (procrastinate's `get_stalled_jobs` + `retry_job`: every worker does it, so any one
                alive suffices)
    the routes served change (a GPU server went down, the disk filled)
                the queue engine's worker fetches from the queues of the new set from then on; the
                running jobs go on. A job fetched in the moment before (or as the disk fills between
                two heartbeats) is not started here: it goes back in line for another worker
                (`NotServedHere`)
    SIGTERM     the heartbeat says "stopping"; procrastinate stops taking jobs, lets the running
                ones finish for cluster.shutdown_grace_s, then aborts them with the reason SHUTDOWN,
                and the task's retry strategy puts each back in its queue for another worker

procrastinate's own worker heartbeat (procrastinate_workers) is the lease: a worker killed with
SIGKILL stops it, and after cluster.lost_after_s its jobs are found stalled and queued again. The
queue engine stops that heartbeat as soon as it is asked to stop, so while the running jobs finish
(the shutdown grace, longer than the lease by default) this process keeps it, and its own, beating.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import shutil
import signal
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp

from agent.engine.backends import Backends
from agent.engine.disk import MB, DataDisk, DiskReport, DiskUsage
from agent.engine.health import HealthBoard
from agent.engine.pipeline import Pipeline, Renderer
from agent.engine.runtime import Runtime, open_runtime
from agent.protocol import WorkerState
from agent.settings import Settings
from agent.taskqueue import TASK_NAME, load_engine, open_queue, queue_for, route_of_queue
from agent.worker.capabilities import Capabilities, describe
from agent.worker.execute import Executor
from storage import JobStore, StorageUnavailable, open_database
from storage.cluster import ClusterStore, WorkerBeat

if TYPE_CHECKING:
    import procrastinate
    from procrastinate.worker import Worker

__all__ = ["run_worker", "worker_name", "serving", "refusal", "switch", "Switch", "NotServedHere"]

log = logging.getLogger(__name__)
RESTART_DELAY_S = 2.0  # the queue engine's worker stopped by itself (the database went away): again after


def worker_name(settings: Settings) -> str:
    return settings.cluster.worker_name or socket.gethostname()


class NotServedHere(Exception):
    """A job this worker does not take now (its data directory is full, or its route stopped being
    served here just before it was fetched): not started, back in the queue (the task's retry), where
    a worker that serves it takes it."""


@dataclass(frozen=True)
class Serving:
    state: WorkerState
    routes: tuple[str, ...]  # the queues to listen on
    problem: str  # why none, in words ("" when it serves what it can)


def serving(routes: tuple[str, ...], disk: DiskReport) -> Serving:
    """What this worker takes on, from the routes its backends can serve and its data directory."""
    if disk.low:
        return Serving(WorkerState.DISK_FULL, (), f"{disk.describe()}: it takes no new job until space is freed")
    return Serving(WorkerState.UP, routes, "")


def refusal(queue: str, routes: tuple[str, ...], disk: DiskReport) -> str:
    """Why a job from `queue` may not start here now ("" when it may): checked as each job arrives,
    since the disk and the routes are looked at once a heartbeat and a job may come in between."""
    if disk.low:
        return disk.describe()
    if queue not in {queue_for(route) for route in routes}:
        return f"this worker no longer serves {route_of_queue(queue)!r}"
    return ""


@contextlib.asynccontextmanager
async def _test_runtime(settings: Settings, backends: Backends, renderer: Renderer | None,
                        clock: Callable[[], float]) -> AsyncIterator[Runtime]:
    from agent.engine import render as render_module

    async with aiohttp.ClientSession() as session:
        health = HealthBoard(settings.cascade, clock)
        pipeline = Pipeline(settings=settings, backends=backends, health=health,
                            renderer=renderer or render_module.render, clock=clock, gpu_lock=asyncio.Lock())
        yield Runtime(settings, session, health, backends, pipeline, clock)


@dataclass
class _Listening:
    routes: tuple[str, ...]  # the routes whose queues it fetches from
    worker: Worker | None
    task: asyncio.Task[Any] | None
    woken_by: tuple[str, ...] = ()  # the routes whose queues' notifications it listens to (set at start)


class Switch(enum.Enum):
    """What a heartbeat does with the queue engine's worker."""

    NONE = "none"
    START = "start"  # none runs (or it stopped by itself): start one on the routes served
    RETARGET = "retarget"  # fetch from the new routes' queues from now on; the running jobs go on
    RESTART = "restart"  # nothing runs: start afresh, so the notifications of the routes added wake it


def switch(routes: tuple[str, ...], fetching: tuple[str, ...], woken_by: tuple[str, ...], *, engine: bool,
           dead: bool, running: int) -> Switch:
    """`routes`: what the worker serves now; `fetching`, `woken_by`: what its queue engine's worker
    fetches from and is woken for (it subscribes to its queues' notifications once, at start: a
    route added later is only polled for); `engine`: there is one; `running`: the jobs running."""
    if dead or (not engine and routes):
        return Switch.START
    if not engine:
        return Switch.NONE
    added = not set(routes) <= set(woken_by)
    if added and not running:  # stopping it is instant: no job waits on its lease
        return Switch.RESTART
    return Switch.RETARGET if routes != fetching else Switch.NONE


async def run_worker(
    settings: Settings, *, backends: Backends | None = None, renderer: Renderer | None = None,
    clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time,
    stop: asyncio.Event | None = None, disk_usage: DiskUsage = shutil.disk_usage,
) -> None:
    """Run until SIGTERM/SIGINT (or `stop` is set). Tests pass fake `backends`, `renderer` and
    `disk_usage` (the data directory's free space)."""
    await load_engine()
    from procrastinate import RetryStrategy
    from procrastinate.job_context import AbortReason, JobContext

    c, a = settings.cluster, settings.agent
    name = worker_name(settings)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    data_dir = Path(a.data_dir)
    disk = DataDisk(data_dir, a.min_free_disk_mb * MB, disk_usage)
    runtime = (_test_runtime(settings, backends, renderer, clock) if backends is not None
               else open_runtime(settings, clock=clock, renderer=renderer, data_dir=data_dir))
    async with contextlib.AsyncExitStack() as stack:
        db = await stack.enter_async_context(open_database(a.database_url))
        queue = await stack.enter_async_context(open_queue(a.database_url, pool_size=max(4, a.workers + 3)))
        rt = await stack.enter_async_context(runtime)
        http = await stack.enter_async_context(aiohttp.ClientSession())
        cluster = ClusterStore(db)
        executor = Executor(settings=settings, name=name, cluster=cluster, jobs=JobStore(db), pipeline=rt.pipeline,
                            backends=rt.backends, data_dir=data_dir, http=http, wall=wall)

        # A run handed back at shutdown, or whose body failed (the database away at its claim), is
        # retried by procrastinate, waiting 2, 4, 8... s; cluster.max_attempts (checked at the claim,
        # below procrastinate's limit) fails a job whose workers keep dying, refunded, before that
        @queue.task(name=TASK_NAME, pass_context=True,
                    retry=RetryStrategy(max_attempts=c.max_attempts + 8, exponential_wait=2))
        async def run_job(context: JobContext, job_id: str) -> None:
            why = refusal(context.job.queue, plan.routes, await disk.check())
            if why:  # the disk filled since the last heartbeat, or it was fetched as the queues changed
                log.warning("job %s: not started on %s: %s; back in the queue for another worker", job_id, name, why)
                raise NotServedHere(why)
            await executor.run(job_id, shutting_down=lambda: context.abort_reason() is AbortReason.SHUTDOWN)

        started = wall()
        listening = _Listening((), None, None)
        plan = Serving(WorkerState.UP, (), "")  # what this worker takes on now, and says: set at every heartbeat
        log.info("worker %s: started (%d job(s) at once)", name, a.workers)

        async def beat(caps: Capabilities) -> None:
            await cluster.beat(WorkerBeat(name, started, wall(), plan.state.value, caps.routes, caps.backends,
                                          sorted(executor.running), plan.problem))

        async def listen(routes: tuple[str, ...], why_none: str = "") -> None:
            nonlocal listening
            if listening.task is not None and listening.worker is not None:
                listening.worker.stop()
                await asyncio.gather(listening.task, return_exceptions=True)
            worker = None
            task = None
            if routes:
                worker = _engine_worker(queue, routes, settings, name)
                task = asyncio.create_task(worker.run(), name="procrastinate-worker")
            listening = _Listening(routes, worker, task, routes)
            log.info("worker %s: serving routes %s", name,
                     ", ".join(routes) or f"(none: {why_none or 'no backend can serve any'})")

        def retarget(routes: tuple[str, ...], why_none: str = "") -> None:
            """Listen on another set of queues without stopping: stopping would wait for the running
            jobs with the queue engine's heartbeat (their lease) already stopped. procrastinate's
            worker reads `queues` at each fetch; an empty list fetches nothing."""
            nonlocal listening
            assert listening.worker is not None
            listening.worker.queues = [queue_for(r) for r in routes]
            listening = _Listening(routes, listening.worker, listening.task, listening.woken_by)
            log.info("worker %s: serving routes %s%s", name,
                     ", ".join(routes) or f"(none: {why_none or 'no backend can serve any'})",
                     f"; its {len(executor.running)} running job(s) go on" if executor.running else "")

        while not stop.is_set():
            try:
                caps = await describe(settings, rt.backends, rt.health, clock())
                plan = serving(caps.routes, await disk.check())
                await beat(caps)  # the routes it could serve; the front door routes only to "up" workers
                await _requeue_stalled(queue, c.lost_after_s)
                dead = listening.task is not None and listening.task.done()
                if dead:
                    log.warning("worker %s: the queue engine's worker stopped; starting it again", name)
                action = switch(plan.routes, listening.routes, listening.woken_by, engine=listening.worker is not None,
                                dead=dead, running=len(executor.running))
                if action in (Switch.START, Switch.RESTART):
                    await listen(plan.routes, plan.problem)
                elif action is Switch.RETARGET:
                    retarget(plan.routes, plan.problem)
            except StorageUnavailable as exc:
                log.warning("worker %s: the database is unavailable (%s); trying again", name, exc)
            except Exception:
                log.exception("worker %s: heartbeat failed; trying again", name)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), c.heartbeat_s)

        plan = replace(plan, state=WorkerState.STOPPING, problem="")
        log.info("worker %s: stopping: running jobs may finish for %.0f s, then go back in line", name,
                 c.shutdown_grace_s)
        caps_now = Capabilities(listening.routes)
        with contextlib.suppress(Exception):
            await beat(caps_now)
        if listening.worker is not None and listening.task is not None:
            engine_worker = listening.worker
            engine_worker.stop()
            keep = asyncio.create_task(_keep_beating(queue, engine_worker, lambda: beat(caps_now), c.heartbeat_s))
            try:
                await asyncio.gather(listening.task, return_exceptions=True)
            finally:
                keep.cancel()
                await asyncio.gather(keep, return_exceptions=True)
        plan = replace(plan, state=WorkerState.STOPPED)
        with contextlib.suppress(Exception):
            await beat(caps_now)
        log.info("worker %s: stopped", name)


def _engine_worker(queue: procrastinate.App, routes: tuple[str, ...], settings: Settings, name: str) -> Worker:
    from procrastinate.worker import Worker

    c = settings.cluster
    return Worker(
        queue, queues=[queue_for(r) for r in routes], name=name, concurrency=settings.agent.workers,
        install_signal_handlers=False, shutdown_graceful_timeout=c.shutdown_grace_s, listen_notify=True,
        fetch_job_polling_interval=max(0.5, c.heartbeat_s), abort_job_polling_interval=1.0,
        update_heartbeat_interval=c.heartbeat_s, stalled_worker_timeout=c.lost_after_s,
    )


async def _keep_beating(queue: procrastinate.App, worker: Worker, beat: Callable[[], Any], every_s: float) -> None:
    """While the running jobs finish after a stop: procrastinate's heartbeat (the jobs' lease, which
    its worker stops at once) and ours ("stopping", not lost), every `every_s`."""
    while True:
        await asyncio.sleep(every_s)
        try:
            if worker.worker_id is not None:
                await queue.job_manager.update_heartbeat(worker.worker_id)
            await beat()
        except Exception as exc:  # noqa: BLE001 - the database may be away; the next beat tries again
            log.warning("heartbeat while stopping failed: %s", exc)


async def _requeue_stalled(queue: procrastinate.App, lost_after_s: float) -> None:
    """Put back in line the jobs of workers whose procrastinate heartbeat is older than lost_after_s."""
    for job in await queue.job_manager.get_stalled_jobs(seconds_since_heartbeat=lost_after_s):
        log.warning("job %s (queue job %s): its worker stopped heartbeating; queued again for another worker",
                    job.task_kwargs.get("job_id"), job.id)
        try:
            await queue.job_manager.retry_job(job)
        except Exception as exc:  # noqa: BLE001 - another worker put it back first
            log.debug("queue job %s: not retried here: %s", job.id, exc)
