"""Cancel in every state, SSE resume, queue positions, timeouts and failures (always refunded)."""

from __future__ import annotations

import asyncio

import pytest

from providers.errors import Unavailable
from tests.support.agent_app import AUTH, make_settings, read_sse, run_agent


async def _cancel(a, job_id, expect=202):
    resp = await a.client.delete(f"/v1/jobs/{job_id}", headers=AUTH)
    data = await resp.json()
    assert resp.status == expect, data
    return data


async def test_cancel_queued_running_done_and_twice(tmp_path):
    settings = make_settings(tmp_path, agent={"workers": 1})
    async with run_agent(tmp_path, settings) as a:
        a.provider.hold("script")
        running = await a.submit("one", request_id="1")
        await asyncio.wait_for(a.provider.entered["script"].wait(), 5)
        queued = await a.submit("two", request_id="2")
        assert (await a.job(queued["id"]))["position"] == 1
        assert (await a.quota())["balance"] == 90

        cancelled = await _cancel(a, queued["id"])
        assert cancelled["status"] == "cancelled" and cancelled["error"]["code"] == "cancelled"
        assert cancelled["refunded"] is True
        assert (await a.quota())["balance"] == 95
        again = await _cancel(a, queued["id"])  # a no-op, not a second refund
        assert again["status"] == "cancelled"
        assert (await a.quota())["balance"] == 95

        cancelled = await _cancel(a, running["id"])
        assert cancelled["status"] == "cancelled"
        assert (await a.quota())["balance"] == 100
        events = await read_sse(await a.client.get(f"/v1/jobs/{running['id']}/events", headers=AUTH))
        assert events[-1]["status"] == "cancelled" and events[-1]["error"]["refunded"] is True

        a.provider.release("script")
        done = await a.submit("three", request_id="3")
        await a.wait_status(done["id"], "done")
        data = await _cancel(a, done["id"], expect=409)
        assert data["error"]["code"] == "already_finished"
        assert (await a.quota())["balance"] == 95
        resp = await a.client.delete("/v1/jobs/doesnotexist1234", headers=AUTH)
        assert resp.status == 404


async def test_failed_job_is_refunded_and_cancel_is_409(agent_factory):
    async with agent_factory() as a:
        a.provider.enqueue(Unavailable("down"))  # the script: every provider fails
        job = await a.submit()
        failed = await a.wait_status(job["id"], "failed")
        assert failed["error"]["code"] == "all_providers_failed" and failed["error"]["refunded"] is True
        assert "script" in failed["error"]["message"]
        assert (await a.quota())["balance"] == 100
        assert (await _cancel(a, job["id"], expect=409))["error"]["code"] == "already_finished"
        resp = await a.client.get(f"/v1/jobs/{job['id']}/video", headers=AUTH)
        assert resp.status == 404


async def test_job_timeout_fails_and_refunds(tmp_path):
    async with run_agent(tmp_path, make_settings(tmp_path, agent={"job_timeout_s": 0.2})) as a:
        a.provider.hold("image")
        job = await a.submit()
        failed = await a.wait_status(job["id"], "failed")
        assert failed["error"]["code"] == "timeout"
        assert (await a.quota())["balance"] == 100


async def test_sse_resume_after_dropped_connection_no_gap_no_duplicate(agent_factory):
    async with agent_factory() as a:
        a.provider.hold("image")
        job = await a.submit()
        url = f"/v1/jobs/{job['id']}/events"
        resp = await a.client.get(url, headers=AUTH)
        first = await read_sse(resp, stop_after=4)
        resp.close()  # the connection drops
        a.provider.release("image")
        resp = await a.client.get(url, headers={**AUTH, "Last-Event-ID": str(first[-1]["seq"])})
        rest = await read_sse(resp)
        seqs = [e["seq"] for e in first + rest]
        assert seqs == list(range(1, len(seqs) + 1)), seqs
        assert rest[-1]["status"] == "done"
        # a late subscriber after the end replays everything from the store, identically
        replay = await read_sse(await a.client.get(url, headers=AUTH))
        assert replay == first + rest
        tail = await read_sse(await a.client.get(url, headers={**AUTH, "Last-Event-ID": str(seqs[-3])}))
        assert [e["seq"] for e in tail] == seqs[-2:]


async def test_queue_positions_move_up(tmp_path):
    async with run_agent(tmp_path, make_settings(tmp_path, agent={"workers": 1})) as a:
        a.provider.hold("script")
        first = await a.submit("a", request_id="a")
        await asyncio.wait_for(a.provider.entered["script"].wait(), 5)
        second = await a.submit("b", request_id="b")
        third = await a.submit("c", request_id="c")
        assert (second["position"], third["position"]) == (1, 2)
        resp = await a.client.get(f"/v1/jobs/{third['id']}/events", headers=AUTH)
        a.provider.release("script")
        events = await read_sse(resp)
        positions = [e["position"] for e in events if e["status"] == "queued"]
        assert positions[0] == 2 and 1 in positions
        assert events[-1]["status"] == "done"
        assert all(e["position"] is None for e in events if e["status"] != "queued")
        await a.wait_status(first["id"], "done")


async def test_cheaper_tier_charges_less_and_refunds_difference(agent_factory, monkeypatch):
    import agent.engine.outcome

    monkeypatch.setattr(agent.engine.outcome, "charged_price", lambda settings, plan, provenance, scenes=(): 5)
    async with agent_factory() as a:
        job = await a.submit(options={"model": "premium"})
        assert job["price"] == 20
        done = await a.wait_status(job["id"], "done")
        assert done["credits"] == {"reserved": 20, "charged": 5, "refunded": 15}
        assert (await a.quota())["balance"] == 95


async def test_admins_are_exempt(tmp_path):
    settings = make_settings(tmp_path, quotas={"admins": ["discord:1"], "daily_credits": 0, "max_in_flight": 1})
    async with run_agent(tmp_path, settings) as a:
        a.provider.hold("script")
        jobs = [await a.submit(f"t{i}", request_id=f"r{i}", user="1", options={"model": "premium"}) for i in range(3)]
        assert all(j["price"] == 0 for j in jobs)
        data = await a.submit("x", request_id="x", user="2", expect=429)
        assert data["error"]["code"] == "quota_exceeded"
        a.provider.release("script")
        done = await a.wait_status(jobs[0]["id"], "done")
        assert done["credits_left"] is None


async def test_events_beyond_the_reserved_seqs_wait_for_the_next_flush_and_all_arrive(agent_factory, monkeypatch):
    import agent.service.live

    monkeypatch.setattr(agent.service.live, "SEQ_RESERVE_BLOCK", 1)  # a block that runs out at every event
    async with agent_factory() as a:
        job = await a.submit()
        events = await asyncio.wait_for(read_sse(await a.client.get(f"/v1/jobs/{job['id']}/events",
                                                                    headers=AUTH)), 20)
        seqs = [e["seq"] for e in events]
        assert seqs == list(range(1, len(seqs) + 1)) and events[-1]["status"] == "done", seqs
        stored = await a.runner.store.get(job["id"])
        assert stored.last_seq == seqs[-1]


@pytest.mark.sqlite_only(reason="the flush's write waits behind SQLite's single writer, held by another write")
async def test_a_flush_cancelled_while_its_write_waits_still_stores_the_events(tmp_path):
    """At shutdown the flusher is cancelled; its write may still be queued behind another one. The
    events it took were streamed already: they must be stored, not dropped."""
    import time

    from agent.service.app import DATABASE

    async with run_agent(tmp_path, make_settings(tmp_path, agent={"event_flush_s": 60.0})) as a:
        a.provider.hold("image")
        job = await a.submit()
        await asyncio.wait_for(a.provider.entered["image"].wait(), 5)
        live = a.runner.live(job["id"])
        assert live.pending_events, "the test needs events not yet stored"
        busy = asyncio.ensure_future(a.app[DATABASE].write(lambda session: time.sleep(0.5)))  # holds the writer
        await asyncio.sleep(0.05)
        taken = live.pending_events[-1]["seq"]
        flush = asyncio.ensure_future(a.runner.flush())
        await asyncio.sleep(0.05)
        flush.cancel()
        with pytest.raises(asyncio.CancelledError):
            await flush
        await busy
        stored = await a.runner.store.get(job["id"])
        assert stored.last_seq >= taken, "the events the cancelled flush took were dropped"
        a.provider.release("image")
        await a.wait_status(job["id"], "done")


async def test_far_queue_positions_are_exact_but_announced_sparingly(tmp_path):
    """A start or cancel moves every queued job up: the first places hear of it at once, the ones
    further back read their exact place (GET) but get a new event at most every few seconds
    (at 1000 queued jobs, one event per job per move stalled the agent)."""
    from agent.service.jobs import POSITION_EXACT
    from tests.support.waiting import wait_until

    settings = make_settings(tmp_path, agent={"workers": 1}, quotas={"daily_credits": 1000, "max_in_flight": 50})
    async with run_agent(tmp_path, settings) as a:
        a.provider.hold("script")
        running = await a.submit("running", request_id="run")
        await asyncio.wait_for(a.provider.entered["script"].wait(), 5)
        queued = [await a.submit(f"q{i}", request_id=f"q{i}") for i in range(POSITION_EXACT + 5)]
        assert [job["position"] for job in queued] == list(range(1, POSITION_EXACT + 6))

        await _cancel(a, queued[0]["id"])  # everyone behind it moves up one place
        last = queued[-1]
        await wait_until(lambda: a.runner.live(last["id"]).position == POSITION_EXACT + 4)
        assert (await a.job(last["id"]))["position"] == POSITION_EXACT + 4  # exact when asked
        front = a.runner.live(queued[1]["id"])
        await wait_until(lambda: front.events[-1].position == 1)  # the new first place is told at once
        far = [e.position for e in a.runner.live(last["id"]).events]
        assert far == [POSITION_EXACT + 5]  # not yet: only its first event
        a.provider.release("script")
        await a.wait_status(running["id"], "done")
