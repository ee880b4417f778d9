"""Retention: files of old finished jobs are deleted; the job row and its events stay."""

from __future__ import annotations

from tests.support.agent_app import AUTH, make_settings, read_sse, run_agent


async def test_retention_deletes_files_keeps_history(tmp_path):
    settings = make_settings(tmp_path, agent={"retention_h": 1.0})
    async with run_agent(tmp_path, settings) as a:
        old = await a.submit("old", request_id="old")
        await a.wait_status(old["id"], "done")
        a.wall.advance(1800)
        new = await a.submit("new", request_id="new")
        await a.wait_status(new["id"], "done")
        workdir = a.runner.workdir(old["id"])
        assert (workdir / "video.mp4").is_file()
        a.wall.advance(1801)
        assert await a.runner.cleanup_expired() == 1
        assert not workdir.exists() and a.runner.workdir(new["id"]).exists()
        resp = await a.client.get(f"/v1/jobs/{old['id']}/video", headers=AUTH)
        assert resp.status == 404 and (await resp.json())["error"]["code"] == "video_expired"
        job = await a.job(old["id"])
        assert job["status"] == "done" and job["video_expired"] is True and job["result"]["title"]
        events = await read_sse(await a.client.get(f"/v1/jobs/{old['id']}/events", headers=AUTH))
        assert events[-1]["status"] == "done"
        assert await a.runner.cleanup_expired() == 0


async def test_orphan_folders_are_removed_after_a_grace_period_but_never_a_jobs(tmp_path):
    import os

    from agent.service.retention import ORPHAN_GRACE_S

    async with run_agent(tmp_path) as a:
        done = await a.submit("kept", request_id="kept")
        await a.wait_status(done["id"], "done")
        a.provider.hold("image")
        running = await a.submit("running", request_id="running")
        await __import__("asyncio").wait_for(a.provider.entered["image"].wait(), 5)
        jobs = a.runner.workdir("x").parent
        orphan, young = jobs / "no-such-job-old", jobs / "no-such-job-new"
        for folder in (orphan, young):
            folder.mkdir()
            (folder / "partial.png").write_bytes(b"\0" * 1000)
        old = a.wall() - ORPHAN_GRACE_S - 60
        for folder in (orphan, a.runner.workdir(done["id"]), a.runner.workdir(running["id"])):
            os.utime(folder, (old, old))
        assert await a.runner.retention.sweep_orphans() == 1
        assert not orphan.exists() and young.is_dir()
        assert a.runner.video_file(done["id"]).is_file() and a.runner.workdir(running["id"]).is_dir()
        a.provider.release("image")
        await a.wait_status(running["id"], "done")


async def test_events_of_long_finished_jobs_are_pruned_but_the_job_still_answers(tmp_path):
    settings = make_settings(tmp_path, agent={"events_retention_h": 24.0})
    async with run_agent(tmp_path, settings) as a:
        old = await a.submit("old", request_id="old")
        before = await a.wait_status(old["id"], "done")
        a.wall.advance(20 * 3600)
        new = await a.submit("new", request_id="new")
        await a.wait_status(new["id"], "done")
        assert len(await a.runner.store.events_after(old["id"], 0)) > 3
        a.wall.advance(5 * 3600)
        pruned = await a.runner.retention.prune_events()
        assert pruned == before["last_seq"] - 1
        after = await a.job(old["id"])
        assert after == before, "GET job answers from the row, unchanged"
        events = await read_sse(await a.client.get(f"/v1/jobs/{old['id']}/events", headers=AUTH))
        assert [e["seq"] for e in events] == [before["last_seq"]] and events[0]["status"] == "done"
        assert len(await a.runner.store.events_after(new["id"], 0)) > 3, "a recent job keeps its events"
        assert await a.runner.retention.prune_events() == 0


async def test_the_size_bound_deletes_the_oldest_finished_jobs_files_first(tmp_path):
    settings = make_settings(tmp_path, agent={"max_data_mb": 1})
    async with run_agent(tmp_path, settings) as a:
        ids = []
        for name in ("oldest", "middle", "newest"):
            job = await a.submit(name, request_id=name)
            await a.wait_status(job["id"], "done")
            workdir = a.runner.workdir(job["id"])
            size = sum(f.stat().st_size for f in workdir.rglob("*") if f.is_file())
            assert size < 450_000
            (workdir / "filler.bin").write_bytes(b"\0" * (450_000 - size))  # 450 kB a job
            ids.append(job["id"])
            a.wall.advance(60)
        assert await a.runner.retention.enforce_size_bound() == 1  # ~1.35 MB -> under 1 MiB
        assert not a.runner.workdir(ids[0]).exists()
        assert a.runner.video_file(ids[1]).is_file() and a.runner.video_file(ids[2]).is_file()
        resp = await a.client.get(f"/v1/jobs/{ids[0]}/video", headers=AUTH)
        assert resp.status == 404 and (await resp.json())["error"]["code"] == "video_expired"
        assert (await a.job(ids[0]))["video_expired"] is True
        assert await a.runner.retention.enforce_size_bound() == 0
        report = await a.runner.retention.run()
        assert report.over_size == 0 and report.expired == 0
