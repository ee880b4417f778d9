"""Storage: migrations create and upgrade in place keeping data; SQLite pragmas; the ledger's SQL."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from storage import JobStore, NewJob, QuotaLedger, open_database
from storage.engine import create_engine
from storage.migrate import current_revision, upgrade


async def test_upgrade_in_place_keeps_data(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path}/old.db"
    engine = create_engine(url)
    try:
        await upgrade(engine, "0001")
        assert await current_revision(engine) == "0001"
        async with engine.begin() as conn:
            await conn.execute(text(
                "INSERT INTO users (platform, platform_user_id, name, balance, allowance_day, created_at) "
                "VALUES ('discord', '7', 'Old', 33, '2025-01-01', 1.0)"))
            await conn.execute(text(
                "INSERT INTO jobs (id, request_id, user_id, topic, route, status, created_at) "
                "VALUES ('oldjob12345', 'r', 1, 'kept', 'self-hosted', 'done', 1.0)"))
    finally:
        await engine.dispose()
    async with open_database(url) as db:
        assert await current_revision(db.engine) == "0002"
        row = await JobStore(db).get("oldjob12345")
        assert row is not None and row.topic == "kept" and row.files_deleted_at is None
        user = await QuotaLedger(db).ensure_user("discord", "7", "Old", 2.0)
        assert user.balance == 33
    async with open_database(url) as db:  # idempotent on an up-to-date schema
        assert await current_revision(db.engine) == "0002"


async def test_sqlite_pragmas(tmp_path):
    async with open_database(f"sqlite+aiosqlite:///{tmp_path}/x/y.db") as db:
        async with db.engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar() >= 5000
            assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1


async def test_concurrent_reserve_never_overspends(tmp_path):
    async with open_database(f"sqlite+aiosqlite:///{tmp_path}/l.db") as db:
        store, ledger = JobStore(db), QuotaLedger(db)
        user = await ledger.ensure_user("telegram", "1", "", 0.0)

        async def one(i: int):
            job = NewJob(f"job{i:08d}", f"r{i}", user.id, "t", {}, "self-hosted", 7, 1.0)
            return await store.submit(job, first_event=lambda: {"seq": 1, "message": "queued"},
                                      max_in_flight=None, day="2025-01-01", daily=50)

        outcomes = await asyncio.gather(*(one(i) for i in range(30)))
        assert sum(o.created for o in outcomes) == 7  # 50 // 7
        assert {o.rejected for o in outcomes if not o.created} == {"quota"}
        totals = await ledger.totals()
        assert totals.balanced and totals.balances == 1 and totals.reserved == 49 and totals.allowance == 50
