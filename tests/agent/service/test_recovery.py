"""Restart recovery: stop the agent mid-job, start a new one on the same database and data dir."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

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
        totals = await QuotaLedger(b.app[__import__("agent.service.app", fromlist=["DATABASE"]).DATABASE]).totals()
        assert totals.balanced and totals.reserved == totals.settled + totals.refunded


CRASH_COPY = pytest.mark.sqlite_only(reason="the crash is simulated by copying the database file and its WAL")


def crash_copy(src: Path, dst: Path) -> Path:
    """What a kill -9 leaves behind, in a new folder: the database as it is on disk while the agent
    runs (WAL mode: the log holds the commits) and the data directory. No clean stop ran on it."""
    dst.mkdir()
    for suffix in ("", "-wal"):
        source = src / f"agent.db{suffix}"
        if source.exists():
            shutil.copy(source, dst / source.name)
    if (src / "data").exists():
        shutil.copytree(src / "data", dst / "data")
    return dst


@CRASH_COPY
async def test_a_job_interrupted_too_often_is_quarantined_and_refunded(tmp_path, caplog):
    """Issue 9: a job that crashes the agent was resumed at every restart, forever. Now each resume
    is counted before it runs; past agent.max_recoveries the job fails, refunded, and never runs."""
    limit = {"max_recoveries": 2}
    here = tmp_path / "run0"
    here.mkdir()
    async with run_agent(here, make_settings(here, agent=limit)) as a:
        a.provider.hold("image")
        job = await a.submit("the poison", request_id="p")
        await asyncio.wait_for(a.provider.entered["image"].wait(), 5)  # scene 2 is being drawn: killed
        here = crash_copy(here, tmp_path / "run1")
    job_id = job["id"]
    for run in (1, 2):  # each start resumes it (counted first), and it crashes again
        resumed = GatedProvider()
        resumed.hold("image")
        async with run_agent(here, make_settings(here, agent=limit), provider=resumed) as b:
            await asyncio.wait_for(resumed.entered["image"].wait(), 5)
            assert (await b.runner.store.get(job_id)).recoveries == run
            assert (await b.job(job_id))["status"] == "running"
            here = crash_copy(here, tmp_path / f"run{run + 1}")
    settings = make_settings(here, agent=limit)
    idle = GatedProvider()
    with caplog.at_level("ERROR", logger="agent.service.jobs"):
        async with run_agent(here, settings, provider=idle) as c:
            failed = await c.wait_status(job_id, "failed")
            assert failed["error"]["code"] == "quarantined" and failed["error"]["refunded"] is True
            assert "set aside" in failed["error"]["message"] and "refunded" in failed["error"]["message"]
            assert idle.history == [], "the quarantined job did not run again"
            assert (await c.quota())["balance"] == 100  # the 5 reserved came back
            other = await c.submit("another user's video", request_id="o", user="77")  # the agent works on
            await c.wait_status(other["id"], "done")
            assert (await c.quota("77"))["balance"] == 95
            db = c.app[__import__("agent.service.app", fromlist=["DATABASE"]).DATABASE]
            totals = await QuotaLedger(db).totals()
            assert totals.balanced and totals.reserved == totals.settled + totals.refunded
            from sqlalchemy import select

            from storage.models import LedgerEntry

            entries = await db.read(lambda s: [(e.kind, e.amount, e.credits) for e in s.execute(
                select(LedgerEntry).where(LedgerEntry.job_id == job_id).order_by(LedgerEntry.id)).scalars()])
            assert entries == [("reserve", -5, 5), ("refund", 5, 5)]
            events = await read_sse(await c.client.get(f"/v1/jobs/{job_id}/events", headers=AUTH))
            assert events[-1]["status"] == "failed" and events[-1]["error"]["code"] == "quarantined"
    assert f"job {job_id}: quarantined after 3 interruptions" in caplog.text
    async with run_agent(here, settings, provider=GatedProvider()) as d:  # and never again
        await asyncio.sleep(0.2)
        assert (await d.job(job_id))["status"] == "failed" and d.provider.history == []
        assert (await d.runner.store.get(job_id)).recoveries == 2


@CRASH_COPY
async def test_max_recoveries_0_never_resumes(tmp_path):
    first = tmp_path / "run0"
    first.mkdir()
    async with run_agent(first, make_settings(first, agent={"max_recoveries": 0})) as a:
        a.provider.hold("image")
        job = await a.submit("interrupted once", request_id="q")
        await asyncio.wait_for(a.provider.entered["image"].wait(), 5)
        after = crash_copy(first, tmp_path / "run1")
    settings = make_settings(after, agent={"max_recoveries": 0})
    async with run_agent(after, settings, provider=GatedProvider()) as b:
        failed = await b.wait_status(job["id"], "failed")
        assert failed["error"]["code"] == "quarantined" and "stopped 1 time " in failed["error"]["message"]
        assert b.provider.history == [] and (await b.quota())["balance"] == 100


async def test_clean_restarts_do_not_count_towards_quarantine(tmp_path):
    """Planned restarts (a deploy, a reboot) stop running jobs cleanly; only crashes may quarantine."""
    settings = make_settings(tmp_path, agent={"max_recoveries": 1})
    async with run_agent(tmp_path, settings) as a:
        a.provider.hold("image")
        job = await a.submit("a long one", request_id="long")
        await asyncio.wait_for(a.provider.entered["image"].wait(), 5)
    for _ in range(3):  # three clean restarts while it runs: each resumes it
        held = GatedProvider()
        held.hold("image")
        async with run_agent(tmp_path, settings, provider=held) as b:
            await asyncio.wait_for(held.entered["image"].wait(), 5)
            assert (await b.runner.store.get(job["id"])).recoveries == 0
    async with run_agent(tmp_path, settings) as c:
        done = await c.wait_status(job["id"], "done")
        assert done["status"] == "done" and (await c.quota())["balance"] == 95


async def test_after_a_crash_no_streamed_seq_is_reused_and_a_resuming_client_misses_nothing(tmp_path):
    """kill -9 in miniature: the database is copied as it is on disk while events stream faster than
    they are stored (event_flush_s is long), and a new agent starts on the copy."""
    settings = make_settings(tmp_path, agent={"event_flush_s": 60.0})
    crash_dir = tmp_path / "after-crash"
    async with run_agent(tmp_path, settings) as a:
        a.provider.hold("image")
        job = await a.submit()
        await asyncio.wait_for(a.provider.entered["image"].wait(), 5)
        seen = await read_sse(await a.client.get(f"/v1/jobs/{job['id']}/events", headers=AUTH), stop_after=6)
        stored = (await a.runner.store.get(job["id"])).last_seq
        assert seen[-1]["seq"] > stored, "the test needs events that were streamed but not stored"
        crash_dir.mkdir()
        for suffix in ("", "-wal"):  # the file as a crash leaves it (WAL mode: the log holds the commits)
            source = tmp_path / f"agent.db{suffix}"
            if source.exists():
                shutil.copy(source, crash_dir / f"agent.db{suffix}")
        a.provider.release("image")

    async with run_agent(crash_dir, make_settings(crash_dir)) as b:
        last = seen[-1]["seq"]
        rest = await read_sse(await b.client.get(f"/v1/jobs/{job['id']}/events",
                                                 headers={**AUTH, "Last-Event-ID": str(last)}))
        assert rest and rest[-1]["status"] in ("done", "failed"), rest
        seqs = [e["seq"] for e in rest]
        assert seqs == sorted(set(seqs)) and seqs[0] > last, seqs
        # every stored event: a seq the client saw before the crash still means the same event
        replay = await read_sse(await b.client.get(f"/v1/jobs/{job['id']}/events", headers=AUTH))
        by_seq = {e["seq"]: e for e in seen}
        for event in replay:
            if event["seq"] in by_seq:
                assert event == by_seq[event["seq"]], f"seq {event['seq']} was reused for a different event"
        assert [e for e in replay if e["seq"] > last] == rest  # the resuming client missed nothing
        totals = await QuotaLedger(b.app[__import__("agent.service.app", fromlist=["DATABASE"]).DATABASE]).totals()
        assert totals.balanced and totals.reserved == totals.settled + totals.refunded


async def test_start_sweeps_render_temp_folders_and_partial_files_a_crash_left(tmp_path):
    job_dir = tmp_path / "data" / "jobs" / "crashed-job-1"
    render_dir = job_dir / ".video-render-k2j4x9"
    render_dir.mkdir(parents=True)
    (render_dir / "out.mp4").write_bytes(b"\x00" * 1000)  # a partial MP4
    (job_dir / ".image_00.0123456789ab.tmp").write_bytes(b"half")
    (job_dir / ".voice_00.0123456789ab.part").write_bytes(b"half")
    kept = job_dir / "image_00.png"
    kept.write_bytes(b"finished work stays")
    async with run_agent(tmp_path):
        assert not render_dir.exists()
        assert sorted(p.name for p in job_dir.iterdir()) == ["image_00.png"]
