"""Restart recovery: stop the agent mid-job, start a new one on the same database and data dir."""

from __future__ import annotations

import asyncio

from storage import JobStore, QuotaLedger, open_database
from tests.support.agent_app import AUTH, GatedProvider, make_settings, read_sse, run_agent


async def test_restart_resumes_fails_or_keeps_queued(tmp_path):
    settings = make_settings(tmp_path, agent={"workers": 2})
    async with run_agent(tmp_path, settings) as a:
        a.provider.hold("image")
        resumable = await a.submit("resumable", request_id="a")
        await asyncio.wait_for(a.provider.entered["image"].wait(), 5)
        a.provider.hold("script")
        lost = await a.submit("nothing saved", request_id="b")
        await asyncio.wait_for(a.provider.entered["script"].wait(), 5)
        waiting = await a.submit("still waiting", request_id="c")
        assert (await a.job(waiting["id"]))["status"] == "queued"
        assert (await a.quota())["balance"] == 85
        before = (await a.job(resumable["id"]))["last_seq"]
    # the agent is gone: nothing is left finished or lost
    async with open_database(settings.agent.database_url) as db:
        store = JobStore(db)
        statuses = {j: (await store.get(j)).status for j in (resumable["id"], lost["id"], waiting["id"])}
        assert statuses == {resumable["id"]: "running", lost["id"]: "running", waiting["id"]: "queued"}

    fresh = GatedProvider()
    async with run_agent(tmp_path, settings, provider=fresh) as b:
        failed = await b.wait_status(lost["id"], "failed")
        assert failed["error"]["code"] == "agent_restarted" and failed["error"]["refunded"] is True
        done = await b.wait_status(resumable["id"], "done")
        assert done["result"]["provenance"]["script"] == {"offline": 1}
        assert await b.wait_status(waiting["id"], "done")
        topics = [req.topic for kind, req in fresh.history if kind == "script"]
        assert "resumable" not in topics, "the finished script was reused, not rewritten"
        events = await read_sse(await b.client.get(f"/v1/jobs/{resumable['id']}/events", headers=AUTH))
        seqs = [e["seq"] for e in events]
        assert seqs == list(range(1, len(seqs) + 1)) and seqs[-1] > before
        assert any("restarted" in e["message"] for e in events)
        assert (await b.quota())["balance"] == 90  # two done (5 each), one refunded
        totals = await QuotaLedger(b.app[__import__("agent.app", fromlist=["DATABASE"]).DATABASE]).totals()
        assert totals.balanced and totals.reserved == totals.settled + totals.refunded
