"""SSE clients that drop and reconnect hundreds of times, from any position, while a job runs.

The real app (`create_app`, fake providers that take a little time per call) over real HTTP on
127.0.0.1. Sixteen clients connect with a `Last-Event-ID` picked at random: where they left off (as
a real client does), anywhere before, just past the newest event, far past it, or 2^63-1; each reads
a few events and drops the connection, and reconnects, several hundred times in all, before, during
and after the job's end. Every connection must show:

- no gap and no duplicate: a client at position N gets N+1, N+2, ... exactly as stored;
- an end: a stream closes only after the job's terminal event, and a client at or past the end gets
  the terminal event (again) instead of keep-alives forever;
- once the job has ended, every open stream ends within a few keep-alive intervals.

The same holds for a job resumed after a restart, whose early events are only in the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support.agent_app import AUTH, Agent, GatedProvider, make_settings, read_sse, run_agent, sse_events

pytestmark = pytest.mark.timeout(120)

TERMINAL = ("done", "failed", "cancelled")
CLIENTS = 16
RECONNECTS = 500
MAX_EVENT_ID = 2**63 - 1


class SlowProvider(GatedProvider):
    """Each script, image and voice call takes `delay_s`: a job's events arrive over a second or two."""

    def __init__(self, delay_s: float) -> None:
        super().__init__()
        self.delay_s = delay_s

    async def write_script(self, request, ctx):  # type: ignore[no-untyped-def]
        await asyncio.sleep(self.delay_s)
        return await super().write_script(request, ctx)

    async def make_image(self, request, ctx):  # type: ignore[no-untyped-def]
        await asyncio.sleep(self.delay_s)
        return await super().make_image(request, ctx)

    async def speak(self, request, ctx):  # type: ignore[no-untyped-def]
        await asyncio.sleep(self.delay_s)
        return await super().speak(request, ctx)


@dataclass
class Connection:
    position: int
    events: list[dict[str, Any]]
    ended: bool  # the server closed the stream (not the client dropping it)


@dataclass
class Tally:
    connections: list[Connection] = field(default_factory=list)
    newest: int = 1  # the highest seq any client has seen
    _recorded: asyncio.Event = field(default_factory=asyncio.Event)

    def record(self, conn: Connection) -> None:
        self.connections.append(conn)
        if conn.events:
            self.newest = max(self.newest, max(e["seq"] for e in conn.events))
        self._recorded.set()

    async def wait_for(self, count: int) -> None:
        """Until at least `count` connections have been recorded."""
        while len(self.connections) < count:
            self._recorded.clear()
            await self._recorded.wait()


async def connect(a: Agent, job_id: str, position: int, *, max_events: int | None, hold_s: float | None) -> Connection:
    """One connection from `position`: read until the server ends it, or drop it after `max_events`
    events or `hold_s` seconds."""
    url = f"/v1/jobs/{job_id}/events"
    events: list[dict[str, Any]] = []
    ended = False
    async with a.client.get(url, headers={**AUTH, "Last-Event-ID": str(position)}) as resp:
        assert resp.status == 200, await resp.text()
        try:
            async with asyncio.timeout(hold_s), contextlib.aclosing(sse_events(resp.content)) as stream:
                async for event in stream:
                    events.append(event)
                    if max_events is not None and len(events) >= max_events:
                        break
                else:
                    ended = True  # the server ended the stream
        except TimeoutError:
            pass  # the client drops the connection
    return Connection(position, events, ended)


def check(conn: Connection, reference: dict[int, dict[str, Any]], final_seq: int) -> None:
    """One connection's events against the job's stored events."""
    what = f"from {conn.position}: {[e['seq'] for e in conn.events]} (ended={conn.ended})"
    events = conn.events
    if conn.position >= final_seq:  # at or past the end: the terminal event, and only it
        assert events in ([], [reference[final_seq]]), what
    else:
        assert [e["seq"] for e in events] == list(range(conn.position + 1, conn.position + 1 + len(events))), what
        assert events == [reference[e["seq"]] for e in events], what
    if conn.ended:
        assert events and events[-1]["status"] in TERMINAL, f"a stream ended without the terminal event: {what}"


def pick_position(rng: random.Random, resume: int, tally: Tally) -> int:
    roll = rng.random()
    if roll < 0.4:
        return resume  # where this client left off
    if roll < 0.6:
        return rng.randint(0, tally.newest)
    if roll < 0.8:
        return tally.newest + rng.randint(1, 40)  # just past the newest event
    if roll < 0.9:
        return rng.choice((MAX_EVENT_ID, rng.randint(10**6, MAX_EVENT_ID)))
    return 0


async def client_loop(a: Agent, job_id: str, rng: random.Random, tally: Tally, stop: asyncio.Event) -> None:
    resume = 0
    while not stop.is_set():
        position = pick_position(rng, resume, tally)
        conn = await connect(a, job_id, position, max_events=rng.randint(0, 6), hold_s=rng.uniform(0.01, 0.25))
        tally.record(conn)
        if conn.events:
            resume = conn.events[-1]["seq"]


async def finish_job_under_reconnects(a: Agent, job_id: str, seed: int, *, reconnects: int,
                                      release: str | None) -> tuple[Tally, list[Connection]]:
    """Clients reconnect throughout; `release` (a held stage) lets the job go on half way through.
    Returns every connection, and those of the clients that waited past the end for the job to end."""
    rng = random.Random(seed)
    tally = Tally()
    stop = asyncio.Event()
    loops = [asyncio.create_task(client_loop(a, job_id, random.Random(rng.random()), tally, stop))
             for _ in range(CLIENTS)]
    await tally.wait_for(reconnects // 2)
    # clients parked past the newest event while the job is held: the job's end must reach them
    parked = [asyncio.create_task(connect(a, job_id, position, max_events=None, hold_s=None))
              for position in (tally.newest, tally.newest + 1, tally.newest + 7, 10**6, MAX_EVENT_ID)]
    await asyncio.sleep(0.3)
    if release is not None:
        a.provider.release(release)
    await a.wait_status(job_id, *TERMINAL, timeout_s=30)
    # after the end, every stream ends within a few keep-alive intervals (0.5 s in these settings)
    async with asyncio.timeout(5):
        waited = await asyncio.gather(*parked)
    await tally.wait_for(reconnects)
    stop.set()
    async with asyncio.timeout(10):
        await asyncio.gather(*loops)
    # and a last connection per client from anywhere, followed to the end: it ends at once
    async with asyncio.timeout(5):
        last = await asyncio.gather(*(connect(a, job_id, pick_position(rng, 0, tally), max_events=None, hold_s=None)
                                      for _ in range(CLIENTS)))
    return tally, [*waited, *last]


async def reference_events(a: Agent, job_id: str) -> tuple[dict[int, dict[str, Any]], int]:
    events = await read_sse(await a.client.get(f"/v1/jobs/{job_id}/events", headers=AUTH))
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(1, len(seqs) + 1)) and events[-1]["status"] in TERMINAL
    return {e["seq"]: e for e in events}, seqs[-1]


async def test_hundreds_of_reconnects_from_random_positions_during_a_job(tmp_path: Path) -> None:
    provider = SlowProvider(delay_s=0.04)
    async with run_agent(tmp_path, provider=provider) as a:
        provider.hold("image")
        job = await a.submit("reconnecting clients", options={"length": "long"})
        tally, to_the_end = await finish_job_under_reconnects(a, job["id"], seed=9, reconnects=RECONNECTS,
                                                              release="image")
        reference, final_seq = await reference_events(a, job["id"])
        assert final_seq >= 20
        for conn in tally.connections + to_the_end:
            check(conn, reference, final_seq)
        for conn in to_the_end:
            assert conn.ended and conn.events[-1] == reference[final_seq]
        assert len(tally.connections) >= RECONNECTS
        # positions of every kind were exercised: behind, past the newest, and past the end
        assert any(c.position < final_seq and c.events for c in tally.connections)
        assert sum(c.position >= final_seq and c.ended for c in tally.connections + to_the_end) >= 10


async def test_reconnects_to_a_resumed_job_whose_early_events_are_only_stored(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    async with run_agent(tmp_path, settings) as a:
        a.provider.hold("image")
        job = await a.submit("resumed after a restart", options={"length": "long"})
        await asyncio.wait_for(a.provider.entered["image"].wait(), 10)
        stored_before = (await a.job(job["id"]))["last_seq"]
    provider = SlowProvider(delay_s=0.03)
    provider.hold("image")
    async with run_agent(tmp_path, settings, provider=provider) as b:
        await asyncio.wait_for(provider.entered["image"].wait(), 10)  # resumed, held again
        live = b.runner.live(job["id"])
        assert live is not None and live.resumed and live.first_seq > stored_before
        tally, to_the_end = await finish_job_under_reconnects(b, job["id"], seed=4, reconnects=300, release="image")
        reference, final_seq = await reference_events(b, job["id"])
        for conn in tally.connections + to_the_end:
            check(conn, reference, final_seq)
        # clients behind the restart got the stored events, then the live ones, without a gap
        assert any(c.position < stored_before and len(c.events) > stored_before - c.position
                   for c in tally.connections + to_the_end)
