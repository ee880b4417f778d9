"""The agent's aiohttp application: `create_app(settings)` and one cleanup context per resource.

    database  storage.DatabaseLock (one agent per database), then
              storage.open_database (quick check, engine, migrations) -> DATABASE
    runtime   agent.engine.runtime.open_runtime (HTTP session, providers,
              health board, pipeline) — or test-supplied backends  -> RUNTIME
    runner    agent.service.jobs.JobRunner (recovery, workers, flusher,
              retention); stopped first, so events are stored      -> RUNNER

Tests pass `backends=` (fake providers) and `renderer=`, a `clock` (monotonic, for cooldowns) and a
`wall_clock` (UTC epoch seconds, for quota days, timestamps and retention), `disk_usage` (the data
directory's free space) and `sleep` (the runner's retry backoff).

`reelbot agent` takes the database lock itself, before anything else, and hands it in as
`database_lock`; without one, the database context takes it, so a second app on the same database
fails with `storage.DatabaseInUse` before it touches anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web

from agent.service.api import Services, auth_middleware, error_middleware, routes
from agent.service.console import PREFIX as CONSOLE_PREFIX
from agent.service.console import setup_console
from agent.service.console.feed import ConsoleFeed
from agent.service.metrics import METRICS_PATH, setup_metrics
from agent.engine.backends import Backends
from agent.engine.disk import MB, DataDisk, DiskUsage
from agent.service.disk import disk_status
from agent.engine.health import HealthBoard
from agent.service.jobs import JobRunner, Sleep
from agent.engine.pipeline import Pipeline, Renderer
from agent.protocol import ServiceState, Status, convert, to_builtins
from agent.service.quota import QuotaPolicy, WallClock
from agent.engine.runtime import Runtime, open_runtime
from agent.settings import Settings
from providers.base import Clock
from providers.language import load as load_language_model
from storage import Database, DatabaseLock, JobStore, QuotaLedger, open_database
from storage.cluster import ClusterStore

if TYPE_CHECKING:
    from agent.service.cluster import ClusterRunner

__all__ = ["create_app", "check_bind", "BindRefused", "DATABASE", "RUNTIME", "RUNNER", "SERVICES"]

DATABASE = web.AppKey("database", Database)
RUNTIME = web.AppKey("runtime", Runtime)
RUNNER = web.AppKey("runner", JobRunner)
SERVICES = web.AppKey("services", Services)


class BindRefused(ValueError):
    """A non-loopback address without REELBOT_AGENT_TOKEN."""


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str) -> None:
    if not token and not is_loopback(host):
        raise BindRefused(
            f"refusing to serve on {host} without a token: set REELBOT_AGENT_TOKEN, or bind to 127.0.0.1"
        )


@contextlib.asynccontextmanager
async def _test_runtime(
    settings: Settings, backends: Backends, clock: Clock, renderer: Renderer | None
) -> AsyncIterator[Runtime]:
    from agent.engine import render as render_module

    async with aiohttp.ClientSession() as session:
        health = HealthBoard(settings.cascade, clock)
        pipeline = Pipeline(settings=settings, backends=backends, health=health,
                            renderer=renderer or render_module.render, clock=clock, gpu_lock=asyncio.Lock())
        yield Runtime(settings, session, health, backends, pipeline, clock)


def create_app(
    settings: Settings,
    *,
    clock: Clock = time.monotonic,
    wall_clock: WallClock = time.time,
    renderer: Renderer | None = None,
    backends: Backends | None = None,
    data_dir: Path | None = None,
    database_url: str | None = None,
    database_lock: DatabaseLock | None = None,
    disk_usage: DiskUsage = shutil.disk_usage,
    sleep: Sleep = asyncio.sleep,
) -> web.Application:
    a = settings.agent
    data = Path(data_dir or a.data_dir)
    url = database_url or a.database_url
    data_disk = DataDisk(data, a.min_free_disk_mb * MB, disk_usage)
    app = web.Application(
        client_max_size=a.max_body_bytes,
        middlewares=[error_middleware, auth_middleware(a.token, exempt=(CONSOLE_PREFIX, METRICS_PATH))],
    )
    policy = QuotaPolicy(settings, wall_clock)
    svc = Services(settings, policy)
    app[SERVICES] = svc
    observers = [*setup_metrics(app, settings, svc, health=lambda: app[RUNTIME].health, clock=clock),
                 *setup_console(app, settings, svc, wall_clock=wall_clock)]

    async def database(app: web.Application) -> AsyncIterator[None]:
        with contextlib.ExitStack() as held:
            if database_lock is None:  # before the database is opened: a second agent touches nothing
                held.enter_context(await asyncio.to_thread(DatabaseLock.acquire, url, data))
            async with open_database(url) as db:
                app[DATABASE] = db
                svc.ledger = QuotaLedger(db)
                yield

    async def warm_up(_app: web.Application) -> AsyncIterator[None]:
        # the topic-language model takes ~1 s to load: loaded beside the start rather than by the
        # first submissions (which would hold the thread pool every other blocking call needs)
        loading = asyncio.ensure_future(asyncio.to_thread(load_language_model))
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                await loading

    async def runtime(app: web.Application) -> AsyncIterator[None]:
        opened = (
            _test_runtime(settings, backends, clock, renderer) if backends is not None
            else open_runtime(settings, clock=clock, renderer=renderer, data_dir=data)
        )
        async with opened as rt:
            app[RUNTIME] = rt
            svc.backends = rt.backends
            yield

    async def runner(app: web.Application) -> AsyncIterator[None]:
        rt = app[RUNTIME]
        if settings.cluster.enabled:  # the distributed mode's front door: the workers run the jobs
            from agent.service.cluster import open_front_door

            async with open_front_door(settings, app[DATABASE], ledger=svc.ledger, policy=policy, data_dir=data,
                                       disk=data_disk, wall_clock=wall_clock) as front:
                svc.runner = svc.cluster = front
                svc.status = lambda: _status(settings, rt, front, app[DATABASE], data_disk)
                # the console's live feed: the events the workers store (no job runs here to publish them)
                relays = [asyncio.create_task(o.relay_stored(front.store, settings.cluster.event_poll_s),
                                              name="console-feed") for o in observers if isinstance(o, ConsoleFeed)]
                try:
                    yield
                finally:
                    for relay in relays:
                        relay.cancel()
                    await asyncio.gather(*relays, return_exceptions=True)
            return
        job_runner = JobRunner(
            settings=settings, store=JobStore(app[DATABASE]), ledger=svc.ledger, policy=policy,
            pipeline=rt.pipeline, backends=rt.backends, data_dir=data, wall_clock=wall_clock,
            disk=data_disk, sleep=sleep,
        )
        job_runner.observers.extend(observers)
        await job_runner.start()
        app[RUNNER] = job_runner
        svc.runner = job_runner
        svc.status = lambda: _status(settings, rt, job_runner, app[DATABASE], data_disk)
        try:
            yield
        finally:
            await job_runner.stop()

    app.cleanup_ctx.extend([warm_up, database, runtime, runner])
    app.add_routes(routes(svc))
    if settings.cluster.enabled:
        app.add_routes(_worker_routes(settings, svc, data))
    return app


def _worker_routes(settings: Settings, svc: Services, data: Path) -> list[web.RouteDef]:
    from agent.service.api import error_response
    from agent.service.cluster import holder_url
    from agent.service.worker_api import worker_routes

    def store() -> ClusterStore:
        assert svc.cluster is not None
        return svc.cluster.cluster

    return worker_routes(token=settings.cluster.worker_token, store=store, jobs_dir=data / "jobs",
                         holder=holder_url(settings), refuse=error_response)


async def _status(settings: Settings, rt: Runtime, runner: JobRunner | ClusterRunner, db: Database,
                  data_disk: DataDisk) -> Status:
    from agent.engine.status import collect_status

    report, disks = await asyncio.gather(collect_status(settings, rt.backends.all(), rt.health),
                                         disk_status(db, data_disk))
    out = report.to_json()
    out["queue"] = to_builtins(runner.queue_info())
    out.update(disks)  # state, problems, storage, data_dir
    if settings.cluster.enabled:
        from agent.service.cluster import ClusterRunner

        assert isinstance(runner, ClusterRunner)
        workers = await runner.workers()
        out["workers"] = to_builtins(workers)
        if troubled := [f"worker {w.name}: {w.problem}" for w in workers if w.problem]:
            out["problems"] = [*out["problems"], *troubled]  # a worker that runs but takes no job: act soon
            if out["state"] == ServiceState.OK:
                out["state"] = ServiceState.DEGRADED.value
    return convert(out, Status)  # the report's dataclasses, checked against the wire's Status
