"""The distributed mode as processes: one front door and three workers on 127.0.0.1, a real PostgreSQL.

Each test starts its own database (pgserver, tests/support/postgres.py), a front door
(`create_app` in cluster mode) and worker processes (`agent.worker.main.run_worker`) with fake
providers of fixed latency (tests/support/cluster.py). Asserted over HTTP and in the database:

    route by capability   a `gpu` job runs only on the worker with a GPU; with its GPU down the
                          route is refused at submit (400, the routes available now listed)
    cancel                reaches the worker running the job within 2 s; refunded
    SIGKILL a worker      its job runs again on another worker after the lease; charged once; an SSE
                          subscriber sees every seq once, in order, and a `moved` event; the dead
                          worker shows as lost
    SIGTERM a worker      its job is handed back and finished elsewhere; the worker exits 0; a job
                          that finishes within the grace keeps its lease (not moved, never "lost")
    front door restart    jobs and events go on; a reconnecting subscriber misses nothing
    database down         submit answers 503 storage_unavailable and nothing is charged
    console feed          the front door's console page sees a worker's job live, every event once
    a worker's disk full  it takes no job (state disk-full, the reason in the status), its route is
                          refused while no other worker serves it, and it serves again once freed;
                          a job handed to it as its disk fills goes back in line, to a worker with room;
                          a job running as it fills finishes there, the heartbeat going on
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy.engine import make_url

from agent.service.cluster import WORKERS_TTL_S
from tests.support.agent_app import sse_events
from tests.support.cluster import AUTH, CONSOLE_TOKEN, TERMINAL, Front, spawn, stop, write_config
from tests.support.pgproxy import PgProxy
from tests.support.postgres import create_database
from tests.faults.helpers import free_port

pytestmark = pytest.mark.timeout(180)


@dataclass
class Cluster:
    root: Path
    url: str
    port: int
    session: aiohttp.ClientSession
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def front(self) -> Front:
        return Front(self.session, self.port)

    def config(self, name: str, **kw: Any) -> Path:
        return write_config(self.root / f"{name}.toml", url=self.url, port=self.port,
                            data_dir=self.root / name, name=name, **kw)

    async def start_front(self, **kw: Any) -> None:
        self.procs["front"] = spawn(["front", "--config", str(self.config("front", **kw))],
                                    self.root / "front.log")
        try:
            await self.front.wait_up()
        except AssertionError:
            raise AssertionError(f"the front door did not come up:\n{self.log('front')[-3000:]}") from None

    def start_worker(self, name: str, *, gpu: bool = False, latency: float = 0.2, down: Path | None = None,
                     full: Path | None = None, **kw: Any) -> None:
        args = ["worker", "--config", str(self.config(name, **kw)), "--name", name, "--latency", str(latency)]
        if gpu:
            args.append("--gpu")
        if down is not None:
            args += ["--down", str(down)]
        if full is not None:
            args += ["--full", str(full)]
        self.procs[name] = spawn(args, self.root / f"{name}.log")

    def log(self, name: str) -> str:
        path = self.root / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        import psycopg

        from agent.taskqueue import libpq_url

        with psycopg.connect(libpq_url(self.url)) as conn:
            return list(conn.execute(sql, args).fetchall())

    async def ledger(self) -> Ledger:
        """Read straight from the database (a plain connection, on a thread)."""
        sums = dict(await asyncio.to_thread(
            self._query, "SELECT kind, COALESCE(SUM(credits), 0) FROM ledger_entries GROUP BY kind"))
        (balances,), = await asyncio.to_thread(self._query, "SELECT COALESCE(SUM(balance), 0) FROM users")
        (entries,), = await asyncio.to_thread(self._query, "SELECT COALESCE(SUM(amount), 0) FROM ledger_entries")
        return Ledger(int(sums.get("reserve", 0)), int(sums.get("settle", 0)), int(sums.get("refund", 0)),
                      balances == entries)

    async def stored_seqs(self, job_id: str) -> list[int]:
        rows = await asyncio.to_thread(self._query, "SELECT seq FROM job_events WHERE job_id = %s ORDER BY seq",
                                       job_id)
        return [int(seq) for (seq,) in rows]


@dataclass(frozen=True)
class Ledger:
    reserved: int
    settled: int
    refunded: int
    balanced: bool


@pytest.fixture
async def cluster(pg_server: Any, tmp_path: Path) -> AsyncIterator[Cluster]:
    url = await asyncio.to_thread(create_database, pg_server)
    async with aiohttp.ClientSession() as session:
        c = Cluster(tmp_path, url, free_port(), session)
        try:
            yield c
        finally:
            for proc in c.procs.values():
                await asyncio.to_thread(stop, proc, signal.SIGKILL, 10)


async def _follow(front: Front, job_id: str, into: list[dict[str, Any]], last: int = 0) -> None:
    """Subscribe to the job's events until the terminal one; reconnect (Last-Event-ID) when cut."""
    while True:
        headers = {**AUTH, "Last-Event-ID": str(last)}
        try:
            async with front.session.get(f"{front.base}/v1/jobs/{job_id}/events", headers=headers,
                                         timeout=aiohttp.ClientTimeout(total=120, sock_read=30)) as resp:
                async for event in sse_events(resp.content):
                    into.append(event)
                    last = event["seq"]
                    if event["status"] in TERMINAL:
                        return
        except (aiohttp.ClientError, OSError):
            pass
        await asyncio.sleep(0.2)


def _worker_of(events: list[dict[str, Any]]) -> str | None:
    started = [e["message"] for e in events if e["stage"] == "starting"]
    return started[-1].rsplit(" ", 1)[-1] if started else None


async def _wait_running(front: Front, job_id: str, events: list[dict[str, Any]], timeout_s: float = 30) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if (who := _worker_of(events)) is not None:
            return who
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} never started: {events}")


def _assert_stream(events: list[dict[str, Any]]) -> None:
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(1, len(seqs) + 1)), f"gap or duplicate in {seqs}"


async def test_submit_routes_by_capability_and_refuses_an_unserved_route(cluster: Cluster) -> None:
    down = cluster.root / "gpu-down"
    await cluster.start_front()
    cluster.start_worker("w1")
    cluster.start_worker("w2", gpu=True, down=down)
    cluster.start_worker("w3")
    front = cluster.front
    await front.wait_workers("w1", "w2", "w3")
    await front.wait_workers("w2", route="gpu")

    jobs = []
    for i in range(4):
        status, job = await front.submit(f"gpu topic {i}", user=f"g{i}", model="gpu")
        assert status == 202, job
        jobs.append(job["id"])
    for i in range(6):
        status, job = await front.submit(f"plain topic {i}", user=f"p{i}")
        assert status == 202, job
        jobs.append(job["id"])
    runners = {}
    for job_id in jobs:
        job = await front.wait_job(job_id, *TERMINAL, timeout_s=60)
        assert job["status"] == "done", job
        events: list[dict[str, Any]] = []
        await asyncio.wait_for(_follow(front, job_id, events), 10)
        _assert_stream(events)
        runners[job_id] = _worker_of(events)
    assert {runners[j] for j in jobs[:4]} == {"w2"}, runners  # the gpu route only where the GPU is

    workers = await front.workers()
    assert set(workers) == {"w1", "w2", "w3"}
    gpu = {b["name"]: b for b in workers["w2"]["backends"]}["comfyui"]
    assert gpu["state"] == "up" and gpu["models"] == ["fake-sdxl"] and gpu["free_vram_mb"] == 8192

    down.touch()  # the GPU server goes away: w2 re-plans without the gpu route
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        status, body = await front.submit("after the gpu went down", user="late", model="gpu",
                                          request_id=f"late-{time.monotonic()}")
        if status == 400:
            break
        # accepted in the moment before the front door heard: it ends either way, never waits forever
        # (run, or failed and refunded once no worker has served the route for unserved_after_s)
        ended = await front.wait_job(body["id"], *TERMINAL, timeout_s=30)
        assert ended["status"] == "done" or (ended["status"] == "failed" and ended["refunded"]), ended
        await asyncio.sleep(0.5)
    assert status == 400 and body["error"]["code"] == "invalid_input", body
    assert "available now: self-hosted" in body["error"]["message"], body
    totals = await cluster.ledger()
    assert totals.balanced and totals.reserved == totals.settled + totals.refunded


async def test_a_queued_job_whose_only_worker_drops_its_model_fails_refunded(cluster: Cluster) -> None:
    """The one GPU box takes two jobs (its `agent.workers`), a third waits in line; then its GPU server
    goes away and it stops serving the route. The waiting job does not wait forever: after
    `cluster.unserved_after_s` it fails, refunded, and its stream ends."""
    down = cluster.root / "gpu-down"
    await cluster.start_front()
    cluster.start_worker("w2", gpu=True, down=down, latency=4)
    front = cluster.front
    await front.wait_workers("w2", route="gpu")
    ids = []
    for i in range(3):
        status, job = await front.submit(f"gpu topic {i}", user=f"u{i}", model="gpu")
        assert status == 202, job
        ids.append(job["id"])
    events: list[dict[str, Any]] = []
    follower = asyncio.create_task(_follow(front, ids[0], events))
    await _wait_running(front, ids[0], events)
    down.touch()
    waiting = [j for j in [await front.wait_job(i, "queued", "running", *TERMINAL) for i in ids]
               if j["status"] == "queued"]
    assert waiting, "every job was taken before the GPU went down"
    ended = await front.wait_job(waiting[-1]["id"], *TERMINAL, timeout_s=30)
    assert ended["status"] == "failed" and ended["refunded"], ended
    assert ended["error"]["code"] == "all_providers_failed" and "no GPU box" in ended["error"]["message"]
    follower.cancel()
    totals = await cluster.ledger()
    assert totals.balanced


async def test_cancel_reaches_the_running_worker_within_two_seconds(cluster: Cluster) -> None:
    await cluster.start_front()
    cluster.start_worker("w1", latency=60)
    front = cluster.front
    await front.wait_workers("w1")
    status, job = await front.submit("a slow one")
    assert status == 202
    events: list[dict[str, Any]] = []
    follower = asyncio.create_task(_follow(front, job["id"], events))
    await _wait_running(front, job["id"], events)
    before = cluster.log("w1")
    asked = time.monotonic()
    status, body = await front.call("DELETE", f"/v1/jobs/{job['id']}")
    assert status == 202 and body["status"] == "cancelled", body
    needle = f"job {job['id']}: cancelled on w1"
    while needle not in cluster.log("w1")[len(before):]:
        assert time.monotonic() - asked < 2.0, f"the worker did not stop the job within 2 s:\n{cluster.log('w1')}"
        await asyncio.sleep(0.05)
    await asyncio.wait_for(follower, 10)
    _assert_stream(events)
    assert events[-1]["status"] == "cancelled" and events[-1]["error"]["credits_refunded"] == 5
    totals = await cluster.ledger()
    assert totals.reserved == 5 and totals.refunded == 5 and totals.settled == 0 and totals.balanced


async def test_a_worker_killed_mid_job_moves_its_job_charged_once_with_no_gap(cluster: Cluster) -> None:
    await cluster.start_front()
    for name in ("w1", "w2", "w3"):
        cluster.start_worker(name, latency=4)
    front = cluster.front
    await front.wait_workers("w1", "w2", "w3")
    status, job = await front.submit("killed mid job")
    assert status == 202
    events: list[dict[str, Any]] = []
    follower = asyncio.create_task(_follow(front, job["id"], events))
    victim = await _wait_running(front, job["id"], events)
    cluster.procs[victim].send_signal(signal.SIGKILL)
    killed = time.monotonic()
    await asyncio.wait_for(follower, 90)
    _assert_stream(events)
    assert [e["stage"] for e in events].count("moved") == 1, events
    moved = next(e for e in events if e["stage"] == "moved")
    assert victim in moved["message"]
    assert _worker_of(events) != victim and events[-1]["status"] == "done", events
    assert await cluster.stored_seqs(job["id"]) == [e["seq"] for e in events]
    totals = await cluster.ledger()
    assert (totals.reserved, totals.settled, totals.refunded) == (5, 5, 0) and totals.balanced
    while (await front.workers())[victim]["state"] != "lost":
        assert time.monotonic() - killed < 30, "the killed worker is not shown lost within 30 s"
        await asyncio.sleep(0.5)


async def test_sigterm_hands_the_job_back_and_the_worker_exits_cleanly(cluster: Cluster) -> None:
    await cluster.start_front()
    cluster.start_worker("w1", latency=60, grace_s=1.0)
    front = cluster.front
    await front.wait_workers("w1")
    status, job = await front.submit("handed back")
    assert status == 202
    events: list[dict[str, Any]] = []
    follower = asyncio.create_task(_follow(front, job["id"], events))
    assert await _wait_running(front, job["id"], events) == "w1"
    cluster.start_worker("w2", latency=0.2)
    await front.wait_workers("w2")
    cluster.procs["w1"].send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(cluster.procs["w1"].wait, 30) == 0, cluster.log("w1")
    await asyncio.wait_for(follower, 60)
    _assert_stream(events)
    assert any("shutting down" in e["message"] for e in events), events
    assert _worker_of(events) == "w2" and events[-1]["status"] == "done", events
    assert (await front.workers())["w1"]["state"] == "stopped"
    totals = await cluster.ledger()
    assert (totals.reserved, totals.settled, totals.refunded) == (5, 5, 0)


async def test_a_job_finishing_in_the_shutdown_grace_keeps_its_lease_and_is_not_moved(cluster: Cluster) -> None:
    """SIGTERM with a job that needs longer than cluster.lost_after_s (6 s) but less than the grace
    (30 s): the queue engine stops its heartbeat at once, the worker keeps it (and its own) beating,
    so no other worker takes the job meanwhile; it is done where it ran, and the worker exits 0."""
    await cluster.start_front()
    cluster.start_worker("w1", latency=12, grace_s=30.0)
    cluster.start_worker("w2", latency=0.2)
    front = cluster.front
    await front.wait_workers("w1", "w2")
    events: list[dict[str, Any]] = []
    for attempt in range(10):  # until w1 gets one (the queue engine gives it to whichever asks first)
        status, job = await front.submit(f"finished in the grace {attempt}", user=f"g{attempt}")
        assert status == 202
        events = []
        follower = asyncio.create_task(_follow(front, job["id"], events))
        if await _wait_running(front, job["id"], events) == "w1":
            break
        await asyncio.wait_for(follower, 30)
    else:
        raise AssertionError("w1 never got a job")
    cluster.procs["w1"].send_signal(signal.SIGTERM)
    states = set()
    while cluster.procs["w1"].poll() is None:
        states.add((await front.workers())["w1"]["state"])
        await asyncio.sleep(0.3)
    assert cluster.procs["w1"].returncode == 0, cluster.log("w1")[-3000:]
    assert states <= {"up", "stopping", "stopped"} and "stopping" in states, states  # never "lost"
    await asyncio.wait_for(follower, 30)
    _assert_stream(events)
    assert _worker_of(events) == "w1" and not any(e["stage"] == "moved" for e in events), events
    assert events[-1]["status"] == "done", events[-1]
    totals = await cluster.ledger()
    assert totals.reserved == totals.settled and totals.refunded == 0 and totals.balanced


async def test_a_front_door_restart_loses_no_job_and_no_event(cluster: Cluster) -> None:
    await cluster.start_front()
    cluster.start_worker("w1", latency=3)
    cluster.start_worker("w2", latency=3)
    front = cluster.front
    await front.wait_workers("w1", "w2")
    ids = []
    for i in range(4):
        status, job = await front.submit(f"restart {i}", user=f"r{i}")
        assert status == 202
        ids.append(job["id"])
    streams: dict[str, list[dict[str, Any]]] = {job_id: [] for job_id in ids}
    followers = [asyncio.create_task(_follow(front, job_id, streams[job_id])) for job_id in ids]
    await asyncio.sleep(1.0)
    cluster.procs["front"].send_signal(signal.SIGKILL)
    await asyncio.to_thread(cluster.procs["front"].wait, 10)
    await asyncio.sleep(2.0)  # the workers go on; their videos wait for a front door
    await cluster.start_front()
    await asyncio.wait_for(asyncio.gather(*followers), 90)
    for job_id in ids:
        _assert_stream(streams[job_id])
        assert streams[job_id][-1]["status"] == "done", streams[job_id]
        assert await cluster.stored_seqs(job_id) == [e["seq"] for e in streams[job_id]]
        async with front.session.get(f"{front.base}/v1/jobs/{job_id}/video", headers={**AUTH, "Range": "bytes=0-9"},
                                     timeout=aiohttp.ClientTimeout(total=10)) as resp:
            assert resp.status == 206 and len(await resp.read()) == 10
    totals = await cluster.ledger()
    assert (totals.reserved, totals.settled, totals.refunded) == (20, 20, 0) and totals.balanced


async def test_database_down_submit_is_a_clear_503_and_nothing_is_charged(cluster: Cluster) -> None:
    proxy = PgProxy(f"{socket_dir_of(cluster.url)}/.s.PGSQL.5432")
    port = await proxy.start()
    name = make_url(cluster.url).database
    direct = cluster.url
    cluster.url = f"postgresql+asyncpg://postgres@127.0.0.1:{port}/{name}"
    try:
        await cluster.start_front()
        cluster.start_worker("w1")
        await cluster.front.wait_workers("w1")
        status, job = await cluster.front.submit("before", user="d1")
        assert status == 202
        await cluster.front.wait_job(job["id"], "done")
        await proxy.down()
        status, body = await cluster.front.submit("while the database is down", user="d1")
        assert status == 503 and body["error"]["code"] == "storage_unavailable", body
        assert "nothing was changed or charged" in body["error"]["message"]
    finally:
        await proxy.down()
    cluster.url = direct
    totals = await cluster.ledger()
    assert (totals.reserved, totals.settled, totals.refunded) == (5, 5, 0) and totals.balanced


def socket_dir_of(url: str) -> str:
    return url.split("host=", 1)[1]



async def test_a_download_at_another_front_door_is_streamed_from_the_holder(cluster: Cluster) -> None:
    await cluster.start_front()
    other_port = free_port()
    other = write_config(cluster.root / "front2.toml", url=cluster.url, port=other_port,
                         data_dir=cluster.root / "front2", name="front2")
    cluster.procs["front2"] = spawn(["front", "--config", str(other)], cluster.root / "front2.log")
    second = Front(cluster.session, other_port)
    await second.wait_up()
    cluster.start_worker("w1")  # hands its videos to the first front door
    await cluster.front.wait_workers("w1")
    status, job = await second.submit("through the second door")
    assert status == 202
    await second.wait_job(job["id"], "done")
    assert not (cluster.root / "front2" / "jobs" / job["id"] / "video.mp4").exists()
    held = (cluster.root / "front" / "jobs" / job["id"] / "video.mp4").read_bytes()
    url = f"{second.base}/v1/jobs/{job['id']}/video"
    async with cluster.session.get(url, headers=AUTH, timeout=aiohttp.ClientTimeout(total=10)) as resp:
        assert resp.status == 200 and await resp.read() == held
        assert resp.headers["Content-Disposition"].startswith("attachment")
    async with cluster.session.get(url, headers={**AUTH, "Range": "bytes=10-19"},
                                   timeout=aiohttp.ClientTimeout(total=10)) as resp:
        assert resp.status == 206 and await resp.read() == held[10:20]
        assert resp.headers["Content-Range"] == f"bytes 10-19/{len(held)}"
    # the worker endpoints take the worker token only
    async with cluster.session.get(f"{cluster.front.base}/v1/worker/jobs/{job['id']}/video", headers=AUTH,
                                   timeout=aiohttp.ClientTimeout(total=10)) as resp:
        assert resp.status == 401


async def _wait_worker_state(front: Front, name: str, state: str, timeout_s: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    seen: dict[str, Any] = {}
    while time.monotonic() < deadline:
        seen = await front.workers()
        if name in seen and seen[name]["state"] == state:
            return seen[name]  # type: ignore[no-any-return]
        await asyncio.sleep(0.2)
    raise AssertionError(f"worker {name} never {state}: {seen}")


async def test_a_worker_with_a_full_disk_takes_no_job_until_space_is_freed(cluster: Cluster) -> None:
    full = cluster.root / "w1-full"
    await cluster.start_front()
    cluster.start_worker("w1", full=full, min_free_disk_mb=500)
    front = cluster.front
    await front.wait_workers("w1")

    full.touch()  # its data directory drops below agent.min_free_disk_mb
    info = await _wait_worker_state(front, "w1", "disk-full")
    assert "1 MB free (minimum 500 MB)" in info["problem"] and "no new job" in info["problem"], info
    _, status = await front.call("GET", "/v1/status")
    assert status["state"] == "degraded", status
    assert any(p.startswith("worker w1: the data directory") for p in status["problems"]), status["problems"]
    async with front.session.get(f"{front.base}/metrics") as resp:  # a Prometheus on the box (loopback)
        assert 'reelbot_cluster_workers{state="disk-full"} 1.0' in await resp.text()
    await asyncio.sleep(WORKERS_TTL_S + 0.2)  # the front door's view of the workers is this old at most
    code, body = await front.submit("while the only worker is full")
    assert code == 400 and "available now: none" in body["error"]["message"], body
    assert "worker w1: serving routes (none: the data directory" in cluster.log("w1")

    cluster.start_worker("w2")  # a box with room: the route is served again, by it alone
    await front.wait_workers("w2")
    ids = []
    for i in range(3):
        code, job = await front.submit(f"while w1 is full {i}", user=f"f{i}")
        assert code == 202, job
        ids.append(job["id"])
    for job_id in ids:
        assert (await front.wait_job(job_id, *TERMINAL))["status"] == "done"
        events: list[dict[str, Any]] = []
        await asyncio.wait_for(_follow(front, job_id, events), 10)
        assert _worker_of(events) == "w2", events
    assert "not started on w1" not in cluster.log("w1"), "the full worker still fetched jobs"

    full.unlink()  # space freed: it serves again, without a restart
    await front.wait_workers("w1")
    info = (await front.workers())["w1"]
    assert "problem" not in info, info
    cluster.procs["w2"].send_signal(signal.SIGTERM)  # so the next job can only be w1's
    await _wait_worker_state(front, "w2", "stopped")
    code, job = await front.submit("after the disk was freed")
    assert code == 202, job
    assert (await front.wait_job(job["id"], *TERMINAL))["status"] == "done"
    _, status = await front.call("GET", "/v1/status")
    assert not any(p.startswith("worker w1") for p in status["problems"]), status["problems"]
    totals = await cluster.ledger()
    assert (totals.reserved, totals.settled, totals.refunded) == (20, 20, 0) and totals.balanced


async def test_a_job_handed_to_a_worker_whose_disk_just_filled_goes_to_one_with_room(cluster: Cluster) -> None:
    """w1's disk fills between two heartbeats (30 s apart) while it still listens: the job it is
    handed is not started there but goes back in line, and w2 makes it, charged once."""
    full = cluster.root / "w1-full"
    await cluster.start_front()
    cluster.start_worker("w1", full=full, min_free_disk_mb=500, heartbeat_s=30.0, lost_after_s=60.0)
    front = cluster.front
    await front.wait_workers("w1")
    full.touch()
    code, job = await front.submit("handed to a full worker")  # w1's last heartbeat said "up"
    assert code == 202, job
    deadline = time.monotonic() + 20
    while f"job {job['id']}: not started on w1" not in cluster.log("w1"):
        assert time.monotonic() < deadline, f"w1 never refused the job:\n{cluster.log('w1')[-3000:]}"
        await asyncio.sleep(0.1)
    cluster.start_worker("w2")
    ended = await front.wait_job(job["id"], *TERMINAL, timeout_s=60)
    assert ended["status"] == "done", ended
    events: list[dict[str, Any]] = []
    await asyncio.wait_for(_follow(front, job["id"], events), 10)
    _assert_stream(events)
    assert _worker_of(events) == "w2" and not any(e["stage"] == "moved" for e in events), events
    totals = await cluster.ledger()
    assert (totals.reserved, totals.settled, totals.refunded) == (5, 5, 0) and totals.balanced


async def test_a_worker_whose_disk_fills_mid_job_keeps_heartbeating_while_the_job_finishes(cluster: Cluster) -> None:
    """Stopping to take jobs waits for the running ones; the heartbeat does not: the worker is shown
    disk-full (never lost) while its job finishes, and the job is done, charged once."""
    full = cluster.root / "w1-full"
    await cluster.start_front()
    cluster.start_worker("w1", full=full, min_free_disk_mb=500, latency=12)  # a job waits 12 s on its script
    front = cluster.front
    await front.wait_workers("w1")
    code, job = await front.submit("a long one")
    assert code == 202, job
    events: list[dict[str, Any]] = []
    follower = asyncio.create_task(_follow(front, job["id"], events))
    await _wait_running(front, job["id"], events)
    full.touch()
    await _wait_worker_state(front, "w1", "disk-full", timeout_s=5)
    states = set()
    while not follower.done():  # longer than cluster.lost_after_s (6 s): heartbeats go on meanwhile
        states.add((await front.workers())["w1"]["state"])
        await asyncio.sleep(0.3)
    assert states == {"disk-full"}, states
    assert events[-1]["status"] == "done", events[-1]
    totals = await cluster.ledger()
    assert (totals.reserved, totals.settled, totals.refunded) == (5, 5, 0) and totals.balanced


async def test_the_front_doors_console_feed_shows_a_workers_job_live(cluster: Cluster) -> None:
    await cluster.start_front()
    cluster.start_worker("w1", latency=1)
    front = cluster.front
    await front.wait_workers("w1")
    base = front.base
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as page:
        resp = await page.post(f"{base}/console/login", data={"token": CONSOLE_TOKEN}, headers={"Origin": base},
                               allow_redirects=False)
        assert resp.status == 303, await resp.text()
        async with page.get(f"{base}/console/events",
                            timeout=aiohttp.ClientTimeout(total=60, sock_read=30)) as stream:
            assert stream.status == 200
            await asyncio.sleep(0.5)  # the relay notes where this page starts (cluster.event_poll_s)
            status, job = await front.submit("seen on the console")
            assert status == 202, job
            seen: list[dict[str, Any]] = []
            async for event in sse_events(stream.content):
                if event.get("job_id") == job["id"]:
                    seen.append(event)
                    if event["status"] in TERMINAL:
                        break
    _assert_stream(seen)
    assert seen[-1]["status"] == "done" and any(e["stage"] == "starting" for e in seen), seen
    assert [e["seq"] for e in seen] == await cluster.stored_seqs(job["id"])
