"""storage.cluster and the distributed submit on a real PostgreSQL (pgserver, over a local TCP port):
seq numbers from the database under concurrent writers, fenced runs, the reservation and the queue
engine's job in one transaction, and the per-user in-flight limit across two front doors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from agent.taskqueue import enqueue_in, open_queue
from storage import Database, Finish, JobStore, NewJob, ProgressBatch, QuotaLedger, UserKey, open_database
from storage.cluster import ClusterStore
from tests.support.pgproxy import PgProxy
from tests.support.postgres import create_database, pg_server, socket_dir  # noqa: F401 - fixture

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def tcp_url(pg_server: Any) -> AsyncIterator[str]:  # noqa: F811
    """A fresh database, reached over 127.0.0.1 (asyncpg stats a unix socket's path on the loop)."""
    url = await asyncio.to_thread(create_database, pg_server)
    proxy = PgProxy(f"{socket_dir(pg_server)}/.s.PGSQL.5432")
    port = await proxy.start()
    try:
        # a password (the server trusts local users, any will do) and no TLS: else asyncpg reads ~/.pgpass
        # and ~/.postgresql on the loop
        yield f"postgresql+asyncpg://postgres:unused@127.0.0.1:{port}/{make_url(url).database}?ssl=disable"
    finally:
        await proxy.down()


def _first(job_id: str) -> dict[str, Any]:
    return {"seq": 1, "job_id": job_id, "status": "queued", "stage": "queued", "progress": 0.0, "message": "queued",
            "provider": "", "at": "2026-01-01T00:00:00.000Z", "position": None}


async def _submit(store: JobStore, job_id: str, user: str = "u", *, max_in_flight: int | None = None,
                  enqueue: Any = None) -> Any:
    return await store.submit(
        NewJob(job_id, f"req-{job_id}", 0, "topic", {"aspect": "9:16", "length": "short"}, "self-hosted", 5, 1000.0),
        first_event=lambda: _first(job_id), max_in_flight=max_in_flight, day="d1", daily=100,
        user=UserKey("discord", user), seq_reserved=1,
        enqueue=enqueue or (lambda s, jid: enqueue_in(s, job_id=jid, route="self-hosted")))


async def _queued(db: Database) -> list[str]:
    rows = await db.read(lambda s: list(s.execute(text("SELECT args FROM procrastinate_jobs ORDER BY id")).scalars()))
    return [(row if isinstance(row, dict) else json.loads(row))["job_id"] for row in rows]


async def test_events_of_concurrent_writers_get_consecutive_seqs_from_the_database(tcp_url: str) -> None:
    async with open_queue(tcp_url), open_database(tcp_url) as db:
        store, cluster = JobStore(db), ClusterStore(db)
        await _submit(store, "job-seq-0001")
        claim = await cluster.claim("job-seq-0001", "w1", 1001.0)
        assert claim is not None and claim.attempt == 1

        async def writer(tag: str) -> None:
            for i in range(20):
                events = [dict(_first("job-seq-0001"), status="running", stage="script", message=f"{tag}{i}.{k}")
                          for k in range(3)]
                assert await cluster.append_events("job-seq-0001", 1, events) is not None

        await asyncio.gather(writer("a"), writer("b"))
        stored = [json.loads(e) for e in await store.events_after("job-seq-0001", 0)]
        assert [e["seq"] for e in stored] == list(range(1, 122))
        row = await store.get("job-seq-0001")
        assert row is not None and row.last_seq == 121


async def test_a_run_that_was_moved_writes_nothing_and_the_job_is_charged_once(tcp_url: str) -> None:
    async with open_queue(tcp_url), open_database(tcp_url) as db:
        store, cluster, ledger = JobStore(db), ClusterStore(db), QuotaLedger(db)
        await _submit(store, "job-move-0001")
        first = await cluster.claim("job-move-0001", "w1", 1001.0)
        second = await cluster.claim("job-move-0001", "w2", 1002.0)
        assert first is not None and second is not None
        assert (second.attempt, second.previous_worker) == (2, "w1")
        event = dict(_first("job-move-0001"), status="running", stage="script")
        assert await cluster.append_events("job-move-0001", 1, [event]) is None  # the old run is fenced
        assert await cluster.set_holder("job-move-0001", 1, "http://front") is False

        def terminal(row: Any, balance: int | None) -> dict[str, Any]:
            return dict(_first(row.id), seq=row.last_seq + 1, status="done", stage="done")

        done = Finish("done", 1003.0, charged=5, result={"title": "t"})
        assert await store.finish("job-move-0001", done, ProgressBatch("job-move-0001"), terminal, attempt=1) is None
        assert await store.finish("job-move-0001", done, ProgressBatch("job-move-0001"), terminal, attempt=2)
        totals = await ledger.totals()
        assert (totals.reserved, totals.settled, totals.refunded) == (5, 5, 0) and totals.balanced


async def test_the_reservation_and_the_queued_job_commit_together_or_not_at_all(tcp_url: str) -> None:
    async with open_queue(tcp_url), open_database(tcp_url) as db:
        store, ledger = JobStore(db), QuotaLedger(db)
        assert (await _submit(store, "job-atom-0001")).created
        assert await _queued(db) == ["job-atom-0001"]

        def enqueue_then_fail(session: Any, job_id: str) -> int:
            enqueue_in(session, job_id=job_id, route="self-hosted")
            raise RuntimeError("the job row cannot be stored")

        with pytest.raises(RuntimeError):
            await _submit(store, "job-atom-0002", enqueue=enqueue_then_fail)
        assert await _queued(db) == ["job-atom-0001"]  # rolled back with the reservation
        totals = await ledger.totals()
        assert totals.reserved == 5 and totals.balanced


async def test_the_in_flight_limit_holds_across_two_front_doors(tcp_url: str) -> None:
    async with open_queue(tcp_url), open_database(tcp_url) as one, open_database(tcp_url, migrate=False) as two:
        stores = [JobStore(one), JobStore(two)]
        outcomes = await asyncio.gather(*(
            _submit(stores[i % 2], f"job-many-{i:04d}", max_in_flight=2) for i in range(10)))
        created = [o for o in outcomes if o.created]
        assert len(created) == 2
        assert {o.rejected for o in outcomes if not o.created} == {"in_flight"}
        assert sorted(await _queued(one)) == sorted(o.job.id for o in created)
