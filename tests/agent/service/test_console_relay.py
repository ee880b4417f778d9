"""The console's live feed on a front door of the distributed mode: the events the workers store,
read from the database while a page is open and sent with the framing GET /v1/jobs/{id}/events uses.
The processes themselves (a worker's job seen on the front door's console): tests/faults/test_cluster.py."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent.service.console.feed import RESYNC, ConsoleFeed
from storage import JobStore, NewJob, UserKey, open_database
from storage.models import JobEventRow

POLL_S = 0.01


def _event(job_id: str, seq: int) -> str:
    return json.dumps({"seq": seq, "job_id": job_id, "status": "running", "stage": "images", "progress": 0.5,
                       "message": f"step {seq}"})


@contextlib.asynccontextmanager
async def _relaying(tmp_path: Path) -> AsyncIterator[tuple[JobStore, ConsoleFeed]]:
    async with open_database(f"sqlite+aiosqlite:///{tmp_path}/agent.db") as db:
        store = JobStore(db)
        for name in ("a", "b"):
            await store.submit(NewJob(name, f"r-{name}", 0, "topic", {"aspect": "9:16"}, "self-hosted", 5, 1.0),
                               first_event=lambda: {"seq": 1, "status": "queued"}, max_in_flight=None, day="d",
                               daily=100, user=UserKey("discord", "1"), seq_reserved=1)
        feed = ConsoleFeed(keepalive_s=30)
        relay = asyncio.create_task(feed.relay_stored(store, POLL_S))
        try:
            yield store, feed
        finally:
            relay.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await relay


async def _store(store: JobStore, *rows: tuple[str, int, int | None]) -> None:
    def work(session):  # type: ignore[no-untyped-def]
        for job_id, seq, row_id in rows:
            session.add(JobEventRow(id=row_id, job_id=job_id, seq=seq, data=_event(job_id, seq)))
    await store._db.write(work)


async def _messages(queue: asyncio.Queue[object], n: int) -> list[bytes]:
    return [await asyncio.wait_for(queue.get(), 5) for _ in range(n)]  # type: ignore[misc]


async def test_a_page_gets_the_events_stored_after_it_opened_framed_as_the_job_stream(tmp_path: Path) -> None:
    async with _relaying(tmp_path) as (store, feed):
        await _store(store, ("a", 2, None))  # before any page: not replayed
        with feed.subscribe() as page:
            await asyncio.sleep(POLL_S * 5)  # the relay notes where the page started
            await _store(store, ("a", 3, None), ("b", 2, None), ("a", 4, None))
            got = await _messages(page, 3)
            assert got == [b"id: 3\ndata: " + _event("a", 3).encode() + b"\n\n",
                           b"id: 2\ndata: " + _event("b", 2).encode() + b"\n\n",
                           b"id: 4\ndata: " + _event("a", 4).encode() + b"\n\n"]
            await asyncio.sleep(POLL_S * 5)
            assert page.empty(), "an event was sent twice"


async def test_a_row_committed_after_a_later_one_is_not_missed_and_sent_once(tmp_path: Path) -> None:
    """Two workers write at once: the row ids are given at insert, so the one committed second may
    have the lower id. The relay looks back a little and sends each row once."""
    async with _relaying(tmp_path) as (store, feed):
        with feed.subscribe() as page:
            await asyncio.sleep(POLL_S * 5)
            await _store(store, ("a", 2, 100))
            assert (await _messages(page, 1))[0].startswith(b"id: 2\n")
            await _store(store, ("b", 2, 90))  # committed now, with an id below the one already sent
            assert (await _messages(page, 1))[0].startswith(b"id: 2\ndata: " + _event("b", 2)[:20].encode())
            await asyncio.sleep(POLL_S * 5)
            assert page.empty()


async def test_nothing_is_read_while_no_page_is_open_and_a_slow_page_is_told_to_reload(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with _relaying(tmp_path) as (store, feed):
        reads = 0
        real = store.any_events_after

        async def counted(event_id: int, limit: int) -> list[tuple[int, str]]:
            nonlocal reads
            reads += 1
            return await real(event_id, limit)

        monkeypatch.setattr(store, "any_events_after", counted)
        await asyncio.sleep(POLL_S * 10)
        assert reads == 0 and not feed.watched
        monkeypatch.setattr("agent.service.console.feed.QUEUE_SIZE", 4)
        with feed.subscribe() as page:
            await asyncio.sleep(POLL_S * 5)
            await _store(store, *[("a", seq, None) for seq in range(2, 12)])  # more than the page holds
            await asyncio.sleep(POLL_S * 10)
            assert reads > 0
            drained = [page.get_nowait() for _ in range(page.qsize())]
            assert RESYNC in drained
