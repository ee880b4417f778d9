"""Where an event loop's longest turns go: a profiler for bench/agent_load.py (`--worst-turns N`).

One turn of an asyncio loop runs every callback that was ready when it began; a long turn is a loop
stall for everything else (event streams, heartbeats, other requests). While active, this wraps
`Handle._run` and `BaseEventLoop._run_once` (private asyncio API: a diagnostic, never used by the
agent) and, for each turn that used more than `min_ms` of the loop thread's CPU, keeps what ran in
it: callbacks by name (a task by its coroutine's name), how often and how much CPU, and the garbage
collector's passes, which run inside whatever callback allocated last. CPU of the loop's thread
(`time.thread_time`), so a busy neighbour on a shared machine stretches the wall time, not these.
"""

from __future__ import annotations

import asyncio
import asyncio.base_events
import asyncio.events
import gc
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Turn", "TurnProfiler"]


@dataclass
class Turn:
    cpu_ms: float
    wall_ms: float
    at_s: float  # since the profiler started
    spent: dict[str, float] = field(default_factory=dict)  # callback name -> CPU ms
    count: Counter[str] = field(default_factory=Counter)

    def describe(self, top: int = 4) -> str:
        ranked = sorted(self.spent.items(), key=lambda item: -item[1])[:top]
        parts = [f"{name} {ms:.0f} ms x{self.count[name]}" for name, ms in ranked]
        return f"at {self.at_s:6.1f} s: {self.cpu_ms:5.0f} ms CPU ({self.wall_ms:.0f} ms wall): " + "; ".join(parts)


def _name(handle: asyncio.Handle) -> str:
    callback = handle._callback  # type: ignore[attr-defined]
    owner = getattr(callback, "__self__", None)
    if isinstance(owner, asyncio.Task):
        return f"task {getattr(owner.get_coro(), '__qualname__', '?')}"
    return str(getattr(callback, "__qualname__", type(callback).__name__))


class TurnProfiler:
    def __init__(self, min_ms: float = 20.0) -> None:
        self.min_ms = min_ms
        self.turns: list[Turn] = []
        self._spent: defaultdict[str, float] = defaultdict(float)
        self._count: Counter[str] = Counter()
        self._gc_started = 0.0

    def worst(self, n: int) -> list[Turn]:
        return sorted(self.turns, key=lambda t: -t.cpu_ms)[:n]

    @contextmanager
    def active(self) -> Iterator[TurnProfiler]:
        handle_run = asyncio.events.Handle._run
        run_once = asyncio.base_events.BaseEventLoop._run_once  # type: ignore[attr-defined]
        started = time.perf_counter()
        spent, count = self._spent, self._count

        def timed_run(handle: asyncio.Handle) -> None:
            t0 = time.thread_time()
            try:
                handle_run(handle)
            finally:
                name = _name(handle)
                spent[name] += (time.thread_time() - t0) * 1000
                count[name] += 1

        def timed_turn(loop: Any) -> None:
            spent.clear()
            count.clear()
            wall, cpu = time.perf_counter(), time.thread_time()
            run_once(loop)
            cpu_ms = (time.thread_time() - cpu) * 1000
            if cpu_ms >= self.min_ms:
                self.turns.append(Turn(cpu_ms, (time.perf_counter() - wall) * 1000, wall - started,
                                       dict(spent), Counter(count)))

        def on_gc(phase: str, info: dict[str, Any]) -> None:
            if phase == "start":
                self._gc_started = time.thread_time()
            else:  # counted as a callback of its own (its time is also in the callback it ran inside)
                name = f"gc generation {info['generation']}"
                spent[name] += (time.thread_time() - self._gc_started) * 1000
                count[name] += 1

        setattr(asyncio.events.Handle, "_run", timed_run)  # noqa: B010 - private API, on purpose
        setattr(asyncio.base_events.BaseEventLoop, "_run_once", timed_turn)  # noqa: B010
        gc.callbacks.append(on_gc)
        try:
            yield self
        finally:
            gc.callbacks.remove(on_gc)
            setattr(asyncio.events.Handle, "_run", handle_run)  # noqa: B010
            setattr(asyncio.base_events.BaseEventLoop, "_run_once", run_once)  # noqa: B010
