"""The edit throttle with an injected clock: bounded edits, latest always delivered, 429 obeyed."""

from __future__ import annotations

import asyncio
import itertools

from bot.throttle import EditThrottle, MessageGone, RetryLater
from tests.support.clock import FakeClock
from tests.support.waiting import wait_until


def _throttle(
    clock: FakeClock, sent: list[tuple[float, str]], fail: list[float] | None = None, driven: bool = False
) -> EditThrottle:
    fail = fail if fail is not None else []

    async def send(text: str) -> None:
        if fail:
            raise RetryLater(fail.pop(0))
        sent.append((clock(), text))

    async def sleep(seconds: float) -> None:
        if not driven:  # the test is not moving time: jump
            clock.advance(seconds)
            await asyncio.sleep(0)
            return
        target = clock() + seconds
        await wait_until(lambda: clock() >= target - 1e-9, interval_s=0)

    return EditThrottle(send, interval_s=1.5, clock=clock, sleep=sleep)


async def test_fast_events_are_coalesced_and_the_latest_always_lands(clock: FakeClock) -> None:
    sent: list[tuple[float, str]] = []
    throttle = _throttle(clock, sent, driven=True)
    for n in range(200):  # 200 events over 20 s of fake time
        throttle.push(f"step {n}")
        clock.advance(0.1)
        await asyncio.sleep(0)
    for _ in range(20):  # time goes on after the last event
        clock.advance(0.1)
        await asyncio.sleep(0)
    await throttle.flush()
    assert sent[-1][1] == "step 199"
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(sent)]
    assert all(g >= 1.5 - 1e-9 for g in gaps), gaps
    assert len(sent) <= 22 / 1.5 + 1


async def test_identical_text_is_never_resent(clock: FakeClock) -> None:
    sent: list[tuple[float, str]] = []
    throttle = _throttle(clock, sent)
    for _ in range(5):
        throttle.push("same")
        clock.advance(2)
        await throttle.flush()
    throttle.mark_sent("created")
    throttle.push("created")
    await throttle.flush()
    assert [t for _, t in sent] == ["same"]


async def test_a_429_storm_delays_but_never_loses_the_final_state(clock: FakeClock) -> None:
    sent: list[tuple[float, str]] = []
    throttle = _throttle(clock, sent, fail=[5.0, 35.0, 2.0])
    start = clock()
    throttle.push("first")
    await asyncio.sleep(0)
    throttle.push("final ✅")
    await throttle.flush()
    assert [t for _, t in sent] == ["final ✅"]
    assert sent[0][0] - start >= 5 + 35 + 2  # every retry_after obeyed


async def test_a_gone_message_stops_editing(clock: FakeClock) -> None:
    calls = 0

    async def send(text: str) -> None:
        nonlocal calls
        calls += 1
        raise MessageGone()

    throttle = EditThrottle(send, clock=clock)
    throttle.push("a")
    await throttle.flush()
    throttle.push("b")
    await throttle.flush()
    assert calls == 1 and throttle.gone
