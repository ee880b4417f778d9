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
