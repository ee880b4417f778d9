"""The distributed mode under load: a front door and 1, then 3 worker processes on a real PostgreSQL.

    .venv/bin/python bench/cluster_bench.py [--jobs 300] [--users 60] [--latency 1.5] [--concurrency 4]

Every process is the product's own (`create_app` in cluster mode, `agent.worker.main.run_worker`);
the workers' providers are fakes of fixed latency (the script call waits `--latency` seconds, the
rest is instant, the renderer writes a small file), so the CPU is not the limit and the scaling is
the cluster's. PostgreSQL is started in a temp dir by pgserver. Three runs, each on a fresh database:

    1 worker     300 jobs from 60 users, submitted at once
    3 workers    the same
    3 workers, one killed with SIGKILL when a third of the jobs are done (its jobs move after the lease)

Reported per run: throughput (jobs done per second, first submit to last done), submit latency p50/p99,
events lost or duplicated (every job's stored seqs must be 1..N, and a sample of SSE subscribers
must see exactly the stored events), jobs lost (not done) or run twice to completion (a pipeline
finishing twice, from the workers' logs), and the ledger (reserved = settled + refunded, balances =
sum of entries). The last line: scale_3_over_1=X.XX lost=N duplicated=N ledger=balanced|UNBALANCED
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import statistics
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.taskqueue import libpq_url  # noqa: E402
from tests.support.agent_app import sse_events  # noqa: E402
from tests.support.cluster import AUTH, TERMINAL, Front, spawn, stop, write_config  # noqa: E402
from tests.support.postgres import socket_dir  # noqa: E402

SSE_SAMPLE = 10


@dataclass
class RunResult:
    label: str
    done: int
    seconds: float
    submit_p50_ms: float
    submit_p99_ms: float
    lost: int
    twice: int
    moved: int
    events_lost: int
    events_duplicated: int
    reserved: int
    settled: int
    refunded: int
    balanced: bool

    @property
    def throughput(self) -> float:
        return self.done / self.seconds if self.seconds else 0.0

    def line(self) -> str:
        ledger = "balanced" if self.balanced and self.reserved == self.settled + self.refunded else "UNBALANCED"
        return (f"{self.label:<26} {self.done:4d} done in {self.seconds:6.1f} s = {self.throughput:5.2f} jobs/s | "
                f"submit p50 {self.submit_p50_ms:5.1f} ms p99 {self.submit_p99_ms:6.1f} ms | lost {self.lost} "
                f"run twice {self.twice} moved {self.moved} | events lost {self.events_lost} "
                f"duplicated {self.events_duplicated} | "
                f"ledger reserved {self.reserved} = settled {self.settled} + refunded {self.refunded}: {ledger}")


def _query(url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(libpq_url(url)) as conn:
        return list(conn.execute(sql, args or None).fetchall())


async def _follow(front: Front, job_id: str) -> list[int]:
    seqs: list[int] = []
    last = 0
    while True:
        try:
            async with front.session.get(f"{front.base}/v1/jobs/{job_id}/events",
                                         headers={**AUTH, "Last-Event-ID": str(last)},
                                         timeout=aiohttp.ClientTimeout(total=600, sock_read=60)) as resp:
                async for event in sse_events(resp.content):
                    seqs.append(event["seq"])
                    last = event["seq"]
                    if event["status"] in TERMINAL:
                        return seqs
        except (aiohttp.ClientError, OSError):
            await asyncio.sleep(0.5)


async def run(label: str, server: Any, root: Path, *, workers: int, jobs: int, users: int, latency: float,
              concurrency: int, kill_one: bool) -> RunResult:
    name = f"bench_{workers}_{int(kill_one)}"
    server.psql(f"CREATE DATABASE {name};")
    url = f"postgresql+asyncpg://postgres@/{name}?host={socket_dir(server)}"
    port = _free_port()
    here = root / name
    here.mkdir()

    def config(who: str) -> Path:
        return write_config(here / f"{who}.toml", url=url, port=port, data_dir=here / who, name=who,
                            latency=latency, workers=concurrency, max_in_flight=jobs // users, daily=10_000,
                            heartbeat_s=1.0, lost_after_s=5.0, event_poll_s=0.5, size_scale=0.05,
                            event_flush_s=0.5)

    procs = {"front": spawn(["front", "--config", str(config("front"))], here / "front.log")}
    names = [f"w{i + 1}" for i in range(workers)]
    for who in names:
        procs[who] = spawn(["worker", "--config", str(config(who)), "--name", who, "--latency", str(latency)],
                           here / f"{who}.log")
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200)) as session:
            front = Front(session, port)
            await front.wait_up(120)
            await front.wait_workers(*names, timeout_s=120)
            latencies: list[float] = []
            ids: list[str] = []
            gate = asyncio.Semaphore(30)

            async def submit(i: int) -> None:
                async with gate:
                    began = time.perf_counter()
                    status, job = await front.submit(f"topic {i}", user=f"user{i % users}", request_id=f"r{i}")
                    latencies.append((time.perf_counter() - began) * 1000)
                    assert status == 202, job
                    ids.append(job["id"])

            started = time.monotonic()
            await asyncio.gather(*(submit(i) for i in range(jobs)))
            followers = [asyncio.create_task(_follow(front, job_id)) for job_id in ids[:SSE_SAMPLE]]
            killed = False
            while True:
                (done,), = await asyncio.to_thread(
                    _query, url, "SELECT COUNT(*) FROM jobs WHERE status IN ('done', 'failed', 'cancelled')")
                if kill_one and not killed and done >= jobs // 3:
                    procs[names[-1]].send_signal(signal.SIGKILL)
                    killed = True
                if done >= jobs:
                    break
                await asyncio.sleep(0.5)
            (last_finish,), = await asyncio.to_thread(_query, url, "SELECT MAX(finished_at) FROM jobs")
            (first_created,), = await asyncio.to_thread(_query, url, "SELECT MIN(created_at) FROM jobs")
            elapsed = min(time.monotonic() - started, float(last_finish - first_created) + 0.001)
            sampled = await asyncio.wait_for(asyncio.gather(*followers), 120)
    finally:
        for proc in procs.values():
            await asyncio.to_thread(stop, proc, signal.SIGTERM, 30)

    statuses = dict(await asyncio.to_thread(_query, url, "SELECT status, COUNT(*) FROM jobs GROUP BY status"))
    rows = await asyncio.to_thread(_query, url, "SELECT job_id, seq FROM job_events ORDER BY job_id, seq")
    last_seq = dict(await asyncio.to_thread(_query, url, "SELECT id, last_seq FROM jobs"))
    by_job: dict[str, list[int]] = {}
    for job_id, seq in rows:
        by_job.setdefault(job_id, []).append(int(seq))
    events_lost = sum(max(0, last_seq[j] - len(set(by_job.get(j, [])))) for j in last_seq)
    events_dup = sum(len(s) - len(set(s)) for s in by_job.values())
    for job_id, seen in zip(ids[:SSE_SAMPLE], sampled, strict=True):
        stored = by_job.get(job_id, [])
        events_dup += len(seen) - len(set(seen))
        events_lost += len(set(stored) - set(seen))
    # run twice to completion: a job settled twice, or with two terminal events (a run that was moved
    # after its worker died, and so ran again, is not: it completed once)
    twice = len(await asyncio.to_thread(
        _query, url, "SELECT job_id FROM ledger_entries WHERE kind = 'settle' GROUP BY job_id HAVING COUNT(*) > 1"))
    twice += len(await asyncio.to_thread(
        _query, url, "SELECT job_id FROM job_events WHERE data LIKE '%\"status\":\"done\"%' "
        "GROUP BY job_id HAVING COUNT(*) > 1"))
    moved = len(await asyncio.to_thread(
        _query, url, "SELECT DISTINCT job_id FROM job_events WHERE data LIKE '%\"stage\":\"moved\"%'"))
    sums = dict(await asyncio.to_thread(
        _query, url, "SELECT kind, COALESCE(SUM(credits), 0) FROM ledger_entries GROUP BY kind"))
    (balances,), = await asyncio.to_thread(_query, url, "SELECT COALESCE(SUM(balance), 0) FROM users")
    (entries,), = await asyncio.to_thread(_query, url, "SELECT COALESCE(SUM(amount), 0) FROM ledger_entries")
    latencies.sort()
    return RunResult(
        label=label, done=int(statuses.get("done", 0)), seconds=elapsed,
        submit_p50_ms=statistics.median(latencies), submit_p99_ms=latencies[int(0.99 * (len(latencies) - 1))],
        lost=jobs - int(statuses.get("done", 0)), twice=twice, moved=moved,
        events_lost=events_lost, events_duplicated=events_dup, reserved=int(sums.get("reserve", 0)),
        settled=int(sums.get("settle", 0)), refunded=int(sums.get("refund", 0)), balanced=balances == entries,
    )


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--jobs", type=int, default=300)
    p.add_argument("--users", type=int, default=60)
    p.add_argument("--latency", type=float, default=2.0, help="seconds each fake job waits on its backend")
    p.add_argument("--concurrency", type=int, default=4, help="jobs at once per worker (agent.workers)")
    args = p.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

        root = Path(tempfile.mkdtemp(prefix="reelbot-cluster-bench-"))
        server = pgserver.get_server(str(root / "pg"), cleanup_mode="stop")
    try:
        kw = dict(jobs=args.jobs, users=args.users, latency=args.latency, concurrency=args.concurrency)
        print(f"{args.jobs} jobs from {args.users} users; each job waits {args.latency} s on fake backends; "
              f"{args.concurrency} jobs at once per worker; PostgreSQL 16 (pgserver)", flush=True)
        one = await run("1 worker", server, root, workers=1, kill_one=False, **kw)  # type: ignore[arg-type]
        print(one.line(), flush=True)
        three = await run("3 workers", server, root, workers=3, kill_one=False, **kw)  # type: ignore[arg-type]
        print(three.line(), flush=True)
        killed = await run("3 workers, one SIGKILLed", server, root, workers=3, kill_one=True,
                           **kw)  # type: ignore[arg-type]
        print(killed.line(), flush=True)
    finally:
        server.cleanup()
    runs = (one, three, killed)
    lost = sum(r.lost + r.events_lost for r in runs)
    duplicated = sum(r.twice + r.events_duplicated for r in runs)
    balanced = all(r.balanced and r.reserved == r.settled + r.refunded for r in runs)
    scale = three.throughput / one.throughput if one.throughput else 0.0
    print(f"scale_3_over_1={scale:.2f} lost={lost} duplicated={duplicated} "
          f"ledger={'balanced' if balanced else 'UNBALANCED'}")
    return 0 if scale >= 2.7 and not lost and not duplicated and balanced else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
