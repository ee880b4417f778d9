"""A job's event stream (GET /v1/jobs/{id}/events): stored events, then live ones, then the end.

Two steps, so that nothing fails inside an open stream:

    open_stream(runner, job_id, last)  everything that can fail: the job lookup and the stored
                                       events the client has not seen (a database error here is a
                                       plain 5xx answer; an unknown job None -> 404)
    send_stream(request, plan, ...)    starts the response, then writes only what is in memory

Every stream ends with the job's terminal event once the job has ended, whatever position the client
resumed from. A client whose `Last-Event-ID` is at or past the end (one that saw the terminal event,
or sends a made-up or stale position) gets the terminal event again: a resuming client must learn
that the job ended and how, and a stream closed without it only makes a client reconnect (the
bots treat a stream that ends early as a dropped connection). Events before the end are never
repeated: a client at position N gets N+1, N+2, ... with no gap and no duplicate.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

from aiohttp import web

from agent.service.runner import Runner
from agent.service.live import LiveJob
from agent.protocol import JobStatus, format_sse, sse_message

__all__ = ["StreamPlan", "open_stream", "send_stream"]

log = logging.getLogger(__name__)

@dataclass
class StreamPlan:
    """What to send: stored events first, then (for an active job) the live ones."""

    job_id: str
    last: int  # the client's position
    backlog: list[tuple[int, str]] = field(default_factory=list)  # (seq, stored JSON), in order
    live: LiveJob | None = None  # None: the job is not active here; the backlog is all there is


def _stored(rows: list[str]) -> list[tuple[int, str]]:
    """Stored events are sent as they were stored (the `Event` JSON, old rows included)."""
    return [(int(json.loads(data)["seq"]), data) for data in rows]


async def open_stream(runner: Runner, job_id: str, last: int) -> StreamPlan | None:
    """Look the job up and read the stored events the client needs; None when there is no such job."""
    live = runner.live(job_id)
    if live is not None:
        plan = StreamPlan(job_id, last, live=live)
        first = live.first_seq  # events from here on are in memory, and stay there
        if last < first - 1:  # older events than memory holds (a resumed or recovered job): stored
            stored = _stored(await runner.store.events_after(job_id, last))
            plan.backlog = [(seq, data) for seq, data in stored if seq < first]
        return plan
    row = await runner.store.get(job_id)
    if row is None:
        return None
    if JobStatus(row.status).terminal:
        # row.last_seq is the terminal event: a client at or past it gets that event again
        return StreamPlan(job_id, last, _stored(await runner.store.events_after(job_id, min(last, row.last_seq - 1))))
    # active in the store but not here (the runner has not taken it up yet): what is stored, then
    # the stream ends and the client reconnects
    return StreamPlan(job_id, last, _stored(await runner.store.events_after(job_id, last)))


async def send_stream(
    request: web.Request, plan: StreamPlan, runner: Runner, keepalive_s: float
) -> web.StreamResponse:
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no",
    })
    await response.prepare(request)
    last = plan.last
    try:
        for seq, data in plan.backlog:
            await response.write(sse_message(seq, data.encode()))
            last = max(last, seq)
        if plan.live is not None:
            await _follow(response, runner, plan.live, last, keepalive_s)
    except ConnectionError:
        raise  # the client went away
    except Exception:
        # the status line is sent: an error can only end the stream (the client reconnects)
        log.exception("job %s: the event stream failed; closing it", plan.job_id)
        response.force_close()
        return response
    await response.write_eof()
    return response


async def _follow(response: web.StreamResponse, runner: Runner, live: LiveJob, last: int,
                  keepalive_s: float) -> None:
    """Write live events after `last` until the terminal one. Nothing here awaits but the writes and
    the wait for news, so what is checked between them stays true."""
    while True:
        ready = live.events_after(last)
        for i, event in enumerate(ready):
            if event.terminal:
                ready = ready[:i + 1]
                break
        if ready:  # one write (one send) for all that is ready: a busy agent had one per event
            await response.write(b"".join(map(format_sse, ready)))
            last = ready[-1].seq
            if ready[-1].terminal:
                return
        if live.events and live.events[-1].terminal:
            await response.write(format_sse(live.events[-1]))
            return  # the job ended at or before the client's position: say how, then stop
        if runner.live(live.id) is not live:
            return  # it left memory without an end here: the stored state answers a reconnect
        if not await live.wait_change(keepalive_s):
            await response.write(b": keep-alive\n\n")
