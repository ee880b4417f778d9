"""A real `reelbot agent` killed with SIGKILL mid-render, then started again on the same data.

Asserted: no ffmpeg child survives the agent; after the restart every job finishes (resumed from its
manifest) or fails with a refund; the ledger is exact per user (reserved = settled + refunded); no
`.video-render-*` folder or partial file is left; and an SSE client that resumes from the last seq it
saw gets every later event, in order, with no seq it saw reused for a different event.

Everything runs on 127.0.0.1 with the offline tier, small frames and a 2-second event flush (so the
kill finds events that were streamed but not yet stored).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.agent_app import sse_events

TOKEN = "kill9-test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TERMINAL = ("done", "failed", "cancelled")
SURVIVAL_LIMIT_S = 0.5  # an orphaned encoder finishes its file in about a second; a killed one is gone at once

pytestmark = pytest.mark.timeout(150)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(tmp_path: Path, port: int) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(f"""
[video]
length = "short"
size_scale = 0.3   # 324x576 frames: the render takes seconds, not minutes
fps = 15
overlap = false    # the render runs alone, after the pictures and the voice: the kill lands inside it

[stages]
script = ["offline"]
image = ["offline"]
clip = []
voice = ["offline"]

[routes.paid]
label = "Paid (offline)"
price = 10
image = ["offline"]

[agent]
host = "127.0.0.1"
port = {port}
data_dir = "{tmp_path / 'data'}"
database_url = "sqlite+aiosqlite:///{tmp_path / 'agent.db'}"
workers = 2
event_flush_s = 2.0   # events stream at once and are stored every 2 s
sse_keepalive_s = 1.0

[quotas]
daily_credits = 100
max_in_flight = 5
""")
    return path


class Agent:
    """One `reelbot agent` process."""

    def __init__(self, tmp_path: Path, config: Path, port: int, run: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.log = tmp_path / f"agent-{run}.log"
        env = {**os.environ, "REELBOT_AGENT_TOKEN": TOKEN}
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "reelbot", "agent", "--config", str(config)],
                                         cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)

    async def ready(self, session: aiohttp.ClientSession, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(f"{self.url}/v1/users/discord/0/quota", headers=AUTH) as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.1)
        raise AssertionError(f"the agent did not start: {self.log.read_text()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _procs() -> list[tuple[int, int, str]]:
    """(pid, ppid, command line) of every live process."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if state != "Z":
            found.append((int(entry.name), int(ppid), cmdline))
    return found


def _ffmpeg_children(parent: int) -> list[int]:
    return [pid for pid, ppid, cmd in _procs() if ppid == parent and "ffmpeg" in cmd]


def _ffmpeg_using(folder: Path) -> list[int]:
    return [pid for pid, _, cmd in _procs() if "ffmpeg" in cmd and str(folder) in cmd]


async def _events(session: aiohttp.ClientSession, url: str, job_id: str, last: int = 0) -> AsyncIterator[dict[str, Any]]:
    headers = {**AUTH, "Last-Event-ID": str(last)} if last else AUTH
    async with session.get(f"{url}/v1/jobs/{job_id}/events", headers=headers) as resp:
        assert resp.status == 200
        async for event in sse_events(resp.content):
            yield event


async def _submit(session: aiohttp.ClientSession, url: str, user: str, topic: str) -> dict[str, Any]:
    body = {"request_id": f"kill9-{user}", "user": {"platform": "discord", "id": user, "name": user},
            "topic": topic, "options": {"model": "paid"}}
    async with session.post(f"{url}/v1/jobs", json=body, headers=AUTH) as resp:
        data = await resp.json()
        assert resp.status == 202, data
        return dict(data)


def _stored_last_seq(db: Path, job_id: str) -> int:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return int(conn.execute("SELECT last_seq FROM jobs WHERE id = ?", (job_id,)).fetchone()[0])


def _ledger_by_user(db: Path) -> dict[str, dict[str, int]]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        rows = conn.execute("SELECT u.platform_user_id, e.kind, SUM(e.credits), SUM(e.amount) FROM ledger_entries e "
                            "JOIN users u ON u.id = e.user_id GROUP BY u.platform_user_id, e.kind").fetchall()
        balances = dict(conn.execute("SELECT platform_user_id, balance FROM users").fetchall())
    out: dict[str, dict[str, int]] = {}
    for user, kind, credits, amount in rows:
        out.setdefault(user, {"amount": 0})[kind] = int(credits)
        out[user]["amount"] += int(amount)
    for user, balance in balances.items():
        out.setdefault(user, {"amount": 0})["balance"] = int(balance)
    return out


async def test_sigkill_mid_render_then_restart(tmp_path: Path) -> None:
    port = _free_port()
    config = _config(tmp_path, port)
    data, db = tmp_path / "data", tmp_path / "agent.db"
    first = Agent(tmp_path, config, port, 1)
    second: Agent | None = None
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=5)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session:
            await first.ready(session)
            followed = await _submit(session, first.url, "ann", "the life cycle of a star")
            other = await _submit(session, first.url, "bob", "how volcanoes work")

            # follow one job; kill the agent while it renders (the encoder is in-process; any ffmpeg
            # child it has then, decoding audio or clips, must die with it), right after an event arrived
            seen: list[dict[str, Any]] = []
            killed_with: list[int] = []
            killed = asyncio.Event()

            async def follow() -> None:
                with contextlib.suppress(aiohttp.ClientError):  # the agent dies under us
                    async for event in _events(session, first.url, followed["id"]):
                        seen.append(event)
                        assert event["status"] not in TERMINAL, "the job ended before the kill"
                        if event["stage"] == "render" and event["progress"] < 0.99:
                            killed_with.extend(_ffmpeg_children(first.proc.pid))
                            os.kill(first.proc.pid, signal.SIGKILL)
                            killed.set()
                            return

            await asyncio.wait_for(follow(), 90)
            assert killed.is_set(), "the render never started"
            first.proc.wait(10)

            # 1. no ffmpeg survives the agent (the kernel kills them as it dies: allow for scheduling only)
            def survivors() -> list[int]:
                live = {pid for pid, _, _ in _procs()}
                return sorted(live & set(killed_with)) + _ffmpeg_using(data)

            deadline = time.monotonic() + SURVIVAL_LIMIT_S
            # other processes' exits signal nothing here: /proc is polled
            while await asyncio.to_thread(survivors) and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
            assert survivors() == [], "ffmpeg outlived the agent"

            # what the kill left: a render folder, and events streamed but never stored
            last = seen[-1]["seq"]
            assert last > _stored_last_seq(db, followed["id"]), "the kill found every streamed event stored"
            left = list(data.rglob(".video-render-*"))
            assert left, "expected the crash to leave the render folder"

            # 2. start again on the same data
            second = Agent(tmp_path, config, port, 2)
            await second.ready(session)
            assert [p for p in left if p.exists()] == [], "the start did not sweep the render folders"
            resumed = [e async for e in _events(session, second.url, followed["id"], last=last)]
            other_events = [e async for e in _events(session, second.url, other["id"])]

            # 3. the resuming client: only later events, in order, no duplicates, to the end
            seqs = [e["seq"] for e in resumed]
            assert resumed and resumed[-1]["status"] in ("done", "failed"), resumed[-3:]
            assert seqs == sorted(set(seqs)) and seqs[0] > last, seqs
            # ...and no seq it saw before the kill now means a different event; nothing missed
            replay = [e async for e in _events(session, second.url, followed["id"])]
            saw = {e["seq"]: e for e in seen}
            reused = [e["seq"] for e in replay if e["seq"] in saw and e != saw[e["seq"]]]
            assert reused == [], f"seq reused for different events: {reused}"
            assert [e for e in replay if e["seq"] > last] == resumed
            assert [e["seq"] for e in replay] == sorted({e["seq"] for e in replay})

            # 4. each job finished (resumed) or failed with a refund
            for events in (resumed, other_events):
                end = events[-1]
                assert end["status"] == "done" or (end["status"] == "failed" and end["error"]["refunded"]), end
            if resumed[-1]["status"] == "done":
                assert any("restarted" in e["message"] for e in resumed)

        second.stop()
        # 5. the ledger is exact for each user, and nothing is left behind
        ledger = _ledger_by_user(db)
        for user in ("ann", "bob"):
            entries = ledger[user]
            assert entries.get("reserve", 0) == 10, entries
            assert entries["reserve"] == entries.get("settle", 0) + entries.get("refund", 0), entries
            assert entries["balance"] == entries["amount"], entries
        assert list(data.rglob(".video-render-*")) == []
        assert [p for p in data.rglob(".*") if p.suffix in (".tmp", ".part")] == []
        assert _ffmpeg_using(data) == []
    finally:
        for agent in (first, second):
            if agent is not None and agent.proc.poll() is None:
                agent.proc.kill()
                agent.proc.wait()
        for pid in _ffmpeg_using(tmp_path):  # never leave a stray encoder, even when the test fails
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
