"""The data directory's disk (issue 9, defect 4): below `agent.min_free_disk_mb` no job starts and
none is accepted, a job that fails on a full disk says so, a failed or cancelled job's files go at
once, and `/v1/status` shows the disk and does not say all is well."""

from __future__ import annotations

import asyncio
from pathlib import Path

from providers.errors import Unavailable
from tests.support.agent_app import AUTH, make_settings, run_agent

MB = 1024 * 1024
GB = 1024 * MB


class Disk:
    """The data directory's filesystem, as `shutil.disk_usage` reports it; tests set `free`."""

    def __init__(self, free: int = 50 * GB, total: int = 100 * GB) -> None:
        self.free, self.total = free, total
        self.asked: list[Path] = []

    def __call__(self, path: Path) -> tuple[int, int, int]:
        self.asked.append(Path(path))
        return self.total, self.total - self.free, self.free


async def _status(a) -> dict:  # type: ignore[no-untyped-def]
    resp = await a.client.get("/v1/status", headers=AUTH)
    assert resp.status == 200
    return await resp.json()


async def test_submissions_are_refused_below_the_minimum_and_status_says_so(tmp_path):
    disk = Disk()
    settings = make_settings(tmp_path, agent={"min_free_disk_mb": 500})
    async with run_agent(tmp_path, settings, disk_usage=disk) as a:
        status = await _status(a)
        assert status["state"] == "ok" and status["problems"] == []
        assert status["data_dir"] == {"state": "ok", "free_bytes": 50 * GB, "total_bytes": 100 * GB,
                                      "min_free_bytes": 500 * MB}
        assert disk.asked and disk.asked[0] == tmp_path / "data"

        disk.free = 800 * MB  # under twice the minimum: still working, but an operator should look
        status = await _status(a)
        assert status["state"] == "degraded" and status["data_dir"]["state"] == "degraded"

        disk.free = 100 * MB
        status = await _status(a)
        assert status["state"] == "down" and status["data_dir"]["state"] == "down"
        assert any("100 MB free" in p for p in status["problems"])
        body = await a.submit("no room", request_id="no-room", expect=503)
        assert body["error"]["code"] == "disk_full" and body["error"]["retry_after_s"] > 0
        assert (await a.quota())["balance"] == 100 and (await a.quota())["in_flight"] == 0

        disk.free = 2 * GB  # space freed: work resumes without a restart
        job = await a.submit("room again", request_id="room")
        assert (await a.wait_status(job["id"], "done"))["credits"]["charged"] == 5
        assert (await _status(a))["state"] == "ok"


async def test_a_queued_job_that_finds_the_disk_full_fails_refunded_and_says_why(tmp_path, caplog):
    disk = Disk()
    async with run_agent(tmp_path, make_settings(tmp_path, agent={"workers": 1}), disk_usage=disk) as a:
        a.provider.hold("image")
        first = await a.submit("first", request_id="first")
        await asyncio.wait_for(a.provider.entered["image"].wait(), 5)
        second = await a.submit("second", request_id="second")
        disk.free = 10 * MB
        a.provider.release("image")
        assert (await a.wait_status(first["id"], "done"))["credits"]["charged"] == 5
        failed = await a.wait_status(second["id"], "failed")
        assert failed["error"]["code"] == "disk_full" and "disk space" in failed["error"]["message"]
        assert failed["credits"]["refunded"] == 5 and (await a.quota())["balance"] == 95
        assert not a.runner.workdir(second["id"]).exists()
        assert [req.topic for kind, req in a.provider.history if kind == "script"] == ["first"]
    assert any(second["id"] in r.getMessage() and "not started" in r.getMessage() for r in caplog.records)


async def test_a_job_failing_on_a_full_disk_is_not_blamed_on_the_providers(tmp_path):
    disk = Disk()
    async with run_agent(tmp_path, make_settings(tmp_path), disk_usage=disk) as a:
        a.provider.hold("image")
        job = await a.submit("fills the disk", request_id="fills")
        await asyncio.wait_for(a.provider.entered["image"].wait(), 5)
        a.provider.enqueue(Unavailable("No space left on device"))  # scene 1's image cannot be written
        disk.free = 0
        a.provider.release("image")
        failed = await a.wait_status(job["id"], "failed")
        assert failed["error"]["code"] == "disk_full", failed["error"]
        assert "no image service" not in failed["error"]["message"]


async def test_failed_and_cancelled_jobs_files_are_deleted_at_once(tmp_path):
    async with run_agent(tmp_path) as a:
        a.provider.hold("image")
        failing = await a.submit("failing", request_id="failing")
        await asyncio.wait_for(a.provider.entered["image"].wait(), 5)
        workdir = a.runner.workdir(failing["id"])
        assert (workdir / "manifest.json").is_file()  # the script is on disk
        a.provider.enqueue(Unavailable("down"))
        a.provider.release("image")
        failed = await a.wait_status(failing["id"], "failed")
        assert failed["error"]["code"] == "all_providers_failed"
        assert not workdir.exists(), "a failed job's partial files are deleted at once"
        assert failed["video_expired"] is False  # it never had a video to expire

        a.provider.hold("image")
        cancelled = await a.submit("cancelled", request_id="cancelled")
        await asyncio.wait_for(a.provider.entered["image"].wait(), 5)
        assert a.runner.workdir(cancelled["id"]).is_dir()
        resp = await a.client.delete(f"/v1/jobs/{cancelled['id']}", headers=AUTH)
        assert resp.status == 202
        await a.wait_status(cancelled["id"], "cancelled")
        assert not a.runner.workdir(cancelled["id"]).exists()
        a.provider.release("image")

        done = await a.submit("kept", request_id="kept")
        await a.wait_status(done["id"], "done")
        assert a.runner.video_file(done["id"]).is_file(), "a done job's video is kept for the retention period"


async def test_checks_asked_together_share_one_look_at_the_disk(tmp_path):
    """A burst of submissions asks the filesystem once, not once each through the thread pool."""
    from agent.engine.disk import DataDisk

    disk = Disk(free=10 * MB)
    data = DataDisk(tmp_path, 100 * MB, usage=disk)
    reports = await asyncio.gather(*(data.check() for _ in range(20)))
    assert all(r.low and r.free_bytes == 10 * MB for r in reports)
    assert len(disk.asked) == 1
    disk.free = 500 * MB  # a later check looks again
    assert not (await data.check()).low and len(disk.asked) == 2
