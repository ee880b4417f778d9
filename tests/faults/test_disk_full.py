"""Faults: the disks fill up (issue 9, defects 3 and 4), on a real filesystem that runs out of space.

The agent runs in a private mount namespace (`unshare -m`) with a small tmpfs mounted over the
directory under test, so SQLite and the pipeline hit the kernel's own ENOSPC; the test reaches that
tmpfs through /proc/<pid>/root to fill it and to free it. Without `unshare` and the right to mount
(root), the tests are skipped: nothing else reproduces a full filesystem faithfully.
"""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import subprocess
import time
from pathlib import Path

import aiohttp
import pytest

from agent.service.jobs import STORE_PENDING_MESSAGE
from tests.faults.helpers import Client, free_port, ledger, start_agent, stop, write_config

MB = 1024 * 1024


def _mount_problem(tmp_path: Path) -> str | None:
    if shutil.which("unshare") is None:
        return "unshare is not installed"
    probe = tmp_path / "probe"
    probe.mkdir()
    result = subprocess.run(["unshare", "-m", "sh", "-c", f'mount -t tmpfs -o size=1m tmpfs "{probe}"'],
                            capture_output=True, text=True, timeout=20)
    return None if result.returncode == 0 else f"cannot mount a tmpfs in a private namespace: {result.stderr}"


@pytest.fixture
def tiny_fs(tmp_path: Path):  # type: ignore[no-untyped-def]
    problem = _mount_problem(tmp_path)
    if problem:
        pytest.skip(problem)

    def prefix(mountpoint: Path, size_mb: int) -> list[str]:
        mountpoint.mkdir(parents=True, exist_ok=True)
        script = f'mount -t tmpfs -o size={size_mb}m tmpfs "$0" && exec "$@"'
        return ["unshare", "-m", "sh", "-c", script, str(mountpoint)]

    return prefix


def _inside(pid: int, path: Path) -> Path:
    """`path` as the process in its own mount namespace sees it."""
    return Path(f"/proc/{pid}/root{path}")


def fill(directory: Path, leave_bytes: int = 0) -> Path:
    """Write a filler file until the filesystem has at most `leave_bytes` free."""
    filler = directory / f"filler-{leave_bytes}"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        for chunk in (MB, 64 * 1024, 4096):
            block = b"\0" * chunk
            while os.statvfs(directory).f_bavail * os.statvfs(directory).f_frsize - chunk >= leave_bytes:
                try:
                    os.write(fd, block)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
    finally:
        os.close(fd)
    return filler


async def test_database_disk_full_then_freed_the_job_finishes_and_the_ledger_is_exact(tmp_path, tiny_fs):
    port, dbfs = free_port(), tmp_path / "dbfs"
    database = dbfs / "reelbot.db"
    config = write_config(tmp_path / "config.toml", data_dir=tmp_path / "data", database=database, port=port)
    gate, log = tmp_path / "hold", tmp_path / "agent.log"
    gate.touch()
    agent_proc = start_agent(config, port, gate, log, prefix=tiny_fs(dbfs, 16))
    try:
        async with aiohttp.ClientSession() as session:
            agent = Client(session, port)
            await agent.wait_up(agent_proc, log)
            inside = _inside(agent_proc.pid, dbfs)
            assert (inside / "reelbot.db").is_file() and not database.exists(), "the database is on the tmpfs"
            status, job = await agent.submit("the disk fills")
            assert status == 202, job
            await agent.wait_job(job["id"], "running")
            # "running" shows before it is stored: the disk must fill once the job has started for
            # good, when its first stage is under way (a fill in between fails the start instead)
            for _ in range(600):
                if (await agent.call("GET", f"/v1/jobs/{job['id']}"))[1]["stage"] not in ("queued", "starting"):
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the job never got past its start")
            stream = asyncio.ensure_future(agent.events(job["id"], timeout_s=150))

            filler = fill(inside)
            gate.unlink()  # the job runs to its end; its final state cannot be stored
            await agent.wait_job(job["id"], "running", message=STORE_PENDING_MESSAGE)
            assert not stream.done()

            status, body = await agent.submit("while full", user="43")
            assert status == 503 and body["error"]["code"] == "storage_unavailable" and body["error"]["retry_after_s"]
            status, body = await agent.call("GET", "/v1/users/discord/43/quota")  # a read writes nothing
            assert status == 200 and body["balance"] == 100
            status, body = await agent.call("DELETE", f"/v1/jobs/{job['id']}")
            assert status == 409 and body["error"]["code"] == "already_finished"
            _, report = await agent.call("GET", "/v1/status")
            assert report["state"] == "down" and report["storage"]["state"] == "full"
            assert report["storage"]["free_bytes"] < MB and "disk is full" in report["storage"]["last_error"]

            # stay full past the old behaviour's window (3 tries within 1.5 s, then the job was a zombie)
            await asyncio.sleep(5)
            assert (await agent.call("GET", f"/v1/jobs/{job['id']}"))[1]["status"] == "running"
            filler.unlink()  # an operator frees space; the agent notices by itself
            done = await agent.wait_job(job["id"], "done", "failed", timeout_s=90)
            assert done["status"] == "done" and done["credits"] == {"reserved": 5, "charged": 5, "refunded": 0}
            events = await asyncio.wait_for(stream, 15)
            assert events[-1]["status"] == "done"
            assert [e["seq"] for e in events] == list(range(1, done["last_seq"] + 1))
            _, report = await agent.call("GET", "/v1/status")
            assert report["state"] == "ok" and report["storage"]["state"] == "ok"
            status, quota = await agent.call("GET", "/v1/users/discord/43/quota")
            assert status == 200 and quota["balance"] == 100 and quota["in_flight"] == 0

            copy = tmp_path / "copy"  # the tmpfs lives as long as the agent: read a copy
            copy.mkdir()
            for suffix in ("", "-wal"):
                source = inside / f"reelbot.db{suffix}"
                if source.exists():
                    shutil.copyfile(source, copy / f"reelbot.db{suffix}")
            sums = ledger(copy / "reelbot.db")
            assert sums["reserve"] == sums["settle"] + sums.get("refund", 0) == 5
            assert sums["balances"] == sums["entries"]
    finally:
        stop(agent_proc)
    text = log.read_text()
    assert text.count("storing its final state (done) failed") == 1, "logged once, not per retry"
    assert "final state (done) stored after" in text


async def test_data_disk_full_refuses_new_jobs_reports_it_and_deletes_failed_files(tmp_path, tiny_fs):
    port, data = free_port(), tmp_path / "data"
    database = tmp_path / "db" / "reelbot.db"
    config = write_config(tmp_path / "config.toml", data_dir=data, database=database, port=port,
                          min_free_disk_mb=16)
    gate, log = tmp_path / "hold", tmp_path / "agent.log"
    agent_proc = start_agent(config, port, gate, log, prefix=tiny_fs(data, 48))
    try:
        async with aiohttp.ClientSession() as session:
            agent = Client(session, port)
            await agent.wait_up(agent_proc, log)
            inside = _inside(agent_proc.pid, data)

            filler = fill(inside, leave_bytes=8 * MB)
            status, body = await agent.submit("no room")
            assert status == 503 and body["error"]["code"] == "disk_full", body
            _, report = await agent.call("GET", "/v1/status")
            assert report["state"] == "down" and report["data_dir"]["state"] == "down"
            assert report["data_dir"]["free_bytes"] <= 8 * MB and report["data_dir"]["total_bytes"] == 48 * MB
            assert any("data directory" in p for p in report["problems"])
            filler.unlink()

            gate.touch()
            status, job = await agent.submit("fills up mid-way")
            assert status == 202, job
            await agent.wait_job(job["id"], "running")
            filler = fill(inside)
            gate.unlink()  # the job's first write hits ENOSPC
            failed = await agent.wait_job(job["id"], "failed", "done")
            assert failed["status"] == "failed" and failed["error"]["code"] == "disk_full", failed["error"]
            assert failed["credits"]["refunded"] == 5
            assert not (inside / "jobs" / job["id"]).exists(), "a failed job's partial files go at once"
            filler.unlink()

            status, job = await agent.submit("room again")
            assert status == 202, job
            done = await agent.wait_job(job["id"], "done", "failed")
            assert done["status"] == "done" and (inside / "jobs" / job["id"] / "video.mp4").is_file()
            _, report = await agent.call("GET", "/v1/status")
            assert report["state"] == "ok"
    finally:
        stop(agent_proc)
    sums = ledger(database)
    assert sums["reserve"] == sums["settle"] + sums.get("refund", 0) == 10
    assert sums["balances"] == sums["entries"]
    assert "not started" in log.read_text() or "disk_full" in log.read_text()


def test_helpers_fill_leaves_what_was_asked(tmp_path, tiny_fs):
    """`fill` on a real tmpfs (through a namespace kept alive by sleep)."""
    mount = tmp_path / "m"
    proc = subprocess.Popen([*tiny_fs(mount, 4), "sleep", "30"])
    try:
        inside = _inside(proc.pid, mount)
        for _ in range(100):  # until the namespace has mounted it
            if os.statvfs(inside).f_blocks * os.statvfs(inside).f_frsize == 4 * MB:
                break
            time.sleep(0.05)
        fill(inside, leave_bytes=MB)
        free = os.statvfs(inside).f_bavail * os.statvfs(inside).f_frsize
        assert MB - 64 * 1024 <= free <= MB + 64 * 1024
    finally:
        proc.kill()
        proc.wait(10)
    assert not any(mount.iterdir()), "the tmpfs was private to the namespace"
