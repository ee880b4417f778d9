"""Coalescing edit throttle: one progress message, at most one edit per `interval_s`.

`push(text)` never blocks and never queues: only the latest text is kept, so a burst of events costs
one edit. Identical text is never re-sent. A platform 429 surfaces as `RetryLater(retry_after_s)`:
the pump waits that long and then sends whatever is latest by then, so the final state is delivered
late rather than dropped. `flush()` waits until the latest text is on screen (or the message is
gone). The clock and sleep are injected so tests run without waiting.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

__all__ = ["EditThrottle", "RetryLater", "MessageGone", "EDIT_INTERVAL_S"]

log = logging.getLogger(__name__)

EDIT_INTERVAL_S = 1.5
MAX_FAILURES = 5  # unexpected errors in a row before one text is given up on


class RetryLater(Exception):
    """The platform said 429: wait `retry_after_s` before the next edit."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"retry after {retry_after_s}s")
        self.retry_after_s = retry_after_s


class MessageGone(Exception):
    """The message can no longer be edited (deleted, or its token expired)."""


class EditThrottle:
    def __init__(
        self,
        send: Callable[[str], Awaitable[None]],
        *,
        interval_s: float | Callable[[], float] = EDIT_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        name: str = "",
    ) -> None:
        self._send = send
        # a callable is asked before every edit: a group chat's budget is shared by its running jobs
        if callable(interval_s):
            self._interval_of: Callable[[], float] = interval_s
        else:
            fixed = float(interval_s)
            self._interval_of = lambda: fixed
        self._clock = clock
        self._sleep = sleep
        self._name = name
        self._latest: str | None = None
        self._sent: str | None = None
        self._next_at = 0.0
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self.gone = False
        self.sends = 0  # edits that reached the platform, for logs and tests

    def mark_sent(self, text: str) -> None:
        """The message was created with `text`: no need to edit it to the same thing."""
        self._sent = text
        self._latest = self._latest if self._latest is not None else text
        self._next_at = self._clock() + self._interval_of()

    def push(self, text: str) -> None:
        if self.gone:
            return
        self._latest = text
        if text != self._sent:
            self._idle.clear()
            self._wake.set()
            if self._task is None or self._task.done():
                self._task = asyncio.get_running_loop().create_task(self._pump(), name=f"throttle {self._name}")

    async def flush(self) -> None:
        """Wait until the latest text has been delivered (or the message is gone)."""
        if self._task is not None and not self._task.done():
            waiter = asyncio.ensure_future(self._idle.wait())
            done, _ = await asyncio.wait({waiter, self._task}, return_when=asyncio.FIRST_COMPLETED)
            if waiter not in done:
                waiter.cancel()

    async def aclose(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def _pump(self) -> None:
        failures = 0
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._latest is not None and self._latest != self._sent and not self.gone:
                wait_s = self._next_at - self._clock()
                if wait_s > 0:
                    await self._sleep(wait_s)
                text = self._latest
                if text == self._sent:
                    break
                try:
                    await self._send(text)
                except RetryLater as exc:
                    log.info("%s: rate limited, next edit in %.1fs", self._name, exc.retry_after_s)
                    self._next_at = self._clock() + max(exc.retry_after_s, self._interval_of())
                    continue
                except MessageGone:
                    log.info("%s: message gone, no more edits", self._name)
                    self.gone = True
                    break
                except asyncio.CancelledError:
                    raise
                except Exception:  # an edit is cosmetic: log it, back off, try the latest again
                    failures += 1
                    log.exception("%s: edit failed (%d in a row)", self._name, failures)
                    self._next_at = self._clock() + self._interval_of() * failures
                    if failures >= MAX_FAILURES:
                        self._sent = text  # give up on this text; a newer one will try again
                        failures = 0
                    continue
                failures = 0
                self.sends += 1
                self._sent = text
                self._next_at = self._clock() + self._interval_of()
            self._idle.set()
