"""Storage on every backend: migrations create and upgrade in place keeping data, the conditional
credit reservation (exact under concurrency), idempotent request ids, events append and replay, the
ledger's balance, and the queries a restarted agent recovers from.

Each test taking `db_url` runs on a SQLite file and, with REELBOT_TEST_DATABASE_URL set, on a fresh
PostgreSQL database (tests/storage/conftest.py).
"""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy import inspect, text

from storage.cluster import ClusterStore
from storage import (
    AttemptRecord,
    Finish,
    JobStore,
    NewJob,
    ProgressBatch,
    QuotaLedger,
    UserKey,
    open_database,
)
from storage.engine import create_engine
from storage.migrate import current_revision, upgrade

DAY = "2025-03-01"
HEAD = "0006_worker_problem"


def _job(i: int | str, user_id: int = 0, price: int = 5, created_at: float = 1.0, request_id: str | None = None) -> NewJob:
    return NewJob(f"job{i}", request_id or f"r{i}", user_id, f"topic {i}", {"aspect": "9:16"}, "self-hosted",
                  price, created_at)


def _first() -> dict:
    return {"seq": 1, "status": "queued", "stage": "queued", "progress": 0.0, "message": "queued"}


async def _submit(store: JobStore, job: NewJob, *, user: UserKey | None = None, daily: int = 15,
                  max_in_flight: int | None = None):
    return await store.submit(job, first_event=_first, max_in_flight=max_in_flight, day=DAY, daily=daily, user=user)


def _terminal(row, balance):  # type: ignore[no-untyped-def]
    return {"seq": row.last_seq + 1, "status": row.status, "stage": row.status, "progress": 1.0,
            "message": row.status, "credits_left": balance}


# ---------------------------------------------------------------------------------------- migrations


async def test_fresh_database_is_migrated_to_head(db_url):
    async with open_database(db_url) as db:
        assert await current_revision(db.engine) == HEAD
        async with db.engine.connect() as conn:
            tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
            columns = {c["name"] for c in await conn.run_sync(lambda c: inspect(c).get_columns("jobs"))}
        assert {"users", "jobs", "job_events", "provider_attempts", "ledger_entries", "alembic_version",
                "cluster_workers"} <= tables
        assert "files_deleted_at" in columns
    async with open_database(db_url) as db:  # idempotent on an up-to-date schema
        assert await current_revision(db.engine) == HEAD


async def test_upgrade_to_the_workers_problem_keeps_the_workers(db_url):
    """0006 adds cluster_workers.problem: a worker row from before reads as having none."""
    engine = create_engine(db_url)
    try:
        await upgrade(engine, "0005_cluster")
        async with engine.begin() as conn:
            await conn.execute(text(
                "INSERT INTO cluster_workers (name, started_at, heartbeat_at, state, routes, backends, jobs) "
                "VALUES ('gpu-box-1', 1.0, 2.0, 'up', '[\"self-hosted\"]', '[]', '[]')"))
    finally:
        await engine.dispose()
    async with open_database(db_url) as db:
        assert await current_revision(db.engine) == HEAD
        (row,) = await ClusterStore(db).workers()
        assert (row.name, row.state, row.routes, row.problem) == ("gpu-box-1", "up", '["self-hosted"]', "")


async def test_upgrade_in_place_keeps_data(db_url):
    engine = create_engine(db_url)
    try:
        await upgrade(engine, "0001")
        assert await current_revision(engine) == "0001"
        async with engine.begin() as conn:
            await conn.execute(text(
                "INSERT INTO users (platform, platform_user_id, name, balance, allowance_day, created_at) "
                "VALUES ('discord', '7', 'Old', 33, '2025-01-01', 1.0)"))
            uid = (await conn.execute(text("SELECT id FROM users WHERE platform_user_id = '7'"))).scalar_one()
            await conn.execute(text(
                "INSERT INTO jobs (id, request_id, user_id, topic, route, status, created_at, finished_at, last_seq) "
                "VALUES ('oldjob12345', 'r', :uid, 'kept', 'self-hosted', 'done', 1.0, 2.0, 7)"), {"uid": uid})
            await conn.execute(text(
                "INSERT INTO ledger_entries (user_id, job_id, kind, amount, credits, at) "
                "VALUES (:uid, NULL, 'grant', 33, 33, 1.0)"), {"uid": uid})
    finally:
        await engine.dispose()
    async with open_database(db_url) as db:
        assert await current_revision(db.engine) == HEAD
        store, ledger = JobStore(db), QuotaLedger(db)
        row = await store.get("oldjob12345")
        assert row is not None and row.topic == "kept" and row.files_deleted_at is None and row.progress == 0.0
        assert row.seq_reserved == row.last_seq == 7  # 0003: what was stored is what was reserved
        assert (row.attempt, row.worker, row.queue_job_id, row.artifact_holder) == (0, None, None, None)  # 0005
        user = await ledger.ensure_user("discord", "7", "Old", 2.0)
        assert user.id == uid and user.balance == 33
        assert await store.expired(finished_before=3.0) == ["oldjob12345"]
        # the autoincrement sequences carry on after the migration
        new = await _submit(store, _job("new", price=3), user=UserKey("discord", "8"))
        assert new.created and new.user is not None and new.user.id != uid
        assert (await ledger.totals()).balanced


async def test_sqlite_pragmas(tmp_path):
    async with open_database(f"sqlite+aiosqlite:///{tmp_path}/x/y.db") as db:
        async with db.engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar() >= 5000
            assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1


async def test_foreign_keys_are_enforced(db_url):
    from sqlalchemy.exc import IntegrityError

    async with open_database(db_url) as db:
        with pytest.raises(IntegrityError):  # no such user
            await db.write(lambda s: s.execute(text(
                "INSERT INTO jobs (id, request_id, user_id, topic, route, status, created_at) "
                "VALUES ('orphan', 'r', 999, 't', 'self-hosted', 'queued', 1.0)")))


# ---------------------------------------------------------------------------------------- submit


async def test_submit_reserves_conditionally(db_url):
    async with open_database(db_url) as db:
        store, ledger = JobStore(db), QuotaLedger(db)
        key = UserKey("telegram", "1", "Ann")
        first = await _submit(store, _job(1, price=10), user=key)
        assert first.created and first.balance == 5 and first.user is not None and first.user.name == "Ann"
        uid = first.user.id
        refused = await _submit(store, _job(2, price=6), user=key)
        assert not refused.created and refused.rejected == "quota" and refused.balance == 5 and refused.job is None
        exact = await _submit(store, _job(3, price=5), user=key)
        assert exact.created and exact.balance == 0
        assert await store.balance_of(uid) == 0 and await store.get("job2") is None
        kinds = [(e.kind, e.amount) for e in await ledger.entries(uid)]
        assert kinds == [("allowance", 15), ("reserve", -10), ("reserve", -5)]
        row = await store.get("job1")
        assert row.status == "queued" and json.loads(row.options) == {"aspect": "9:16"} and row.charged is None


@pytest.mark.parametrize("user_exists", [True, False], ids=["known-user", "new-user"])
async def test_50_concurrent_reservations_with_credits_for_3(db_url, user_exists):
    async with open_database(db_url) as db:
        store, ledger = JobStore(db), QuotaLedger(db)
        key = UserKey("discord", "42", "Ann")
        if user_exists:
            await ledger.ensure_user("discord", "42", "Ann", 0.0)
        outcomes = await asyncio.gather(*(_submit(store, _job(i), user=key, daily=15) for i in range(50)))
        created = [o for o in outcomes if o.created]
        assert len(created) == 3
        assert {o.rejected for o in outcomes if not o.created} == {"quota"}
        totals = await ledger.totals()
        assert totals.balanced and totals.balances == 0 and totals.reserved == 15 and totals.allowance == 15
        assert (await store.count_by_status()) == {"queued": 3}


async def test_concurrent_in_flight_limit_is_exact(db_url):
    async with open_database(db_url) as db:
        store, ledger = JobStore(db), QuotaLedger(db)
        user = await ledger.ensure_user("discord", "5", "", 0.0)
        outcomes = await asyncio.gather(
            *(_submit(store, _job(i, user_id=user.id), daily=100, max_in_flight=2) for i in range(12)))
        assert sum(o.created for o in outcomes) == 2
        assert {o.rejected for o in outcomes if not o.created} == {"in_flight"}
        assert await store.balance_of(user.id) == 90  # refused submissions reserve nothing
        assert (await ledger.totals()).balanced


async def test_idempotent_request_id(db_url):
    async with open_database(db_url) as db:
        store, ledger = JobStore(db), QuotaLedger(db)
        key = UserKey("discord", "9")
        first = await _submit(store, _job("a", request_id="same"), user=key)
        again = await _submit(store, _job("b", request_id="same"), user=key)
        assert first.created and not again.created and again.job.id == "joba" and again.rejected is None
        assert (await store.by_request(first.user.id, "same")).id == "joba"
        found = await store.by_user_request("discord", "9", "same")
        assert found is not None and found[0].id == "joba" and found[1].id == first.user.id
        assert await store.by_user_request("discord", "9", "other") is None
        # another user may reuse the request id
        other = await _submit(store, _job("c", request_id="same"), user=UserKey("discord", "10"))
        assert other.created
        totals = await ledger.totals()
        assert totals.reserved == 10 and totals.balanced


async def test_concurrent_same_request_id_creates_one_job_charged_once(db_url):
    async with open_database(db_url) as db:
        store, ledger = JobStore(db), QuotaLedger(db)
        key = UserKey("discord", "77", "Bo")  # a new user, created by the racing submissions themselves
        outcomes = await asyncio.gather(
            *(_submit(store, _job(i, request_id="dup"), user=key, daily=100) for i in range(20)))
        assert sum(o.created for o in outcomes) == 1
        assert len({o.job.id for o in outcomes}) == 1 and all(o.rejected is None for o in outcomes)
        totals = await ledger.totals()
        assert totals.reserved == 5 and totals.balances == 95 and totals.balanced


async def test_concurrent_first_sight_of_a_user_creates_one_row(db_url):
    async with open_database(db_url) as db:
        ledger = QuotaLedger(db)
        users = await asyncio.gather(*(ledger.ensure_user("telegram", "3", "Cy", float(i)) for i in range(20)))
        assert len({u.id for u in users}) == 1
        quotas = await asyncio.gather(*(ledger.quota("telegram", "4", day=DAY, daily=10, now=1.0) for _ in range(20)))
        assert len({u.id for u, _ in quotas}) == 1 and {u.balance for u, _ in quotas} == {10}
        assert (await ledger.totals()).allowance == 10


# ---------------------------------------------------------------------------------------- events


async def test_events_append_and_replay_verbatim(db_url):
    async with open_database(db_url) as db:
        store = JobStore(db)
        key = UserKey("discord", "1")
        for name in ("a", "b"):
            assert (await _submit(store, _job(name), user=key, daily=100)).created
        events_a = [{"seq": s, "stage": "script", "progress": s / 10, "message": f"step {s} ✓ émoji 🎬",
                     "provider": "offline"} for s in range(2, 5)]
        attempt = AttemptRecord("script", "x" * 100, "offline", "offline", "ok", "fine", 0.25, 2.5)
        assert await store.mark_running("joba", 2.0, ProgressBatch("joba", events_a[:1], [attempt]))
        assert not await store.mark_running("nope", 2.0, ProgressBatch("nope"))
        await store.save_progress([ProgressBatch("joba", events_a[1:]),
                                   ProgressBatch("jobb", [{"seq": 2, "stage": "image", "progress": 0.5}]),
                                   ProgressBatch("jobb")])
        replay = await store.events_after("joba", 0)
        assert [json.loads(e)["seq"] for e in replay] == [1, 2, 3, 4]
        assert replay[1:] == [json.dumps(e, separators=(",", ":"), ensure_ascii=False) for e in events_a]
        assert [json.loads(e)["seq"] for e in await store.events_after("joba", 2)] == [3, 4]
        assert await store.events_after("joba", 4) == []
        row = await store.get("joba")
        assert (row.status, row.stage, row.last_seq, row.progress, row.started_at) == ("running", "script", 4, 0.4, 2.0)
        assert (await store.get("jobb")).status == "queued" and (await store.get("jobb")).last_seq == 2
        attempts = await store.attempts("joba")
        assert [(a.item, a.elapsed_s, a.at) for a in attempts] == [("x" * 64, 0.25, 2.5)]
        # a second start keeps the first start time
        assert await store.mark_running("joba", 9.0, ProgressBatch("joba"))
        assert (await store.get("joba")).started_at == 2.0


async def test_epoch_seconds_keep_their_precision(db_url):
    async with open_database(db_url) as db:
        store = JobStore(db)
        now = 1740830400.123456
        await _submit(store, _job(1, created_at=now), user=UserKey("discord", "1"))
        assert (await store.get("job1")).created_at == now


# ---------------------------------------------------------------------------------------- ledger


async def test_ledger_balances_through_settle_refund_cancel_and_grants(db_url):
    async with open_database(db_url) as db:
        store, ledger = JobStore(db), QuotaLedger(db)
        key = UserKey("discord", "1")
        for i in range(4):
            assert (await _submit(store, _job(i, price=5), user=key, daily=30)).created
        uid = (await store.get("job0")).user_id

        done = await store.finish("job0", Finish("done", 5.0, charged=5, result={"video": "a.mp4"}),
                                  ProgressBatch("job0"), _terminal)
        assert done is not None and done[0].charged == 5 and done[1]["credits_left"] == 10
        cheaper = await store.finish("job1", Finish("done", 5.0, charged=2), ProgressBatch("job1"), _terminal)
        assert cheaper[0].charged == 2 and cheaper[0].refunded == 3 and cheaper[1]["credits_left"] == 13
        failed = await store.finish("job2", Finish("failed", 5.0, error_code="render_failed", error_message="boom"),
                                    ProgressBatch("job2"), _terminal)
        assert failed[0].refunded == 5 and failed[0].error_code == "render_failed"
        # a cancel racing a completion: exactly one of them settles
        race = await asyncio.gather(
            store.finish("job3", Finish("cancelled", 6.0), ProgressBatch("job3"), _terminal),
            store.finish("job3", Finish("done", 6.0, charged=5), ProgressBatch("job3"), _terminal))
        assert sum(r is not None for r in race) == 1
        assert await store.finish("job0", Finish("failed", 7.0), ProgressBatch("job0"), _terminal) is None

        stored = await store.get("job0")
        assert stored.status == "done" and json.loads(stored.result) == {"video": "a.mp4"} and stored.finished_at == 5.0
        assert [json.loads(e)["seq"] for e in await store.events_after("job0", 0)] == [1, 2]

        assert await ledger.grant(uid, 7, 8.0, day=DAY, daily=30, note="gift") == (await store.balance_of(uid))
        assert await ledger.grant(uid, -10_000, 8.0, day=DAY, daily=30) == 0  # never below zero
        totals = await ledger.totals()
        assert totals.balanced and totals.balances == 0
        assert totals.reserved == 20 == totals.settled + totals.refunded
        assert sum(e.amount for e in await ledger.entries(uid)) == 0


async def test_totals_stay_balanced_while_writes_run(db_url):
    """A read is one snapshot: totals taken during concurrent writes always balance."""
    async with open_database(db_url) as db:
        store, ledger = JobStore(db), QuotaLedger(db)
        users = [await ledger.ensure_user("discord", str(u), "", 0.0) for u in range(4)]
        stop = asyncio.Event()

        async def writer(u: int) -> None:
            for i in range(15):
                job = _job(f"{u}-{i}", user_id=users[u].id, price=1)
                if (await _submit(store, job, daily=100)).created:
                    await store.finish(job.id, Finish("done" if i % 2 else "failed", 2.0, charged=1),
                                       ProgressBatch(job.id), _terminal)

        async def reader() -> int:
            checks = 0
            while not stop.is_set():
                totals = await ledger.totals()
                assert totals.balanced, totals
                checks += 1
                await asyncio.sleep(0)
            return checks

        reading = asyncio.ensure_future(reader())
        try:
            await asyncio.gather(*(writer(u) for u in range(4)))
        finally:
            stop.set()
        assert await reading > 0
        totals = await ledger.totals()
        assert totals.balanced and totals.reserved == 60 == totals.settled + totals.refunded


async def test_allowance_tops_up_once_per_day(db_url):
    async with open_database(db_url) as db:
        ledger = QuotaLedger(db)
        user = await ledger.ensure_user("discord", "1", "", 0.0)
        results = await asyncio.gather(*(ledger.balance(user.id, day=DAY, daily=10, now=1.0) for _ in range(10)))
        assert set(results) == {10}
        assert await ledger.balance(user.id, day="2025-03-02", daily=10, now=2.0) == 10
        assert (await ledger.totals()).allowance == 10


# ---------------------------------------------------------------------------------------- recovery


async def test_restart_recovery_queries(db_url):
    async with open_database(db_url) as db:
        store = JobStore(db)
        key = UserKey("discord", "1")
        for i, at in enumerate((3.0, 1.0, 2.0, 4.0)):
            assert (await _submit(store, _job(i, created_at=at), user=key, daily=100)).created
        await store.mark_running("job0", 5.0, ProgressBatch("job0", [{"seq": 2, "stage": "image", "progress": 0.3}]))
        await store.mark_running("job3", 5.0, ProgressBatch("job3"))
        await store.finish("job2", Finish("done", 100.0, charged=5), ProgressBatch("job2"), _terminal)
    # a new process on the same database
    async with open_database(db_url) as db:
        store = JobStore(db)
        assert [j.id for j in await store.with_status("running")] == ["job0", "job3"]
        assert [j.id for j in await store.with_status("queued")] == ["job1"]  # oldest first
        assert await store.count_by_status() == {"running": 2, "queued": 1, "done": 1}
        row, user = await store.get_with_user("job0")
        assert row.last_seq == 2 and row.stage == "image" and user.platform_user_id == "1"
        assert await store.get_with_user("missing") is None
        assert (await store.user_of(user.id)).id == user.id
        assert [json.loads(e)["seq"] for e in await store.events_after("job0", 1)] == [2]
        # retention: finished before the cut-off, files not yet deleted
        assert await store.expired(finished_before=50.0) == []
        assert await store.expired(finished_before=200.0) == ["job2"]
        await store.mark_files_deleted(["job2"], 201.0)
        await store.mark_files_deleted([], 201.0)
        assert await store.expired(finished_before=300.0) == []
        assert (await store.get("job2")).files_deleted_at == 201.0


async def test_recoveries_are_counted_and_committed_up_to_the_limit(db_url):
    async with open_database(db_url) as db:
        store = JobStore(db)
        key = UserKey("discord", "1")
        for i in (0, 1):
            assert (await _submit(store, _job(i), user=key, daily=100)).created
        await store.mark_running("job0", 5.0, ProgressBatch("job0"))
        assert (await store.get("job0")).recoveries == 0
        assert [await store.count_recovery("job0", 2) for _ in range(3)] == [1, 2, None]
        assert await store.count_recovery("job1", 2) is None  # queued, not interrupted
    async with open_database(db_url) as db:  # committed: a crash right after cannot lose it
        store = JobStore(db)
        assert (await store.get("job0")).recoveries == 2 and (await store.get("job1")).recoveries == 0


async def test_negative_grant_racing_submissions_never_goes_below_zero(db_url):
    async with open_database(db_url) as db:
        store, ledger = JobStore(db), QuotaLedger(db)
        for round_ in range(3):
            user = await ledger.ensure_user("discord", f"g{round_}", "", 0.0)
            assert await ledger.balance(user.id, day=DAY, daily=100, now=1.0) == 100
            results = await asyncio.gather(
                *(_submit(store, _job(f"{round_}-{i}", user_id=user.id, price=5), daily=100) for i in range(10)),
                ledger.grant(user.id, -1000, 2.0, day=DAY, daily=100),
                *(_submit(store, _job(f"{round_}-{i}", user_id=user.id, price=5), daily=100) for i in range(10, 20)))
            balance = await store.balance_of(user.id)
            assert balance >= 0 and results[10] >= 0, (balance, results[10])
            assert balance == sum(e.amount for e in await ledger.entries(user.id))
        assert (await ledger.totals()).balanced


async def test_text_the_database_may_refuse_is_stored_cleanly(db_url):
    """NUL characters (PostgreSQL text cannot hold them) and over-long names (PostgreSQL enforces
    VARCHAR lengths, SQLite does not) from providers never make a progress or finish write fail."""
    async with open_database(db_url) as db:
        store = JobStore(db)
        await _submit(store, _job(1), user=UserKey("discord", "1"))
        long_name = "provider-" + "p" * 100
        event = {"seq": 2, "stage": "script", "progress": 0.1, "message": "bad\x00byte", "provider": long_name}
        attempt = AttemptRecord("script-with-a-long-stage-name", "item\x00", long_name, "t" * 40, "o" * 40,
                                "oops\x00", 0.1, 1.0)
        assert await store.mark_running("job1", 1.0, ProgressBatch("job1", [event], [attempt]))
        row = await store.get("job1")
        assert row.message == "badbyte" and row.provider == long_name[:64]
        assert json.loads((await store.events_after("job1", 1))[0]) == event  # the JSON keeps it, escaped
        stored = (await store.attempts("job1"))[0]
        assert (stored.item, stored.message, len(stored.provider), len(stored.tier)) == ("item", "oops", 64, 32)
        done = await store.finish("job1", Finish("failed", 2.0, error_code="x" * 40, error_message="no\x00pe"),
                                  ProgressBatch("job1"), lambda row, balance: {**_terminal(row, balance),
                                                                              "message": "end\x00"})
        assert done is not None
        row = await store.get("job1")
        assert (row.error_code, row.error_message, row.message) == ("x" * 32, "nope", "end")


async def test_models_match_the_migrated_schema(db_url):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from storage.models import Base

    async with open_database(db_url) as db, db.engine.connect() as conn:
        diff = await conn.run_sync(lambda c: compare_metadata(
            MigrationContext.configure(c, opts={"compare_type": True}), Base.metadata))
    assert diff == []


async def test_a_unit_that_lost_a_deadlock_runs_again(db_url):
    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL reports deadlocks; SQLite's single writer has none")
    from sqlalchemy.exc import DBAPIError

    async with open_database(db_url) as db:
        runs: list[int] = []
        serial = iter(range(1000))

        def unit(code: str, fail_times: int):  # type: ignore[no-untyped-def]
            def work(session):  # type: ignore[no-untyped-def]
                runs.append(1)
                session.execute(text("INSERT INTO users (platform, platform_user_id, name, balance, allowance_day, "
                                     "created_at) VALUES ('t', :puid, '', 0, '', 1.0)"), {"puid": f"{code}-{next(serial)}"})
                if len(runs) <= fail_times:
                    session.execute(text(f"DO $$ BEGIN RAISE EXCEPTION 'lost' USING ERRCODE = '{code}'; END $$"))
                return len(runs)
            return work

        assert await db.write(unit("40P01", 2)) == 3  # deadlock_detected, twice: rolled back, run again
        runs.clear()
        assert await db.write(unit("40001", 1)) == 2  # serialization_failure
        runs.clear()
        with pytest.raises(DBAPIError):
            await db.write(unit("40001", 99))
        assert len(runs) == 4  # the first run and three retries
        runs.clear()
        with pytest.raises(DBAPIError):
            await db.write(unit("22000", 1))  # anything else is not retried
        assert len(runs) == 1
        users = await db.read(lambda s: s.execute(text("SELECT platform_user_id FROM users ORDER BY id")).scalars().all())
        assert users == ["40P01-2", "40001-4"]  # only the committed runs' rows
