"""Load the agent: 200 jobs from 50 users at once, every job's events followed to the end.

    .venv/bin/python bench/agent_load.py [--jobs 200] [--users 50] [--workers 8]

The agent runs on 127.0.0.1 (a real aiohttp server, a real SQLite file in a temp dir) with instant
fake providers (pre-made PNG/WAV bytes written per scene) and a stub renderer, so what is measured is
the service itself: submission (credits reserved in SQLite), queueing, events, SSE fan-out, the final
bookkeeping. Reports submit latency p50/p99, the longest event-loop stall, jobs done/lost/duplicated,
and whether the ledger balances (reserved = settled + refunded, balances = sum of entries).

The clients run in a process of their own (see `run_clients`), so the stall is the agent's loop's
and the latencies are not the clients' own queueing. Both share the machine's cores, though, so
the run also prints the CPU each side spent per request, for the pings and for the submission
burst (to its last answer; each answered job's event stream opens meanwhile, as the bots do): a
submission costs the clients about twice a ping already (a POST with a body, then the stream),
which bounds `submit / baseline` on a 2-core machine whatever the agent does. A slow machine makes
a run longer, not failed: event streams are bounded by silence rather than by a total time (see
`STREAM_TIMEOUT`).
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import io
import math
import multiprocessing
import statistics
import struct
import sys
import tempfile
import time
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import aiohttp
from aiohttp import web
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.service.app import DATABASE, create_app  # noqa: E402
from loopturns import TurnProfiler  # noqa: E402
from agent.service.process import settle_after_start  # noqa: E402
from agent.choices import EventLoop  # noqa: E402
from agent.eventloop import loop_factory, loop_name  # noqa: E402
from agent.engine.backends import Backends  # noqa: E402
from agent.protocol import Event, Job, JobOptions, SubmitRequest, UserRef, convert, parse_sse_event, to_builtins  # noqa: E402,E501
from agent.engine.render.spec import RenderResult, RenderSpec  # noqa: E402
from agent.settings import settings_from_mapping  # noqa: E402
from providers.base import (  # noqa: E402
    ImageRequest,
    ImageResult,
    Scene,
    Script,
    ScriptRequest,
    Stage,
    StageContext,
    Tier,
    VoiceCatalog,
    VoiceRequest,
    VoiceResult,
)
from providers.config import ProviderConfig  # noqa: E402
from storage import QuotaLedger  # noqa: E402

TOKEN = "bench-token-0123456789"
HEADERS = {"Authorization": f"Bearer {TOKEN}"}


def _png() -> bytes:
    img = Image.new("RGB", (320, 568), (30, 40, 90))
    draw = ImageDraw.Draw(img)
    for k in range(0, 320, 16):
        draw.line([(k, 0), (320 - k, 568)], fill=(200, 120 + k % 100, 60), width=3)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def _wav(seconds: float = 1.5, rate: int = 16000) -> bytes:
    frames = b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 220 * n / rate)))
                      for n in range(int(seconds * rate)))
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames)
    return buf.getvalue()


class InstantConfig(ProviderConfig):
    pass


class InstantProvider:
    """Serves every stage at once with valid outputs (so the cascade's validation still runs). It
    keeps the provider contract (providers/contract.py), as every provider Backends accepts must."""

    name: ClassVar[str] = "offline"
    tier: ClassVar[Tier] = Tier.OFFLINE
    stages: ClassVar[frozenset[Stage]] = frozenset({Stage.SCRIPT, Stage.IMAGE, Stage.VOICE})
    config_class: ClassVar[type] = InstantConfig
    gpu_heavy: ClassVar[bool] = False

    def __init__(self) -> None:
        self.png, self.wav = _png(), _wav()

    def secrets(self) -> tuple[str, ...]:
        return ()

    async def probe(self) -> dict[str, Any]:
        return {}

    async def write_script(self, request: ScriptRequest, ctx: StageContext) -> Script:
        n = request.min_scenes
        return Script(title=f"About {request.topic}", scenes=tuple(
            Scene(f"Narration {i} about {request.topic} here.", f"visual {i}", f"key {i}") for i in range(n)))

    async def make_image(self, request: ImageRequest, ctx: StageContext) -> ImageResult:
        path = request.out_dir / f"img_{request.scene_index}.png"
        await asyncio.to_thread(path.write_bytes, self.png)  # off the loop, as the real providers write
        return ImageResult(path, 320, 568)

    async def voices(self) -> VoiceCatalog:
        return VoiceCatalog.of(())

    async def speak(self, request: VoiceRequest, ctx: StageContext) -> VoiceResult:
        path = request.out_dir / f"voice_{request.scene_index}.wav"
        await asyncio.to_thread(path.write_bytes, self.wav)
        return VoiceResult(path, 1.5, None)


async def stub_render(spec: RenderSpec, on_progress: Callable[[float], None] | None = None) -> RenderResult:
    for f in (0.25, 0.5, 0.75, 1.0):
        if on_progress:
            on_progress(f)
        await asyncio.sleep(0)
    await asyncio.to_thread(spec.out.write_bytes, b"\x00" * 4096)
    return RenderResult(spec.out, 4096, 12.0, spec.width, spec.height, None, False)


class StallMonitor:
    def __init__(self, interval_s: float = 0.005) -> None:
        self.interval_s = interval_s
        self.longest_s = 0.0

    async def run(self) -> None:
        while True:
            started = time.perf_counter()
            await asyncio.sleep(self.interval_s)
            self.longest_s = max(self.longest_s, time.perf_counter() - started - self.interval_s)


# A follower waits as long as its job does (on a slow, shared machine 1000 jobs take minutes), so
# its stream has no total timeout (aiohttp's default, 300 s, failed whole runs); it is bounded by
# silence instead: the agent sends a keep-alive every 15 s, so 4x that without a byte is a dead
# stream. A stream that fails or ends early is resumed from the last event (Last-Event-ID), as the
# bots do, and counted; the checks stay the same: every event once, no gap, the terminal one last.
STREAM_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=60, sock_read=60)
# a submission is measured, not waited out: a slow machine may take long, but not forever
REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=600)
RESUMES = 5  # reconnects per job before it counts as lost
resumed_streams = 0


async def follow(session: aiohttp.ClientSession, base: str, job_id: str) -> list[Event]:
    global resumed_streams
    events: list[Event] = []
    last = 0
    for attempt in range(1 + RESUMES):
        if attempt:
            resumed_streams += 1
        headers = {**HEADERS, "Last-Event-ID": str(last)} if last else HEADERS
        try:
            async with session.get(f"{base}/v1/jobs/{job_id}/events", headers=headers,
                                   timeout=STREAM_TIMEOUT) as resp:
                buffer = ""
                async for chunk in resp.content.iter_any():
                    buffer += chunk.decode()
                    while "\n\n" in buffer:
                        block, buffer = buffer.split("\n\n", 1)
                        _id, event = parse_sse_event(block)
                        if event is None:
                            continue
                        events.append(event)
                        last = event.seq
                        if event.terminal:
                            return events
        except (aiohttp.ClientError, TimeoutError):
            continue
    return events


# The load generator (the clients) runs in a process of its own: sharing the agent's event loop, its
# own bursts (1000 connections opened in one turn) counted as the agent's stalls; in a thread of the
# agent's process, it took the GIL from the agent's loop at every socket call. The stall monitor
# watches the agent's loop only; the latencies are measured by the clients, for both kinds of request.
Outcome = tuple[str, "str | None", int, list[int], "str | None"]  # request id, job id, HTTP status, seqs, final


def run_clients(base: str, jobs: int, users: int) -> dict[str, Any]:
    """In the client process: every request and stream; what the checks need, picklable."""
    return asyncio.run(_clients(base, jobs, users))


async def _agent_cpu(session: aiohttp.ClientSession, base: str) -> float:
    async with session.get(f"{base}/bench/cpu", headers=HEADERS) as resp:
        return float((await resp.json())["cpu_s"])


async def _clients(base: str, jobs: int, users: int) -> dict[str, Any]:
    latencies: list[float] = []
    baseline: list[float] = []
    cpu: dict[str, tuple[float, float]] = {}  # phase -> (agent's CPU s, this process's CPU s)
    # same concurrency, same fresh connections, measured in this run: the machine's speed now
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        async def ping() -> None:
            t0 = time.perf_counter()
            async with session.get(f"{base}/bench/ping", headers=HEADERS) as resp:
                await resp.json()
            baseline.append(time.perf_counter() - t0)

        agent0, own0 = await _agent_cpu(session, base), time.process_time()
        await asyncio.gather(*(ping() for _ in range(jobs)))
        cpu["ping"] = (await _agent_cpu(session, base) - agent0, time.process_time() - own0)
    started = time.perf_counter()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        agent0, own0 = await _agent_cpu(session, base), time.process_time()
        async def submit(i: int) -> tuple[str, str | None, int]:
            body = SubmitRequest(request_id=f"bench-{i}", user=UserRef(platform="bench", id=f"u{i % users}"),
                                 topic=f"load test topic number {i}",
                                 options=JobOptions(aspect="9:16", length="short"))
            t0 = time.perf_counter()
            async with session.post(f"{base}/v1/jobs", json=to_builtins(body), headers=HEADERS,
                                    timeout=REQUEST_TIMEOUT) as resp:
                data = await resp.json()
            latencies.append(time.perf_counter() - t0)
            job_id = convert(data, Job).id if resp.status == 202 else None
            if len(latencies) == jobs:  # the burst's last answer: what both sides spent on it
                cpu["submit"] = (await _agent_cpu(session, base) - agent0, time.process_time() - own0)
            return body.request_id, job_id, resp.status

        async def submit_and_follow(i: int) -> tuple[str, str | None, int, list[Event]]:
            rid, job_id, status = await submit(i)
            events = await follow(session, base, job_id) if job_id else []
            return rid, job_id, status, events

        results = await asyncio.gather(*(submit_and_follow(i) for i in range(jobs)))
        elapsed = time.perf_counter() - started
        # resubmit every request_id: each must come back as the same job
        again = await asyncio.gather(*(submit(i) for i in range(jobs)))
    outcomes = [(rid, job_id, status, [e.seq for e in events], events[-1].status.value if events else None)
                for rid, job_id, status, events in results]
    return {"results": outcomes, "again": list(again), "elapsed": elapsed, "latencies": latencies,
            "baseline": baseline, "resumed": resumed_streams, "cpu": cpu}


async def main(jobs: int, users: int, workers: int, worst_turns: int = 0) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="reelbot-bench-"))
    settings = settings_from_mapping({
        "stages": {"script": ["offline"], "image": ["offline"], "clip": [], "voice": ["offline"]},
        "agent": {"data_dir": str(tmp / "data"), "database_url": f"sqlite+aiosqlite:///{tmp}/agent.db",
                  "workers": workers, "queue_size": jobs + 10, "event_flush_s": 0.1},
        "quotas": {"daily_credits": 100, "max_in_flight": jobs},
        "routes": {"self-hosted": {"label": "Self-hosted", "price": 3}},
    }, {"REELBOT_AGENT_TOKEN": TOKEN})
    provider = InstantProvider()
    app = create_app(settings, backends=Backends([provider], {Stage.SCRIPT: ("offline",), Stage.IMAGE: ("offline",),
                                                               Stage.CLIP: (), Stage.VOICE: ("offline",)}),
                     renderer=stub_render)
    # the baseline: a trivial handler behind the same auth and error middlewares, on the same server
    async def ping(_request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app.router.add_get("/bench/ping", ping)

    async def cpu(_request: web.Request) -> web.Response:  # the agent process's CPU (all its threads)
        return web.json_response({"cpu_s": time.process_time()})

    app.router.add_get("/bench/cpu", cpu)
    settle_after_start(app)  # as `reelbot agent` does
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    # all clients connect at once: with the default backlog (128) the kernel drops the excess SYNs and
    # those clients retry after 1 s, which would measure the listen queue rather than the service
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=max(128, 2 * jobs))
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    base = f"http://127.0.0.1:{port}"
    monitor = StallMonitor()
    profiler = TurnProfiler()
    mon: asyncio.Task[None] | None = None
    loop = asyncio.get_running_loop()
    try:
        spawn = multiprocessing.get_context("spawn")  # a fresh interpreter: no threads or loop inherited
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=spawn) as clients:
            await loop.run_in_executor(clients, time.perf_counter)  # the client process is up before measuring
            mon = asyncio.create_task(monitor.run())
            with profiler.active() if worst_turns else contextlib.nullcontext():
                out = await loop.run_in_executor(clients, run_clients, base, jobs, users)
            mon.cancel()  # measured: what follows (the pool's shutdown joins the client process) is not the agent
        results: list[Outcome] = out["results"]
        again: list[tuple[str, str | None, int]] = out["again"]
        elapsed, latencies, baseline = out["elapsed"], out["latencies"], out["baseline"]
        ids = {rid: job_id for rid, job_id, *_x in results}
        duplicated = sum(1 for rid, job_id, _s in again if job_id != ids[rid])
        duplicated += sum(1 for _r, _j, _s, seqs, _f in results if len(set(seqs)) != len(seqs))
        gaps = sum(1 for _r, _j, _s, seqs, _f in results if seqs != list(range(1, len(seqs) + 1)))
        accepted = sum(1 for _r, _j, s, *_x in results if s == 202)
        refused = jobs - accepted
        finals = [final for *_x, final in results]
        done = finals.count("done")
        failed = finals.count("failed") + finals.count("cancelled")
        lost = sum(1 for _r, _j, s, _q, f in results if s == 202 and f is None)
        n_events = sum(len(seqs) for _r, _j, _s, seqs, _f in results)
        totals = await QuotaLedger(app[DATABASE]).totals()
    finally:
        if mon is not None:
            mon.cancel()
        await runner.cleanup()
    p50, p99 = _percentiles(latencies[:jobs])
    base50, base99 = _percentiles(baseline)
    ledger_ok = totals.balanced and totals.reserved == totals.settled + totals.refunded
    print(f"jobs submitted      {jobs} from {users} users ({accepted} accepted, {refused} refused), "
          f"{workers} workers, {loop_name(asyncio.get_running_loop())} event loop")
    print(f"submit latency      p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    print(f"baseline            {len(baseline)} concurrent authenticated GET /bench/ping (trivial handler): "
          f"p50 {base50:.1f} ms, p99 {base99:.1f} ms")
    print(f"submit / baseline   p50 x{p50 / base50:.1f}, p99 x{p99 / base99:.1f}  (same run: comparable across runs)")
    print(f"longest loop stall  {monitor.longest_s * 1000:.1f} ms")
    (agent_ping, client_ping), (agent_submit, client_submit) = out["cpu"]["ping"], out["cpu"]["submit"]
    print(f"CPU per request     ping: agent {agent_ping / jobs * 1000:.2f} ms, clients "
          f"{client_ping / jobs * 1000:.2f} ms; submit (to the burst's last answer, the answered ones' event "
          f"streams opening meanwhile): agent {agent_submit / jobs * 1000:.2f} ms, clients "
          f"{client_submit / jobs * 1000:.2f} ms")
    print(f"events streamed     {n_events} ({n_events / max(1, accepted):.1f} per job), seq gaps: {gaps}, "
          f"streams resumed: {out['resumed']}")
    print(f"jobs                done {done}, failed {failed}, lost {lost}, duplicated {duplicated}")
    print(f"ledger              reserved {totals.reserved} = settled {totals.settled} + refunded "
          f"{totals.refunded}; allowance {totals.allowance}; balances {totals.balances} = entries "
          f"{totals.entries_sum}: {'balanced' if ledger_ok else 'NOT BALANCED'}")
    print(f"wall time           {elapsed:.2f} s ({done / elapsed:.1f} jobs/s)")
    ok = ledger_ok and lost == 0 and duplicated == 0 and gaps == 0 and done == accepted
    print(f"SUMMARY {'OK' if ok else 'FAIL'}: {done}/{jobs} done, lost {lost}, duplicated {duplicated}, "
          f"submit p50 {p50:.1f} ms p99 {p99:.1f} ms, max stall {monitor.longest_s * 1000:.1f} ms, "
          f"ledger {'balanced' if ledger_ok else 'UNBALANCED'}, submit/baseline p50 x{p50 / base50:.1f} "
          f"p99 x{p99 / base99:.1f}")
    if worst_turns:
        print(f"the {worst_turns} longest turns of the agent's loop (its thread's CPU; what ran in them):")
        for turn in profiler.worst(worst_turns):
            print("  " + turn.describe())
    return 0 if ok else 1


def _percentiles(seconds: list[float]) -> tuple[float, float]:
    """(p50, p99) in milliseconds."""
    lat = sorted(seconds)
    return statistics.median(lat) * 1000, lat[min(len(lat) - 1, math.ceil(0.99 * len(lat)) - 1)] * 1000


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--worst-turns", type=int, default=0, metavar="N",
                        help="also print the N longest turns of the agent's loop and what ran in them "
                             "(bench/loopturns.py; it profiles asyncio's own loop, so --loop asyncio)")
    parser.add_argument("--loop", choices=[kind.value for kind in EventLoop], default=None,
                        help="the agent's event loop (default: auto, as `reelbot agent` runs; asyncio with "
                             "--worst-turns)")
    args = parser.parse_args()
    kind = EventLoop(args.loop or (EventLoop.ASYNCIO if args.worst_turns else EventLoop.AUTO))
    if args.worst_turns and kind is not EventLoop.ASYNCIO:
        parser.error("--worst-turns profiles asyncio's own loop: use it with --loop asyncio")
    with asyncio.Runner(loop_factory=loop_factory(kind)) as runner:
        sys.exit(runner.run(main(args.jobs, args.users, args.workers, args.worst_turns)))
