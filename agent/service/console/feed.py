"""The console's live feed: every job's events as one SSE stream (GET /console/events).

A job observer (agent.service.observers): each event a job publishes is put on the queue of every
open console page, and the page's script updates its rows in place. The events are the wire's own
`Event` messages, written with the protocol's SSE framing (agent.protocol.format_sse), exactly as
GET /v1/jobs/{id}/events sends them. A page that falls behind (its queue full) is told to reload
its list instead of being sent a stream with holes; a page never holds up a job.

On a front door of the distributed mode the jobs run on the workers, which store their events in
the database: `relay_stored` reads the new rows every `cluster.event_poll_s` while a console page
is open (one indexed read for all jobs) and puts them on the same queues, with the same framing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterator

from aiohttp import web

from agent.engine.cascade import Attempt
from agent.protocol import Event, format_sse, sse_message
from agent.service.live import LiveJob
from storage import JobStore, StorageUnavailable

__all__ = ["ConsoleFeed"]

log = logging.getLogger(__name__)

QUEUE_SIZE = 512
RELAY_BATCH = 500  # stored rows read at once (a full batch is followed by another read at once)
RELAY_LOOKBACK = 256  # row ids looked back at each read: a batch committed after a later one is not missed
RESYNC = b"event: resync\ndata: {}\n\n"
_CLOSED = object()


class ConsoleFeed:
    def __init__(self, keepalive_s: float) -> None:
        self.keepalive_s = keepalive_s
        self._queues: set[asyncio.Queue[object]] = set()

    @property
    def watched(self) -> bool:
        """A console page has the feed open."""
        return bool(self._queues)

    def job_event(self, live: LiveJob, event: Event) -> None:
        self.publish(format_sse(event))

    def publish(self, message: bytes) -> None:
        """One SSE message to every open page."""
        for queue in self._queues:
            if queue.full() or message is RESYNC:  # a slow page: drop its backlog, tell it to reload its list
                while not queue.empty():
                    queue.get_nowait()
                queue.put_nowait(RESYNC)
            else:
                queue.put_nowait(message)

    @contextlib.contextmanager
    def subscribe(self) -> Iterator[asyncio.Queue[object]]:
        """A page's queue of messages, for as long as it is open."""
        queue: asyncio.Queue[object] = asyncio.Queue(QUEUE_SIZE)
        self._queues.add(queue)
        try:
            yield queue
        finally:
            self._queues.discard(queue)

    async def relay_stored(self, store: JobStore, poll_s: float) -> None:
        """The distributed mode: the events the workers store, to the open pages (runs until cancelled)."""
        high: int | None = None  # the highest row id read; None while no page is open
        start = 0  # the highest row id when a page opened: what it loaded with its list
        relayed: set[int] = set()  # the row ids sent, among the last RELAY_LOOKBACK
        behind = False  # the last read was a full batch: read again at once
        while True:
            if not behind:
                await asyncio.sleep(poll_s)
            behind = False
            if not self.watched:
                high = None
                continue
            try:
                if high is None:  # a page opened: from now on (it loaded the list just before)
                    high = start = await store.last_event_id()
                    relayed = set()
                    continue
                rows = await store.any_events_after(max(start, high - RELAY_LOOKBACK), RELAY_BATCH)
            except StorageUnavailable as exc:
                log.debug("console feed: the database is away (%s); trying again", exc)
                continue
            for row_id, data in rows:
                if row_id in relayed:
                    continue
                self.publish(sse_message(int(json.loads(data).get("seq", 0)), data.encode()))
                relayed.add(row_id)
                high = max(high, row_id)
            relayed = {row_id for row_id in relayed if row_id > high - RELAY_LOOKBACK}
            behind = len(rows) == RELAY_BATCH

    def job_attempt(self, live: LiveJob, attempt: Attempt) -> None:
        pass

    def close(self) -> None:
        """At shutdown: every open stream ends."""
        for queue in self._queues:
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(_CLOSED)

    async def stream(self, request: web.Request) -> web.StreamResponse:
        with self.subscribe() as queue:
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
