"""The intake turnstile lets a bounded number of callers through per turn of the loop, in order."""

import asyncio
from collections import Counter

import pytest

from agent.service.intake import Turnstile
from tests.support.waiting import counting_turns


async def test_a_burst_passes_a_few_per_turn_in_arrival_order() -> None:
    gate, passed = Turnstile(10), []

    async with counting_turns() as turn:
        async def caller(i: int) -> None:
            await gate.enter()
            passed.append((i, turn[0]))

        await asyncio.wait_for(asyncio.gather(*(caller(i) for i in range(100))), 5)
    assert [i for i, _t in passed] == list(range(100))  # nobody overtakes
    per_turn = Counter(t for _i, t in passed)
    assert max(per_turn.values()) <= 10 and len(per_turn) >= 10


async def test_nothing_is_held_across_a_callers_wait() -> None:
    gate = Turnstile(1)
    await gate.enter()
    await asyncio.sleep(0.01)  # the first caller now waits for something slow, its pass given back
    await asyncio.wait_for(gate.enter(), 1)


def test_at_least_one_per_turn() -> None:
    with pytest.raises(ValueError):
        Turnstile(0)
