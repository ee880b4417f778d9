"""A job's event stream at a front door of the distributed mode: everything from the database.

Workers store a job's events with seq numbers given by the database, each batch committed in seq
order (storage.cluster), so following a job is reading `seq > last` again and again: a subscriber
gets every event once, in order, whichever worker wrote it, whichever front door it is connected
to, and across a job moving from a dead worker to another. New events are looked for every
`cluster.event_poll_s` (a read of the index on (job_id, seq)); the stream ends after the terminal
event. A database that stops answering mid-stream ends the stream (the client resumes with
Last-Event-ID); before the stream starts it is a plain 503.
"""

from __future__ import annotations

import asyncio
import json
import logging

from aiohttp import web

from agent.protocol import JobStatus, sse_message
from storage import JobStore, StorageUnavailable

__all__ = ["cluster_stream"]

log = logging.getLogger(__name__)


async def cluster_stream(request: web.Request, store: JobStore, job_id: str, last: int, *, keepalive_s: float,
                         poll_s: float) -> web.StreamResponse | None:
    """Stream the job's events after `last` until its end; None (nothing sent) when there is no such job."""
    row = await store.get(job_id)
    if row is None:
        return None
    since = min(last, row.last_seq - 1) if JobStatus(row.status).terminal else last
    backlog = await store.events_after(job_id, since)  # may fail: still a plain answer here
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no",
    })
    await response.prepare(request)
    loop = asyncio.get_running_loop()
    idle_since = loop.time()
    try:
        while True:
            for data in backlog:
                event = json.loads(data)
                await response.write(sse_message(int(event["seq"]), data.encode()))
                last = max(last, int(event["seq"]))
                idle_since = loop.time()
                if JobStatus(event["status"]).terminal:
                    await response.write_eof()
                    return response
            if loop.time() - idle_since >= keepalive_s:
                await response.write(b": keep-alive\n\n")
                idle_since = loop.time()
            await asyncio.sleep(poll_s)
            backlog = await store.events_after(job_id, last)
    except ConnectionError:
        raise
    except StorageUnavailable as exc:
        log.warning("job %s: the event stream ends: %s", job_id, exc)
    except Exception:
        log.exception("job %s: the event stream failed; closing it", job_id)
    response.force_close()
    return response
