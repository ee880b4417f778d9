"""Fault: a second `reelbot agent` started on the same config while the first one serves jobs
(issue 9, defect 2). It used to run recovery and its workers, write into the shared database and
fail the first one's jobs on UNIQUE(job_id, seq). Now it exits 1 with one line before it opens the
database, and the first one's jobs, events and credits come through whole."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import aiohttp

from tests.faults.helpers import ROOT, Client, env, event_rows, free_port, ledger, start_agent, stop, write_config


async def test_a_second_agent_exits_in_one_line_and_the_first_loses_nothing(tmp_path):
    port = free_port()
    database = tmp_path / "data" / "reelbot.db"
    config = write_config(tmp_path / "config.toml", data_dir=tmp_path / "data", database=database, port=port,
                          workers=1)
    gate = tmp_path / "hold"
    gate.touch()
    log = tmp_path / "first.log"
    first = start_agent(config, port, gate, log)
    try:
        async with aiohttp.ClientSession() as session:
            agent = Client(session, port)
            await agent.wait_up(first, log)
            jobs = []
            for topic in ("one", "two", "three"):
                status, job = await agent.submit(topic)
                assert status == 202, job
                jobs.append(job["id"])
            await agent.wait_job(jobs[0], "running")
            before = event_rows(database)

            # the same command line an operator would run again by mistake, same port and all
            second = await asyncio.to_thread(
                subprocess.run, [sys.executable, "-m", "reelbot", "agent", "--config", str(config)],
                cwd=ROOT, env=env(), capture_output=True, text=True, timeout=60)
            assert second.returncode == 1, second.stderr
            assert second.stderr == f"reelbot: error: another agent is already using {database} (pid {first.pid})\n"
            assert second.stdout == ""

            after = event_rows(database)
            assert set(before) <= set(after), "nothing the first agent stored was removed or rewritten"
            statuses = [(await agent.call("GET", f"/v1/jobs/{j}"))[1]["status"] for j in jobs]
            assert statuses == ["running", "queued", "queued"]

            gate.unlink()
            for job_id in jobs:
                done = await agent.wait_job(job_id, "done", "failed", "cancelled")
                assert done["status"] == "done", done
                events = await agent.events(job_id)
                assert [e["seq"] for e in events] == list(range(1, done["last_seq"] + 1))
                assert events[-1]["status"] == "done"
            sums = ledger(database)
            assert sums["reserve"] == sums["settle"] + sums.get("refund", 0) == 15
            assert sums["balances"] == sums["entries"]
    finally:
        stop(first)
    assert "Traceback" not in log.read_text()
