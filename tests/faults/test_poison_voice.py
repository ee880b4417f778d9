"""Fault suite, issue 9 defect 1: one voice name crashed the agent, forever.

A real agent process (`tests.faults.agent_process`: `reelbot agent`'s app with the real providers,
rendering small) on 127.0.0.1, over a database seeded as the unfixed agent left it:

  * a queued job whose voice is `!v/m1` (admitted before voices were checked): it must run, with
    the name refused by the eSpeak binding before native code, and finish;
  * a job that crashed the agent `max_recoveries` times already (running, with work on disk): it
    must be quarantined at start, failed and refunded, and never run again.

Meanwhile the three poison names from the issue are refused at submit (400, field `voice`), other
users' jobs finish, the agent process stays alive, and after a real crash (SIGKILL) and a restart
nothing of the above runs again.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from agent.service.quota import QuotaPolicy
from agent.settings import load_settings
from storage import JobStore, NewJob, ProgressBatch, UserKey, open_database

ROOT = Path(__file__).resolve().parents[2]
POISON = ["!v/m1", "+" * 64, "en+" + "a" * 37]
PRICE = 5
MAX_RECOVERIES = 2
START_TIMEOUT_S = 30.0
JOB_TIMEOUT_S = 90.0

pytestmark = pytest.mark.timeout(240)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(tmp: Path) -> Path:
    path = tmp / "config.toml"
    path.write_text(f"""
[video]
image_concurrency = 2
voice_concurrency = 2

[agent]
data_dir = "{tmp / 'data'}"
database_url = "sqlite+aiosqlite:///{tmp / 'agent.db'}"
workers = 2
event_flush_s = 0.05
max_recoveries = {MAX_RECOVERIES}

[quotas]
daily_credits = 100
max_in_flight = 5

[routes.self-hosted]
label = "Self-hosted"
price = {PRICE}
""", encoding="utf-8")
    return path


async def _seed(config: Path) -> tuple[str, str]:
    """The database as the unfixed agent left it: (queued poison job, crash-looping job)."""
    settings = load_settings(config, env={})
    policy = QuotaPolicy(settings, time.time)
    now = time.time()
    mallory = UserKey("discord", "666", "Mallory")
    async with open_database(settings.agent.database_url) as db:
        store = JobStore(db)
        ids = []
        for n, (topic, voice) in enumerate((("an old queued video", "!v/m1"), ("the crash loop", "en+" + "a" * 37))):
            job = NewJob(f"seeded-job-{n:04d}", f"old-{n}", 0, topic,
                         {"aspect": "9:16", "length": "short", "mode": "slideshow", "model": "self-hosted",
                          "voice": voice, "max_bytes": None}, "self-hosted", PRICE, now + n)
            first = {"seq": 1, "job_id": job.id, "status": "queued", "stage": "queued", "progress": 0.0,
                     "message": "queued", "provider": "", "at": now}
            outcome = await store.submit(job, first_event=lambda e=first: e, max_in_flight=None,
                                         day=policy.day(now), daily=policy.daily, user=mallory)
            assert outcome.created
            ids.append(job.id)
        loop_id = ids[1]
        await store.mark_running(loop_id, now, ProgressBatch(loop_id))
        for _ in range(MAX_RECOVERIES):  # it was resumed, and crashed the agent, this often
            assert await store.count_recovery(loop_id, MAX_RECOVERIES) is not None
    work = Path(settings.agent.data_dir) / "jobs" / loop_id
    work.mkdir(parents=True)
    (work / "manifest.json").write_text("{}", encoding="utf-8")
    return ids[0], loop_id


class AgentProcess:
    def __init__(self, config: Path, log: Path) -> None:
        self.config, self.log = config, log
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def _spawn(self) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items()
               if not k.endswith(("_API_KEY", "_TOKEN", "_SERVER")) and k != "REELBOT_AGENT_TOKEN"}
        env["PYTHONPATH"] = str(ROOT)
        with self.log.open("ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "tests.faults.agent_process", str(self.config), str(self.port)],
                cwd=self.config.parent, env=env, stdout=log, stderr=subprocess.STDOUT)

    async def start(self, session: aiohttp.ClientSession) -> None:
        self.proc = await asyncio.to_thread(self._spawn)  # opening the log and forking block
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, await asyncio.to_thread(self.log.read_text)
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(f"{self.url}/v1/status") as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.1)
        raise AssertionError(f"the agent did not start:\n{await asyncio.to_thread(self.log.read_text)}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig: int) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(timeout=10)


@contextlib.asynccontextmanager
async def agent_process(config: Path, log: Path, session: aiohttp.ClientSession) -> AsyncIterator[AgentProcess]:
    agent = AgentProcess(config, log)
    try:
        await agent.start(session)
        yield agent
    finally:
        if agent.proc is not None:
            agent.stop(signal.SIGTERM)


async def _json(session: aiohttp.ClientSession, method: str, url: str, body: Any = None) -> tuple[int, Any]:
    async with session.request(method, url, json=body) as resp:
        return resp.status, await resp.json()


async def _wait(session: aiohttp.ClientSession, agent: AgentProcess, job_id: str, *statuses: str) -> dict[str, Any]:
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while time.monotonic() < deadline:
        assert agent.alive(), f"the agent died:\n{agent.log.read_text()[-4000:]}"
        status, job = await _json(session, "GET", f"{agent.url}/v1/jobs/{job_id}")
        assert status == 200, job
        if job["status"] in statuses:
            return job  # type: ignore[no-any-return]
        await asyncio.sleep(0.2)
    raise AssertionError(f"job {job_id} never reached {statuses}:\n{agent.log.read_text()[-4000:]}")


def _submit_body(user: str, request_id: str, voice: str | None = None) -> dict[str, Any]:
    return {"request_id": request_id, "user": {"platform": "discord", "id": user}, "topic": f"a video for {user}",
            "options": {} if voice is None else {"voice": voice}}


async def test_a_poison_voice_cannot_take_the_agent_down(tmp_path: Path) -> None:
    config = _config(tmp_path)
    queued_id, loop_id = await _seed(config)
    log = tmp_path / "agent.log"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        async with agent_process(config, log, session) as agent:
            # the poison names, and an unknown one: 400 at the door, nothing charged
            for n, voice in enumerate([*POISON, "alloy"]):
                status, body = await _json(session, "POST", f"{agent.url}/v1/jobs", _submit_body("666", f"p{n}", voice))
                assert status == 400, body
                assert body["error"]["code"] == "invalid_input" and body["error"]["field"] == "voice"
                assert "en-us" in body["error"]["message"]
            # other users' jobs, one with a voice eSpeak has
            jobs = {}
            for user, voice in (("alice", "en-gb+f3"), ("bob", None)):
                status, job = await _json(session, "POST", f"{agent.url}/v1/jobs", _submit_body(user, "r1", voice))
                assert status == 202, job
                jobs[user] = job["id"]

            quarantined = await _wait(session, agent, loop_id, "failed", "done")
            assert quarantined["status"] == "failed" and quarantined["error"]["code"] == "quarantined"
            assert quarantined["error"]["refunded"] is True
            old = await _wait(session, agent, queued_id, "done", "failed")
            assert old["status"] == "done", old  # spoken with the configured voice, not !v/m1
            for user, job_id in jobs.items():
                done = await _wait(session, agent, job_id, "done", "failed")
                assert done["status"] == "done", (user, done)
                scenes = sum(done["result"]["provenance"]["image"].values())
                assert done["result"]["provenance"]["voice"] == {"offline": scenes}
            assert agent.alive()
            quotas = {u: (await _json(session, "GET", f"{agent.url}/v1/users/discord/{u}/quota"))[1]["balance"]
                      for u in ("666", "alice", "bob")}
            assert quotas == {"666": 100 - PRICE, "alice": 100 - PRICE, "bob": 100 - PRICE}
            agent.stop(signal.SIGKILL)  # a real crash: no clean shutdown

        text = log.read_text()
        assert f"job {loop_id}: quarantined after {MAX_RECOVERIES + 1} interruptions" in text
        assert f"job {queued_id}: offline voice '!v/m1' unavailable, spoke with 'en-us'" in text
        assert "Traceback" not in text and "buffer overflow" not in text and "Segmentation" not in text

        # after the crash: nothing reruns, the ledger is exact
        async with agent_process(config, log, session) as again:
            await asyncio.sleep(1.0)
            status, job = await _json(session, "GET", f"{again.url}/v1/jobs/{loop_id}")
            assert job["status"] == "failed" and job["error"]["code"] == "quarantined"
            status, report = await _json(session, "GET", f"{again.url}/v1/status")
            assert report["queue"]["running"] == 0 and report["queue"]["queued"] == 0
            assert again.alive()
    settings = load_settings(config, env={})
    async with open_database(settings.agent.database_url) as db:
        from sqlalchemy import select

        from storage import QuotaLedger
        from storage.models import LedgerEntry

        entries = await db.read(lambda s: [(e.kind, e.amount) for e in s.execute(
            select(LedgerEntry).where(LedgerEntry.job_id == loop_id).order_by(LedgerEntry.id)).scalars()])
        assert entries == [("reserve", -PRICE), ("refund", PRICE)]
        assert (await JobStore(db).get(loop_id)).recoveries == MAX_RECOVERIES
        totals = await QuotaLedger(db).totals()
        assert totals.balanced and totals.reserved == totals.settled + totals.refunded
    # a failed job's partial files go at once (issue 9, defect 4): the quarantined job's folder is gone
    assert not (Path(settings.agent.data_dir) / "jobs" / loop_id).exists()
