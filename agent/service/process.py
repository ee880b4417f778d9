"""What the agent process sets for itself once it has started: the `reelbot agent` command applies
it (bench/agent_load.py too, to measure that process); tests, which start many agents in one
interpreter, do not.

The heap: everything alive after the start (the modules, SQLAlchemy's and aiohttp's tables, the
language model's) is moved out of the garbage collector's sight with `gc.freeze()`. Otherwise each
full collection walks all of it again, on the event loop's thread: under a burst of a thousand jobs
those collections were the longest loop stalls (100-300 ms each, bench/agent_load.py). Frozen
objects are never collected, which is right for what lives as long as the process.
"""

from __future__ import annotations

import gc

from aiohttp import web

__all__ = ["settle_after_start"]


def settle_after_start(app: web.Application) -> web.Application:
    """`app`, set to freeze the heap once every startup hook (the database, the runner) has run."""
    app.on_startup.append(_freeze_heap)
    return app


async def _freeze_heap(_app: web.Application) -> None:
    gc.collect()  # what startup left as garbage goes first, rather than be kept forever
    gc.freeze()
