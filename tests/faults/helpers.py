"""Shared by the fault tests: a config file, agent processes, HTTP calls with deadlines, ledger sums."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "fault-test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(path: Path, *, data_dir: Path, database: Path, port: int, **agent: Any) -> Path:
    lines = ["[stages]", 'script = ["offline"]', 'image = ["offline"]', "clip = []", 'voice = ["offline"]', "",
             "[agent]", f'data_dir = "{data_dir}"', f'database_url = "sqlite+aiosqlite:///{database}"',
             f"port = {port}", "event_flush_s = 0.05"]
    lines += [f"{k} = {v!r}" if not isinstance(v, str) else f'{k} = "{v}"' for k, v in agent.items()]
    lines += ["", "[routes.self-hosted]", 'label = "Self-hosted"', "price = 5", "",
              "[quotas]", "daily_credits = 100", "max_in_flight = 10"]
    path.write_text("\n".join(lines) + "\n")
    return path


def env() -> dict[str, str]:
    return {**os.environ, "REELBOT_AGENT_TOKEN": TOKEN, "PYTHONUNBUFFERED": "1"}


def start_agent(config: Path, port: int, gate: Path, log: Path, *, prefix: list[str] | None = None) -> subprocess.Popen:
    """The fault agent (tests.faults.agent_main), optionally under a wrapper such as unshare."""
    cmd = [*(prefix or []), sys.executable, "-m", "tests.faults.agent_main", "--config", str(config),
           "--port", str(port), "--gate", str(gate)]
    with log.open("wb") as out:  # the child has its own copy of the descriptor
        return subprocess.Popen(cmd, cwd=ROOT, env=env(), stdout=out, stderr=subprocess.STDOUT)


def stop(proc: subprocess.Popen, timeout_s: float = 20.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


class Client:
    """JSON calls to an agent on 127.0.0.1, each bounded."""

    def __init__(self, session: aiohttp.ClientSession, port: int) -> None:
        self.session, self.base = session, f"http://127.0.0.1:{port}"

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.session.request(method, self.base + path, json=body, headers=AUTH,
                                        timeout=aiohttp.ClientTimeout(total=15)) as resp:
            return resp.status, await resp.json(content_type=None)

    async def wait_up(self, proc: subprocess.Popen, log: Path, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert proc.poll() is None, f"the agent exited: {(await asyncio.to_thread(log.read_text))[-3000:]}"
            try:
                status, _ = await self.call("GET", "/v1/status")
                if status == 200:
                    return
            except (aiohttp.ClientError, OSError):
                pass
            await _sleep(0.2)
        raise AssertionError(f"the agent did not come up: {(await asyncio.to_thread(log.read_text))[-3000:]}")

    async def submit(self, topic: str, user: str = "42") -> tuple[int, Any]:
        return await self.call("POST", "/v1/jobs", {"request_id": f"req-{topic}", "topic": topic,
                                                    "user": {"platform": "discord", "id": user}})

    async def wait_job(self, job_id: str, *statuses: str, timeout_s: float = 60.0, message: str | None = None) -> Any:
        deadline = time.monotonic() + timeout_s
        job: Any = None
        while time.monotonic() < deadline:
            _, job = await self.call("GET", f"/v1/jobs/{job_id}")
            if job["status"] in statuses and (message is None or job["message"] == message):
                return job
            await _sleep(0.1)
        raise AssertionError(f"job {job_id} never reached {statuses}: {job}")

    async def events(self, job_id: str, timeout_s: float = 15.0) -> list[dict[str, Any]]:
        """The job's whole event stream, until it ends."""
        from agent.protocol import parse_sse_block

        async with self.session.get(f"{self.base}/v1/jobs/{job_id}/events", headers=AUTH,
                                    timeout=aiohttp.ClientTimeout(total=timeout_s)) as resp:
            text = await resp.text()
        return [e for _, e in (parse_sse_block(b) for b in text.split("\n\n")) if e is not None]


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)


def ledger(database: Path) -> dict[str, int]:
    """Sums by kind, the balances and the entries' sum, read straight from the SQLite file."""
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        sums = dict(conn.execute("SELECT kind, COALESCE(SUM(credits), 0) FROM ledger_entries GROUP BY kind"))
        sums["balances"] = conn.execute("SELECT COALESCE(SUM(balance), 0) FROM users").fetchone()[0]
        sums["entries"] = conn.execute("SELECT COALESCE(SUM(amount), 0) FROM ledger_entries").fetchone()[0]
        return sums
    finally:
        conn.close()


def event_rows(database: Path) -> list[tuple[str, int, str]]:
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        return list(conn.execute("SELECT job_id, seq, data FROM job_events ORDER BY job_id, seq"))
    finally:
        conn.close()
