"""The event loop the agent's processes run on (`agent.event_loop`): uvloop where it is installed,
else asyncio's own.

    runner = asyncio.Runner(loop_factory=loop_factory(settings.agent.event_loop))
    web.run_app(app, loop=loop_factory(settings.agent.event_loop)())

uvloop runs the same asyncio code on libuv, with its transports, handles and futures in C. `pip
install reelbot` brings it on Linux and macOS (it has no Windows build; there `auto` is asyncio's
loop). Measured with bench/agent_load.py (1000 jobs from 250 users at once, 2 cores): the loop's
longest stall 90-125 ms -> 52-53 ms, and the agent's CPU per request 0.42 -> 0.27-0.30 ms. It also
frees a closed connection at once: asyncio's socket transport (3.11) keeps a bound method of its
own (`_read_ready_cb`), a reference cycle that only the garbage collector's passes break, so under
a burst thousands of them wait for the next full pass (agent.service.process) and make it long.

The tests run on asyncio's loop, as pytest-asyncio sets it up; tests/agent/service/test_event_loop.py
runs an agent on uvloop end to end, and the fault suite's `reelbot agent` processes use `auto`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from agent.choices import EventLoop

__all__ = ["EventLoopUnavailable", "loop_factory", "loop_name"]


class EventLoopUnavailable(RuntimeError):
    """`agent.event_loop = "uvloop"` where uvloop is not installed."""


def loop_factory(kind: EventLoop = EventLoop.AUTO) -> Callable[[], asyncio.AbstractEventLoop]:
    """What makes the agent's event loop: uvloop's for `auto` when it can be imported, and for
    `uvloop` (EventLoopUnavailable when it cannot); asyncio's own for `asyncio`."""
    if kind is EventLoop.ASYNCIO:
        return asyncio.new_event_loop
    try:
        import uvloop
    except ImportError:
        if kind is EventLoop.UVLOOP:
            raise EventLoopUnavailable(
                'agent.event_loop = "uvloop", but uvloop is not installed (pip install uvloop; it has no '
                'Windows build); "auto" uses asyncio\'s own loop where it is missing') from None
        return asyncio.new_event_loop
    return uvloop.new_event_loop


def loop_name(loop: asyncio.AbstractEventLoop) -> str:
    """"uvloop" or "asyncio", for the startup log line and the benchmarks' output."""
    return "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"
