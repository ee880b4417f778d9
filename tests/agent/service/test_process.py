"""The agent process's garbage-collector settings (agent.service.process): the startup heap frozen,
full passes only when the agent is idle or after FULL_COLLECTION_MAX_S, all undone at cleanup."""

import asyncio
import gc
from collections.abc import AsyncIterator, Iterator
from typing import Any
from unittest import mock

import pytest
from aiohttp import web

from agent.service import process
from agent.service.process import settle_after_start
from tests.support.waiting import wait_until


@pytest.fixture
def collector_state() -> Iterator[list[int]]:
    """Full passes seen (generation 2 starts); the collector restored afterwards whatever happens."""
    gc.unfreeze()
    threshold = gc.get_threshold()
    full: list[int] = []

    def seen(phase: str, info: dict[str, Any]) -> None:
        if phase == "start" and info["generation"] == 2:
            full.append(1)

    gc.callbacks.append(seen)
    yield full
    gc.callbacks.remove(seen)
    gc.set_threshold(*threshold)
    gc.unfreeze()  # this test process must collect what later tests leave


async def test_the_heap_is_frozen_after_startup_and_everything_undone_at_cleanup(collector_state: list[int]) -> None:
    order: list[str] = []
    threshold = gc.get_threshold()

    async def resource(_app: web.Application) -> AsyncIterator[None]:
        order.append(f"resource started, frozen {gc.get_freeze_count()}")
        yield

    app = web.Application()
    app.cleanup_ctx.append(resource)
    settle_after_start(app, quiet=lambda: False)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        assert order == ["resource started, frozen 0"]  # the runner and the database start first
        assert gc.get_freeze_count() > 1000  # the modules and everything else alive now
        assert gc.get_threshold()[:2] == threshold[:2] and gc.get_threshold()[2] == process.NEVER
    finally:
        await runner.cleanup()
    assert gc.get_threshold() == threshold and gc.get_freeze_count() == 0


async def test_full_passes_wait_for_a_quiet_queue_or_the_longest_interval(
    collector_state: list[int], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(process, "CHECK_EVERY_S", 0.01)
    now, busy = [0.0], [True]
    app = settle_after_start(web.Application(), quiet=lambda: not busy[0], clock=lambda: now[0])
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        collector_state.clear()  # startup's own pass
        now[0] = process.FULL_COLLECTION_MIN_S + 1
        await asyncio.sleep(0.1)
        assert collector_state == []  # busy: allocations and the short interval start none

        busy[0] = False
        await wait_until(lambda: len(collector_state) == 1, timeout_s=5)  # quiet: one, then the minimum interval
        await asyncio.sleep(0.1)
        assert len(collector_state) == 1

        busy[0] = True
        now[0] += process.FULL_COLLECTION_MAX_S
        await wait_until(lambda: len(collector_state) == 2, timeout_s=5)  # busy, but the longest interval passed
    finally:
        await runner.cleanup()


async def test_idle_means_no_job_queued_or_running_and_no_submission_for_a_while() -> None:
    from types import SimpleNamespace

    from agent.protocol import QueueInfo
    from agent.service.app import SERVICES
    from agent.service.intake import Turnstile

    queued, running = [0], [0]
    runner = SimpleNamespace(queue_info=lambda: QueueInfo(queued=queued[0], running=running[0], workers=1,
                                                          queue_size=10))
    svc = SimpleNamespace(intake=Turnstile(4), runner=runner)
    app = web.Application()
    app[SERVICES] = svc  # type: ignore[assignment]
    quiet = process._idle(app)
    loop = asyncio.get_running_loop()
    now = [loop.time()]
    with mock.patch.object(loop, "time", lambda: now[0]):
        assert quiet()  # nothing queued or running, no submission ever
        queued[0] = 3
        assert not quiet()
        queued[0], running[0] = 0, 1
        now[0] += 10 * process.QUIET_FOR_S
        assert not quiet()  # a running job's streams would wait behind a pass
        running[0] = 0
        assert not quiet()  # it has only just ended
        now[0] += process.QUIET_FOR_S
        assert quiet()
        await svc.intake.enter()
        assert not quiet()  # a submission just came in
        now[0] += process.QUIET_FOR_S
        assert quiet()
