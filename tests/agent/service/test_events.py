"""The event stream's edges: a client past the end, a bad Last-Event-ID, a database error.

Every stream ends with the job's terminal event once the job ends, whatever the client's position;
what can fail is decided before the stream starts, so it is a plain JSON error, never a 200 stream
that breaks. (Hundreds of random reconnects: tests/faults/test_sse_reconnects.py.)
"""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from agent.service.app import DATABASE
from tests.support.agent_app import AUTH, read_sse


async def test_a_client_past_the_last_event_gets_the_end_of_a_running_job(agent_factory):
    async with agent_factory() as a:
        a.provider.hold("image")
        job = await a.submit()
        await asyncio.wait_for(a.provider.entered["image"].wait(), 5)
        now = (await a.job(job["id"]))["last_seq"]
        url = f"/v1/jobs/{job['id']}/events"
        # ahead of the job (a stale id from elsewhere, or one of its own events still to come) and far past it
        streams = [asyncio.ensure_future(read_sse(await a.client.get(url, headers={**AUTH, "Last-Event-ID": str(p)})))
                   for p in (now + 1000, 2**63 - 1)]
        await asyncio.sleep(0.6)  # past a keep-alive (0.5 s here): still waiting, not ended
        assert not any(s.done() for s in streams)
        a.provider.release("image")
        done = await a.wait_status(job["id"], "done")
        async with asyncio.timeout(5):  # it was still open 120 s after the end
            far, farthest = await asyncio.gather(*streams)
        assert far == farthest and len(far) == 1
        assert far[0]["status"] == "done" and far[0]["seq"] == done["last_seq"] and far[0]["result"]


async def test_a_client_at_or_past_the_end_of_a_finished_job_gets_the_terminal_event(agent_factory):
    async with agent_factory() as a:
        job = await a.submit()
        done = await a.wait_status(job["id"], "done")
        url = f"/v1/jobs/{job['id']}/events"
        everything = await read_sse(await a.client.get(url, headers=AUTH))
        end = done["last_seq"]
        assert everything[-1]["seq"] == end
        for position in (end, end + 1, 10**12, 2**63 - 1):
            resp = await a.client.get(url, headers={**AUTH, "Last-Event-ID": str(position)})
            assert await read_sse(resp) == [everything[-1]], position
        # behind the end: the rest, no duplicate
        tail = await read_sse(await a.client.get(url, headers={**AUTH, "Last-Event-ID": str(end - 2)}))
        assert tail == everything[-2:]


async def test_a_bad_last_event_id_is_a_400_before_any_stream(agent_factory):
    async with agent_factory() as a:
        job = await a.submit()
        await a.wait_status(job["id"], "done")
        url = f"/v1/jobs/{job['id']}/events"
        for value in (str(2**63), "9" * 40, "-1", "1.5", "x", "١٢"):
            async with asyncio.timeout(5):
                resp = await a.client.get(url, headers={**AUTH, "Last-Event-ID": value})
                body = await resp.json()
            assert resp.status == 400 and body["error"]["code"] == "bad_request", value
            assert "Last-Event-ID" in body["error"]["message"]
        resp = await a.client.get(f"{url}?last_event_id={2**64}", headers=AUTH)
        assert resp.status == 400
        assert [e["seq"] for e in await read_sse(await a.client.get(url, headers={**AUTH, "Last-Event-ID": str(2**63 - 1)}))]


async def test_a_database_error_is_a_plain_500_not_a_broken_stream(agent_factory):
    async with agent_factory() as a:
        job = await a.submit()
        await a.wait_status(job["id"], "done")
        db = a.app[DATABASE]
        await db.write(lambda s: s.execute(text("ALTER TABLE job_events RENAME TO job_events_away")))
        try:
            resp = await a.client.get(f"/v1/jobs/{job['id']}/events", headers=AUTH)
            assert resp.status == 500 and resp.content_type == "application/json"
            assert (await resp.json())["error"]["code"] == "internal"
        finally:
            await db.write(lambda s: s.execute(text("ALTER TABLE job_events_away RENAME TO job_events")))
        events = await read_sse(await a.client.get(f"/v1/jobs/{job['id']}/events", headers=AUTH))
        assert events[-1]["status"] == "done"
