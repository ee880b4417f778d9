"""The event-loop guard (tests/support/blocking.py): what it catches, and what it leaves alone."""

from __future__ import annotations

import asyncio
import time

from agent.engine.cascade import Cascade
from agent.engine.health import HealthBoard
from agent.settings import CascadeSettings
from providers.base import Stage
from tests.fakes import FakeProvider
from tests.support.clock import FakeClock


def _cascade(providers: list[FakeProvider]) -> tuple[Cascade, list[object]]:
    attempts: list[object] = []
    cascade = Cascade(stage=Stage.IMAGE, providers=providers, health=HealthBoard(CascadeSettings(), FakeClock()),
                      clock=FakeClock(), timeout_s=5.0, job_id="j1", record=attempts.append, secrets=())
    return cascade, attempts


async def _call(p: FakeProvider) -> object:
    return await p._next(lambda: f"value from {p.name}")


async def test_a_blocking_call_under_our_coroutine_is_recorded_even_when_swallowed() -> None:
    from tests.support.blocking import take_blocking_calls

    async def blocks() -> None:
        time.sleep(0.001)  # noqa: ASYNC251 - a provider that stalls the loop; the cascade moves on

    cascade, attempts = _cascade([FakeProvider("a").enqueue(blocks), FakeProvider("b")])
    served = await cascade.run("scene 1", _call)
    assert served.provider == "b" and attempts[0].outcome == "bad_output"  # type: ignore[attr-defined]
    found = take_blocking_calls()  # taken here, so this test passes; left, the teardown would fail it
    assert len(found) == 1 and found[0].startswith("time.sleep at tests/test_blocking_guard.py:")


async def test_work_moved_to_a_thread_is_fine() -> None:
    from tests.support.blocking import take_blocking_calls

    async def off_the_loop() -> None:
        await asyncio.to_thread(time.sleep, 0.001)

    cascade, _ = _cascade([FakeProvider("a").enqueue(off_the_loop)])
    assert (await cascade.run("scene 1", _call)).provider == "a"
    assert take_blocking_calls() == []


async def test_a_tests_own_setup_is_not_policed() -> None:
    from tests.support.blocking import take_blocking_calls

    time.sleep(0.001)  # noqa: ASYNC251 - on purpose: no coroutine of ours on the stack
    await asyncio.sleep(0)
    assert take_blocking_calls() == []
