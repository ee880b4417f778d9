"""A second agent on the same database (issue 9, defect 2) refuses before it touches anything: the
first one's jobs, events and credits are exactly as they were."""

from __future__ import annotations

import asyncio
import os

import pytest
from aiohttp import web

from agent.service.app import DATABASE, create_app
from agent.engine.backends import Backends
from storage import DatabaseInUse, QuotaLedger
from tests.support.agent_app import AUTH, ORDERS, GatedProvider, make_settings, read_sse, run_agent
from tests.fakes import FakeRenderer


async def test_a_second_app_on_the_same_database_refuses_and_the_first_is_untouched(tmp_path):
    settings = make_settings(tmp_path, agent={"workers": 1})
    async with run_agent(tmp_path, settings) as a:
        a.provider.hold("image")
        running = await a.submit("running", request_id="running")
        await asyncio.wait_for(a.provider.entered["image"].wait(), 5)
        queued = await a.submit("queued", request_id="queued")
        await a.runner.flush()
        store = a.runner.store
        before = {j: (await store.get(j), await store.events_after(j, 0)) for j in (running["id"], queued["id"])}

        second = GatedProvider()
        db_file = tmp_path / "agent.db"
        runner = web.AppRunner(create_app(settings, backends=Backends([second], dict(ORDERS)),
                                          renderer=FakeRenderer(), wall_clock=a.wall))
        with pytest.raises(DatabaseInUse) as info:
            await runner.setup()  # the app's start-up: where the database would be opened
        await runner.cleanup()
        held = db_file if settings.agent.database_url.startswith("sqlite") else tmp_path / "data"  # PostgreSQL
        assert str(info.value) == f"another agent is already using {held} (pid {os.getpid()})"
        assert second.history == [], "the second agent ran no job and no recovery"
        after = {j: (await store.get(j), await store.events_after(j, 0)) for j in before}
        for job_id, (row, events) in before.items():
            assert after[job_id][1][:len(events)] == events  # the job may have moved on; nothing was rewritten
            assert after[job_id][0].status == row.status and after[job_id][0].last_seq >= row.last_seq

        a.provider.release("image")
        for job in (running, queued):
            await a.wait_status(job["id"], "done")
            events = await read_sse(await a.client.get(f"/v1/jobs/{job['id']}/events", headers=AUTH))
            assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
        totals = await QuotaLedger(a.app[DATABASE]).totals()
        assert totals.balanced and totals.reserved == totals.settled + totals.refunded == 10
