"""Waiting in tests without fixed sleeps: for a condition, with a deadline; or for a log line.

A fixed sleep either wastes time or, on a loaded machine, is too short. Wait for the state the test
needs instead, and bound every wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterator

__all__ = ["wait_until", "fast_sleep", "logged", "counting_turns"]


async def wait_until(predicate: Callable[[], object], timeout_s: float = 5.0, *, interval_s: float = 0.01) -> None:
    """Return as soon as `predicate()` is true (checked first, then every `interval_s`); TimeoutError
    after `timeout_s`. `interval_s=0` checks once per turn of the event loop."""
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                if predicate():
                    return
                await asyncio.sleep(interval_s)
    except TimeoutError:
        raise TimeoutError(f"not true within {timeout_s} s: {_describe(predicate)}") from None


def _describe(predicate: Callable[[], object]) -> str:
    code = getattr(predicate, "__code__", None)
    return f"{code.co_filename}:{code.co_firstlineno}" if code is not None else repr(predicate)


async def fast_sleep(seconds: float) -> None:
    """An injected `sleep` for backoffs and retry-afters: yields, but never for long."""
    await asyncio.sleep(min(seconds, 0.01))


@contextlib.contextmanager
def logged(logger: str, needle: str) -> Iterator[asyncio.Event]:
    """An event set when `logger` (or a child) logs a message containing `needle`: for transitions the
    code logs but shows nowhere else. The logger is opened to INFO meanwhile."""
    seen = asyncio.Event()

    class _Watch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if needle in record.getMessage():
                seen.set()

    target = logging.getLogger(logger)
    handler, level = _Watch(logging.INFO), target.level
    target.addHandler(handler)
    if target.getEffectiveLevel() > logging.INFO:
        target.setLevel(logging.INFO)
    try:
        yield seen
    finally:
        target.removeHandler(handler)
        target.setLevel(level)


@contextlib.asynccontextmanager
async def counting_turns() -> AsyncIterator[list[int]]:
    """`turn[0]`: how many turns the event loop has run since the block began (a task that bumps it
    once per turn), for tests of what happens in one turn."""
    turn, stop = [0], asyncio.Event()

    async def ticker() -> None:
        while not stop.is_set():
            turn[0] += 1
            await asyncio.sleep(0)

    ticking = asyncio.create_task(ticker())
    try:
        yield turn
    finally:
        stop.set()
        await ticking
