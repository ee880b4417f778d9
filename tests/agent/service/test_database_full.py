"""The database's disk fills up (issue 9, defect 3): nothing is lost, nothing is charged, and the
agent recovers on its own when space comes back.

The disk is filled through `Database.simulate_full_disk`: SQLite's page limit plus a write larger
than any free page, so SQLite itself raises SQLITE_FULL ("database or disk is full") on every write
through the real code path, as it does when its journal cannot grow on a full filesystem.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest

from agent.service.app import DATABASE
from agent.service.jobs import STORE_PENDING_MESSAGE
from storage import QuotaLedger
from tests.support.agent_app import AUTH, make_settings, read_sse, run_agent

pytestmark = pytest.mark.sqlite_only(reason="the disk is filled through SQLite's page limit (Database.simulate_full_disk)")


class FastSleep:
    """The runner's backoff, recorded and shortened so the test does not wait it out."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(0.01)


async def _until(predicate: Any, timeout_s: float = 10.0) -> None:
    """Poll `predicate()` (plain or async) until it is true."""
    async with asyncio.timeout(timeout_s):
        while True:
            result = predicate()
            if asyncio.iscoroutine(result):
                result = await result
            if result:
                return
            await asyncio.sleep(0.01)


async def test_final_state_is_retried_until_stored_and_nothing_is_charged_meanwhile(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    sleep = FastSleep()
    async with run_agent(tmp_path, make_settings(tmp_path), sleep=sleep) as a:
        db = a.app[DATABASE]
        a.provider.hold("image")
        job = await a.submit("full disk", request_id="full")
        await asyncio.wait_for(a.provider.entered["image"].wait(), 5)
        stream = await a.client.get(f"/v1/jobs/{job['id']}/events", headers=AUTH)
        events_task = asyncio.ensure_future(read_sse(stream))

        await db.simulate_full_disk(True)
        a.provider.release("image")

        async def pending() -> bool:
            return (await a.job(job["id"]))["message"] == STORE_PENDING_MESSAGE
        await _until(pending)
        await _until(lambda: len(sleep.delays) >= 4)
        assert sleep.delays[:4] == [0.5, 1.0, 2.0, 4.0]  # capped exponential backoff
        assert not events_task.done(), "the stream must not end before the final state is stored"
        assert (await a.job(job["id"]))["status"] == "running"

        # a cancel cannot undo a finished job: it says so instead of answering 202 for nothing
        resp = await a.client.delete(f"/v1/jobs/{job['id']}", headers=AUTH)
        body = await resp.json()
        assert resp.status == 409 and body["error"]["code"] == "already_finished"
        assert body["error"]["job_status"] == "done"

        # new work is refused with a retry hint, and charges nothing
        resp = await a.client.post("/v1/jobs", headers=AUTH, json={
            "request_id": "while-full", "user": {"platform": "discord", "id": "43"}, "topic": "later"})
        body = await resp.json()
        assert resp.status == 503 and body["error"]["code"] == "storage_unavailable", body
        assert body["error"]["retry_after_s"] > 0 and resp.headers["Retry-After"]
        resp = await a.client.get("/v1/users/discord/43/quota", headers=AUTH)  # a read writes nothing: it works
        assert resp.status == 200 and (await resp.json())["balance"] == 100

        status = await (await a.client.get("/v1/status", headers=AUTH)).json()
        assert status["state"] == "down" and status["storage"]["state"] == "full"
        assert "disk is full" in status["storage"]["last_error"] and status["storage"]["free_bytes"] > 0
        assert any("database" in p for p in status["problems"])

        await db.simulate_full_disk(False)  # an operator frees space
        done = await a.wait_status(job["id"], "done")
        events = await asyncio.wait_for(events_task, 5)

        assert done["credits"] == {"reserved": 5, "charged": 5, "refunded": 0}
        assert events[-1]["status"] == "done"
        assert any(e["message"] == STORE_PENDING_MESSAGE for e in events[:-1])
        seqs = [e["seq"] for e in events]
        assert seqs == list(range(1, len(seqs) + 1))
        stored = [json.loads(d) for d in await a.runner.store.events_after(job["id"], 0)]
        assert stored == events, "what was streamed is what was stored: no gap, no duplicate"
        assert (await a.quota("42"))["balance"] == 95 and (await a.quota("43"))["balance"] == 100
        totals = await QuotaLedger(db).totals()
        assert totals.balanced and totals.reserved == totals.settled + totals.refunded == 5
        status = await (await a.client.get("/v1/status", headers=AUTH)).json()
        assert status["state"] == "ok" and status["storage"]["state"] == "ok"

    failures = [r for r in caplog.records if "storing its final state" in r.getMessage()]
    assert len(failures) == 1, "logged once when it starts failing, not on every retry"
    assert sum("final state (done) stored after" in r.getMessage() for r in caplog.records) == 1
    assert sum(r.name == "storage.health" and r.levelno == logging.ERROR for r in caplog.records) == 1


async def test_cancel_while_the_database_is_full_is_carried_out_when_it_has_room(tmp_path):
    sleep = FastSleep()
    async with run_agent(tmp_path, make_settings(tmp_path, agent={"workers": 1}), sleep=sleep) as a:
        db = a.app[DATABASE]
        a.provider.hold("image")
        first = await a.submit("first", request_id="first")
        await asyncio.wait_for(a.provider.entered["image"].wait(), 5)
        waiting = await a.submit("waiting", request_id="waiting")
        await db.simulate_full_disk(True)
        resp = await asyncio.wait_for(a.client.delete(f"/v1/jobs/{waiting['id']}", headers=AUTH), 10)
        assert resp.status == 202
        assert (await resp.json())["message"] == STORE_PENDING_MESSAGE
        await db.simulate_full_disk(False)
        cancelled = await a.wait_status(waiting["id"], "cancelled")
        assert cancelled["credits"]["refunded"] == 5
        a.provider.release("image")
        await a.wait_status(first["id"], "done")
        assert (await a.quota())["balance"] == 95


async def test_a_job_that_cannot_be_marked_running_fails_refunded_once_stored(tmp_path):
    sleep = FastSleep()
    async with run_agent(tmp_path, make_settings(tmp_path), sleep=sleep) as a:
        db = a.app[DATABASE]
        async with a.runner._write_lock:  # the worker takes the job, then waits to mark it running
            job = await a.submit("late start", request_id="late")
            await _until(lambda: a.runner.running_count() == 1)
            await db.simulate_full_disk(True)
        await _until(lambda: len(sleep.delays) >= 2)
        assert (await a.job(job["id"]))["message"] == STORE_PENDING_MESSAGE
        await db.simulate_full_disk(False)
        failed = await a.wait_status(job["id"], "failed")
        assert failed["error"]["code"] == "storage_unavailable" and failed["credits"]["refunded"] == 5
        assert a.provider.history == [], "the pipeline never ran"
        events = await read_sse(await a.client.get(f"/v1/jobs/{job['id']}/events", headers=AUTH))
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
        assert events[-1]["status"] == "failed"
        assert (await a.quota())["balance"] == 100


async def test_a_cancel_during_a_write_in_flight_neither_loses_nor_duplicates_events(tmp_path):
    import threading

    settings = make_settings(tmp_path, agent={"event_flush_s": 60.0})  # no flush in between
    async with run_agent(tmp_path, settings) as a:
        db = a.app[DATABASE]
        writer_busy = threading.Event()
        async with a.runner._write_lock:  # the worker takes the job, then waits to mark it running
            job = await a.submit("cancelled mid-write", request_id="mid")
            await _until(lambda: a.runner.running_count() == 1)
            db._workers.writer.submit(writer_busy.wait, 10)  # the writer thread is busy elsewhere
        await asyncio.sleep(0.05)  # mark_running's unit is now queued on the writer thread
        cancel = asyncio.ensure_future(a.client.delete(f"/v1/jobs/{job['id']}", headers=AUTH))
        await asyncio.sleep(0.1)
        writer_busy.set()  # the unit the cancelled job left behind commits all the same
        assert (await asyncio.wait_for(cancel, 10)).status == 202
        cancelled = await a.wait_status(job["id"], "cancelled")
        events = await read_sse(await a.client.get(f"/v1/jobs/{job['id']}/events", headers=AUTH))
        assert [e["seq"] for e in events] == list(range(1, cancelled["last_seq"] + 1))
        assert (await a.quota())["balance"] == 100
