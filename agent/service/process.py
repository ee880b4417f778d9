"""What the agent process sets for itself once it has started: the `reelbot agent` command applies
it (bench/agent_load.py too, to measure that process); tests, which start many agents in one
interpreter, do not.

The garbage collector. Its full passes walk every tracked object the process holds, on whichever
thread allocated last, with the GIL held: the event loop stands still meanwhile. Two settings:

- Everything alive once the agent has started (the modules, SQLAlchemy's and aiohttp's tables, the
  language model) is frozen out of the collector's sight (`gc.freeze()`): it lives as long as the
  process, and walking it again on every full pass only cost time.
- Full passes run when the agent is idle (no job queued or running, and none and no submission
  for QUIET_FOR_S), or every FULL_COLLECTION_MAX_S at the latest, instead of whenever allocations
  tip the collector's counters. Under a burst (1000 jobs queued at once, bench/agent_load.py)
  those passes each held the loop for 95-130 ms: the longest stalls left. A pass once the queue
  was empty but jobs still ran still took 63-93 ms (what it frees is mostly the closed
  connections' transports, which asyncio leaves in reference cycles), and the running jobs' event
  streams waited behind it; when idle, nobody waits. The young generations are still collected as
  usual (most cyclic garbage dies young, there); what lives long enough to reach the old generation
  waits for the next full pass. Under a long busy spell (a raid takes hours to drain on a GPU box)
  a full pass still runs every FULL_COLLECTION_MAX_S, and holds the loop as long as it takes.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import math
import time
from collections.abc import AsyncIterator, Callable

from aiohttp import web

__all__ = ["settle_after_start", "FULL_COLLECTION_MAX_S"]

log = logging.getLogger(__name__)

FULL_COLLECTION_MAX_S = 120.0  # a busy agent still runs a full pass this often
FULL_COLLECTION_MIN_S = 10.0  # an idle one at most this often
CHECK_EVERY_S = 1.0
QUIET_FOR_S = 3.0  # idle: no job queued or running and no submission for this long
NEVER = 1 << 30  # as the old generation's threshold: allocations never start a full pass


def settle_after_start(app: web.Application, *, quiet: Callable[[], bool] | None = None,
                       clock: Callable[[], float] = time.monotonic) -> web.Application:
    """`app`, set to freeze the heap once every startup hook (the database, the runner) has run, and
    to run the collector's full passes when `quiet()` (default: no job queued or running, and no
    submission, for QUIET_FOR_S)."""
    if quiet is None:
        quiet = _idle(app)
    app.cleanup_ctx.append(_full_collections(quiet, clock))
    return app


def _idle(app: web.Application) -> Callable[[], bool]:
    from agent.service.app import SERVICES  # the app's own key; imported here, not at import time

    busy_at = [-math.inf]  # the loop's time when a job was last seen queued or running

    def quiet() -> bool:
        svc = app[SERVICES]
        now = asyncio.get_running_loop().time()
        info = svc.runner.queue_info() if svc.runner is not None else None
        if info is not None and (info.queued or info.running):
            busy_at[0] = now
        # a job just ended or a submission just came in: more may follow (the bots resubmit, a
        # raid comes in waves), and those would wait behind the pass
        return now - busy_at[0] >= QUIET_FOR_S and now - svc.intake.last_pass >= QUIET_FOR_S

    return quiet


def _full_collections(
    quiet: Callable[[], bool], clock: Callable[[], float],
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(_app: web.Application) -> AsyncIterator[None]:
        gc.collect()  # what startup left as garbage goes first, rather than be kept forever
        gc.freeze()
        young, middle, old = gc.get_threshold()
        gc.set_threshold(young, middle, NEVER)
        task = asyncio.create_task(_collector(quiet, clock, clock()), name="gc-full-collections")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            gc.set_threshold(young, middle, old)
            gc.unfreeze()

    return ctx


async def _collector(quiet: Callable[[], bool], clock: Callable[[], float], last: float) -> None:
    """Full passes, the last one at `last` (startup's)."""
    while True:
        await asyncio.sleep(CHECK_EVERY_S)
        since = clock() - last
        if since >= FULL_COLLECTION_MAX_S or (since >= FULL_COLLECTION_MIN_S and quiet()):
            started = time.perf_counter()
            found = gc.collect()
            last = clock()
            log.debug("full garbage collection: %d objects in %.0f ms", found, (time.perf_counter() - started) * 1000)
