"""A turnstile for bursts: at most N callers pass in one turn of the event loop.

A burst of submissions (a chat raid; bench/agent_load.py sends 1000 at once) arrives in one turn of
the loop, and each does some synchronous work before its first real wait: the body parsed and
checked, the topic's language detected, the job admitted. All at once, that held the loop for 300+
ms at 1000, and every event stream, heartbeat and other request waited behind it. Through the
turnstile at most `per_turn` go on in one turn; the others go on in the following turns, in the
order they came, while what else the loop serves runs in between. The total work is the same.

Nothing is held across a wait: a caller's pass is given back at the start of the next turn (the
release is scheduled with `call_soon` from the turn it passed in), so a slow client or a slow
check after the turnstile holds up nobody.
"""

from __future__ import annotations

import asyncio
import math

__all__ = ["Turnstile"]


class Turnstile:
    def __init__(self, per_turn: int) -> None:
        if per_turn < 1:
            raise ValueError("per_turn must be at least 1")
        self._passes = asyncio.Semaphore(per_turn)
        self.last_pass = -math.inf  # the loop's time of the latest pass (agent.service.process: quiet?)

    async def enter(self) -> None:
        """Return in a turn of the loop in which fewer than `per_turn` callers have passed."""
        await self._passes.acquire()
        loop = asyncio.get_running_loop()
        loop.call_soon(self._passes.release)
        self.last_pass = loop.time()
