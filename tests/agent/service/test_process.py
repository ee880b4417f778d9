"""The agent process freezes its startup heap once started (agent.service.process)."""

import gc
from collections.abc import Iterator

import pytest
from aiohttp import web

from agent.service.process import settle_after_start


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # this test process must collect what later tests leave


async def test_the_heap_is_frozen_after_every_startup_hook_ran(unfrozen: None) -> None:
    order: list[str] = []

    async def resource(_app: web.Application):  # type: ignore[no-untyped-def]
        order.append(f"resource started, frozen {gc.get_freeze_count()}")
        yield

    app = web.Application()
    app.cleanup_ctx.append(resource)
    settle_after_start(app)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        assert order == ["resource started, frozen 0"]  # the runner and database start first
        assert gc.get_freeze_count() > 1000  # the modules and everything else alive now
    finally:
        await runner.cleanup()
