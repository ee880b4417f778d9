"""The console's live feed: every job's events as one SSE stream (GET /console/events).

A job observer (agent.service.observers): each event a job publishes is put on the queue of every
open console page, and the page's script updates its rows in place. The events are the wire's own
`Event` messages, written with the protocol's SSE framing (agent.protocol.format_sse), exactly as
GET /v1/jobs/{id}/events sends them. A page that falls behind (its queue full) is told to reload
its list instead of being sent a stream with holes; a page never holds up a job.
"""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from agent.engine.cascade import Attempt
from agent.protocol import Event, format_sse
from agent.service.live import LiveJob

__all__ = ["ConsoleFeed"]

QUEUE_SIZE = 512
RESYNC = b"event: resync\ndata: {}\n\n"
_CLOSED = object()


class ConsoleFeed:
    def __init__(self, keepalive_s: float) -> None:
        self.keepalive_s = keepalive_s
        self._queues: set[asyncio.Queue[object]] = set()

    def job_event(self, live: LiveJob, event: Event) -> None:
        for queue in self._queues:
            if queue.full():  # a slow page: drop its backlog, tell it to reload its list
                while not queue.empty():
                    queue.get_nowait()
                queue.put_nowait(RESYNC)
            else:
                queue.put_nowait(format_sse(event))

    def job_attempt(self, live: LiveJob, attempt: Attempt) -> None:
        pass

    def close(self) -> None:
        """At shutdown: every open stream ends."""
        for queue in self._queues:
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(_CLOSED)

    async def stream(self, request: web.Request) -> web.StreamResponse:
        queue: asyncio.Queue[object] = asyncio.Queue(QUEUE_SIZE)
        self._queues.add(queue)
        try:
            response = web.StreamResponse(headers={
                "Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no",
            })
            await response.prepare(request)
            await response.write(b": connected\n\n")
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), self.keepalive_s)
                except TimeoutError:
                    await response.write(b": keep-alive\n\n")
                    continue
                if item is _CLOSED:
                    break
                assert isinstance(item, bytes)
                await response.write(item)
            await response.write_eof()
            return response
        finally:
            self._queues.discard(queue)
