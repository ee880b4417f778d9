"""Group commit (storage.batch): submissions that arrive together share one write transaction, and
every guarantee of a submission of its own still holds: exact quota and in-flight limits, one job per
request id, a failing unit rolled back alone, a whole batch rerun after a lost deadlock, a storage
fault reported to every caller.

Transactions are counted with SQLAlchemy's "commit" event on every engine. Each test taking `db_url`
runs on a SQLite file and, with REELBOT_TEST_DATABASE_URL set, on a fresh PostgreSQL database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from storage import JobStore, NewJob, QuotaLedger, StorageFull, UserKey, open_database
from storage.batch import GroupCommit
from storage.engine import TRANSIENT_RETRIES
from storage.prepared import Prepared
from tests.support.waiting import counting_turns, wait_until

DAY = "2025-03-01"


def _job(i: int | str, *, price: int = 5, request_id: str | None = None, user_id: int = 0) -> NewJob:
    return NewJob(f"job{i}", request_id or f"r{i}", user_id, f"topic {i}", {"aspect": "9:16"}, "self-hosted",
                  price, 1.0)


def _first() -> dict[str, Any]:
    return {"seq": 1, "status": "queued", "stage": "queued", "progress": 0.0, "message": "queued"}


async def _submit(store: JobStore, job: NewJob, key: UserKey | None, *, daily: int = 15,
                  max_in_flight: int | None = None) -> Any:
    return await store.submit(job, first_event=_first, max_in_flight=max_in_flight, day=DAY, daily=daily, user=key)


@contextmanager
def _commits() -> Iterator[list[int]]:
    """Counts the transactions committed on any engine while inside."""
    seen: list[int] = []

    def on_commit(_conn: Any) -> None:
        seen.append(1)

    event.listen(Engine, "commit", on_commit)
    try:
        yield seen
    finally:
        event.remove(Engine, "commit", on_commit)


def _insert_user(puid: str):  # type: ignore[no-untyped-def]
    return text("INSERT INTO users (platform, platform_user_id, name, balance, allowance_day, created_at) "
                f"VALUES ('t', '{puid}', '', 0, '', 1.0)")


def _adding(name: str):  # type: ignore[no-untyped-def]
    """A unit that adds the user `name` and returns the name."""
    def work(session):  # type: ignore[no-untyped-def]
        session.execute(_insert_user(name))
        return name
    return work


async def _user_ids(db) -> list[str]:  # type: ignore[no-untyped-def]
    return await db.read(lambda s: list(s.execute(
        text("SELECT platform_user_id FROM users WHERE platform = 't' ORDER BY platform_user_id")).scalars()))


class _PgError(Exception):
    """What PostgreSQL's driver carries on a lost deadlock: its SQLSTATE."""

    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"lost ({sqlstate})")
        self.sqlstate = sqlstate


# ---------------------------------------------------------------------------------------- submissions


async def test_concurrent_submits_share_transactions_and_all_are_kept(db_url):
    async with open_database(db_url) as db:
        store, ledger = JobStore(db), QuotaLedger(db)
        with _commits() as commits:
            outcomes = await asyncio.gather(*(
                _submit(store, _job(i), UserKey("discord", f"u{i % 10}", f"User {i % 10}"), daily=100)
                for i in range(60)))
        assert all(o.created for o in outcomes)
        assert len(commits) < 60 / 4, f"{len(commits)} transactions for 60 submissions"
        assert len({o.job.id for o in outcomes}) == 60
        totals = await ledger.totals()
        assert totals.balanced and totals.reserved == 300 and totals.allowance == 1000
        assert await store.count_by_status() == {"queued": 60}
        assert {o.balance for o in outcomes if o.user.platform_user_id == "u3"} == {95, 90, 85, 80, 75, 70}


async def test_quota_is_exact_when_one_user_floods_a_batch(db_url):
    async with open_database(db_url) as db:
        store, ledger = JobStore(db), QuotaLedger(db)
        key = UserKey("telegram", "7", "Flo")  # new: created by the first of the batch, found by the rest
        with _commits() as commits:
            outcomes = await asyncio.gather(*(_submit(store, _job(i), key, daily=15) for i in range(50)))
        assert len(commits) < 10
        assert sum(o.created for o in outcomes) == 3
        assert {o.rejected for o in outcomes if not o.created} == {"quota"}
        assert {o.balance for o in outcomes if not o.created} == {0}
        totals = await ledger.totals()
        assert totals.balanced and totals.balances == 0 and totals.reserved == 15 and totals.allowance == 15
        assert len(await db.read(lambda s: list(s.execute(text("SELECT id FROM users")).scalars()))) == 1


async def test_in_flight_limit_is_exact_within_a_batch(db_url):
    async with open_database(db_url) as db:
        store, ledger = JobStore(db), QuotaLedger(db)
        key = UserKey("discord", "5")
        with _commits() as commits:
            outcomes = await asyncio.gather(
                *(_submit(store, _job(i), key, daily=100, max_in_flight=2) for i in range(12)))
        assert len(commits) < 12
        assert sum(o.created for o in outcomes) == 2
        assert {o.rejected for o in outcomes if not o.created} == {"in_flight"}
        uid = next(o.job.user_id for o in outcomes if o.created)
        assert await store.balance_of(uid) == 90  # refused submissions reserve nothing
        assert (await ledger.totals()).balanced


async def test_a_repeated_request_id_in_one_batch_is_one_job_charged_once(db_url):
    async with open_database(db_url) as db:
        store, ledger = JobStore(db), QuotaLedger(db)
        key = UserKey("discord", "77", "Bo")
        with _commits() as commits:
            outcomes = await asyncio.gather(
                *(_submit(store, _job(i, request_id="dup"), key, daily=100) for i in range(20)),
                *(_submit(store, _job(f"other{i}"), key, daily=100) for i in range(3)))
        assert len(commits) < 10
        dups = outcomes[:20]
        assert sum(o.created for o in dups) == 1 and len({o.job.id for o in dups}) == 1
        assert all(o.rejected is None and o.user is not None and o.user.name == "Bo" for o in dups)
        totals = await ledger.totals()
        assert totals.reserved == 20 and totals.balances == 80 and totals.balanced


# ---------------------------------------------------------------------------------------- units


async def test_a_failing_unit_is_rolled_back_alone(db_url):
    async with open_database(db_url) as db:
        commits = GroupCommit(db)

        def broken(session):  # type: ignore[no-untyped-def]
            session.execute(_insert_user("broken"))  # written, then undone with its savepoint
            raise ValueError("a bug in one unit")

        def duplicate(session):  # type: ignore[no-untyped-def]
            session.execute(_insert_user("dup"))
            session.execute(_insert_user("dup"))  # the unique key refuses it: this unit only

        with _commits() as seen:
            results = await asyncio.gather(
                commits.write(_adding("a")), commits.write(broken), commits.write(_adding("b")),
                commits.write(duplicate), commits.write(_adding("c")), return_exceptions=True)
        assert results[0] == "a" and results[2] == "b" and results[4] == "c"
        assert isinstance(results[1], ValueError) and isinstance(results[3], IntegrityError)
        assert len(seen) == 1 and commits.transactions == 1 and commits.units == 5
        assert await _user_ids(db) == ["a", "b", "c"]


_PREPARED_USER = Prepared(text("INSERT INTO users (platform, platform_user_id, name, balance, allowance_day, created_at) "
                                "VALUES ('t', :puid, '', 0, '', 1.0)"))


async def test_a_failing_plain_unit_is_rolled_back_alone(db_url):
    """`plain=True` units (prepared statements, storage.prepared) run in a SAVEPOINT of the driver's
    own: a unit's statements before its failure are undone with it, the others' are kept, and a
    lost unique race is run again in the same batch."""
    async with open_database(db_url) as db:
        commits = GroupCommit(db)
        runs: list[int] = []

        def adding(name: str):  # type: ignore[no-untyped-def]
            def work(session):  # type: ignore[no-untyped-def]
                _PREPARED_USER.rowcount(session, {"puid": name})
                return name
            return work

        def broken(session):  # type: ignore[no-untyped-def]
            _PREPARED_USER.rowcount(session, {"puid": "broken"})  # written, then undone with its savepoint
            raise ValueError("a bug in one unit")

        def duplicate(session):  # type: ignore[no-untyped-def]
            _PREPARED_USER.rowcount(session, {"puid": "dup"})
            _PREPARED_USER.rowcount(session, {"puid": "dup"})  # the unique key refuses it: this unit only

        def racing(session):  # type: ignore[no-untyped-def]
            runs.append(1)
            _PREPARED_USER.rowcount(session, {"puid": f"racing{len(runs)}"})
            if len(runs) == 1:  # as when another transaction committed the same key first
                raise IntegrityError("INSERT ...", None, _PgError("23505"))
            return len(runs)

        with _commits() as seen:
            results = await asyncio.gather(
                commits.write(adding("a"), plain=True), commits.write(broken, plain=True),
                commits.write(adding("b"), plain=True), commits.write(duplicate, plain=True),
                commits.write(racing, plain=True, retry_conflict=True), commits.write(adding("c"), plain=True),
                return_exceptions=True)
        assert results[0] == "a" and results[2] == "b" and results[4] == 2 and results[5] == "c"
        assert isinstance(results[1], ValueError) and isinstance(results[3], IntegrityError)
        assert len(seen) == 1 and commits.transactions == 1 and commits.units == 6
        assert await _user_ids(db) == ["a", "b", "c", "racing2"]


async def test_a_lost_unique_race_runs_the_unit_again_in_the_batch(db_url):
    async with open_database(db_url) as db:
        commits = GroupCommit(db)
        runs: list[str] = []

        def racing(session):  # type: ignore[no-untyped-def]
            runs.append("racing")
            session.execute(_insert_user(f"racing{len(runs)}"))
            if len(runs) == 1:  # as when another transaction committed the same key first
                raise IntegrityError("INSERT ...", None, _PgError("23505"))
            return len(runs)

        def other(session):  # type: ignore[no-untyped-def]
            session.execute(_insert_user("other"))
            return "other"

        assert await asyncio.gather(commits.write(racing, retry_conflict=True), commits.write(other)) == [2, "other"]
        assert commits.transactions == 1
        assert await _user_ids(db) == ["other", "racing2"]


async def test_a_lost_deadlock_reruns_the_whole_batch(db_url):
    async with open_database(db_url) as db:
        commits = GroupCommit(db)
        runs = {"a": 0, "loser": 0}

        def a(session):  # type: ignore[no-untyped-def]
            runs["a"] += 1
            session.execute(_insert_user(f"a{runs['a']}"))
            return "a"

        def loser(session):  # type: ignore[no-untyped-def]
            runs["loser"] += 1
            session.execute(_insert_user(f"loser{runs['loser']}"))
            if runs["loser"] == 1:
                if db.dialect == "postgresql":  # the server's own deadlock_detected, inside the savepoint
                    session.execute(text("DO $$ BEGIN RAISE EXCEPTION 'lost' USING ERRCODE = '40P01'; END $$"))
                raise DBAPIError("UPDATE ...", None, _PgError("40P01"))
            return "loser"

        assert await asyncio.gather(commits.write(a), commits.write(loser)) == ["a", "loser"]
        assert runs == {"a": 2, "loser": 2}  # both ran again, in a new transaction
        assert await _user_ids(db) == ["a2", "loser2"]  # only the committed run's rows

        def always(session):  # type: ignore[no-untyped-def]
            runs["loser"] += 1
            raise DBAPIError("UPDATE ...", None, _PgError("40001"))

        runs["loser"] = 0
        results = await asyncio.gather(commits.write(a), commits.write(always), return_exceptions=True)
        assert all(isinstance(r, DBAPIError) for r in results)  # the budget spent: nothing was written
        assert runs["loser"] == 1 + TRANSIENT_RETRIES
        assert await _user_ids(db) == ["a2", "loser2"]


async def test_a_full_disk_fails_every_unit_of_the_batch_and_writes_resume(tmp_path):
    async with open_database(f"sqlite+aiosqlite:///{tmp_path}/full.db") as db:
        commits = GroupCommit(db)

        await db.simulate_full_disk(True)
        results = await asyncio.gather(*(commits.write(_adding(f"u{i}")) for i in range(5)), return_exceptions=True)
        assert all(isinstance(r, StorageFull) for r in results), results
        await db.simulate_full_disk(False)
        assert await asyncio.gather(*(commits.write(_adding(f"v{i}")) for i in range(3))) == ["v0", "v1", "v2"]
        assert await _user_ids(db) == ["v0", "v1", "v2"]


async def test_a_unit_whose_caller_left_before_its_batch_is_not_written(tmp_path):
    async with open_database(f"sqlite+aiosqlite:///{tmp_path}/cancel.db") as db:
        commits = GroupCommit(db)
        gate = asyncio.Event()
        loop = asyncio.get_running_loop()

        def slow(session):  # type: ignore[no-untyped-def]
            session.execute(_insert_user("first"))
            asyncio.run_coroutine_threadsafe(_wait(gate), loop).result(timeout=10)  # holds the writer
            return "first"

        first = asyncio.ensure_future(commits.write(slow))
        await asyncio.sleep(0.05)  # the first batch is being written
        left = asyncio.ensure_future(commits.write(_adding("left")))
        stays = asyncio.ensure_future(commits.write(_adding("stays")))
        await asyncio.sleep(0)
        left.cancel()
        gate.set()
        assert await first == "first" and await stays == "stays"
        assert left.cancelled()
        assert await _user_ids(db) == ["first", "stays"]


async def _wait(gate: asyncio.Event) -> None:
    await gate.wait()


async def test_without_worker_threads_each_unit_is_its_own_write(tmp_path):
    """SQLite on the async engine alone has no sound SAVEPOINT: units are plain writes there."""
    async with open_database(f"sqlite+aiosqlite:///{tmp_path}/plain.db", threads=False) as db:
        commits = GroupCommit(db)

        def broken(session):  # type: ignore[no-untyped-def]
            session.execute(_insert_user("broken"))
            raise ValueError("undone")

        results = await asyncio.gather(
            commits.write(_adding("x")), commits.write(broken),
            return_exceptions=True)
        assert results[0] == "x" and isinstance(results[1], ValueError)
        assert commits.transactions == 0 and await _user_ids(db) == ["x"]


async def test_the_callers_of_a_written_batch_go_on_a_few_per_turn_of_the_loop(tmp_path):
    from storage.batch import WAKE_PER_TURN

    async with open_database(f"sqlite+aiosqlite:///{tmp_path}/a.db") as db:
        commits = GroupCommit(db)
        n = 3 * WAKE_PER_TURN + 5
        async with counting_turns() as turn:
            async def caller(i: int) -> int:
                await commits.write(_adding(f"u{i}"))
                return turn[0]

            resumed = await asyncio.gather(*(caller(i) for i in range(n)))
        assert commits.transactions == 1 and commits.units == n  # one batch, one transaction
        per_turn = [resumed.count(t) for t in set(resumed)]
        assert max(per_turn) <= WAKE_PER_TURN and len(per_turn) >= 4
        assert len(await _user_ids(db)) == n


async def test_callers_not_yet_woken_are_cancelled_with_the_batch_task(tmp_path):
    from storage.batch import WAKE_PER_TURN

    async with open_database(f"sqlite+aiosqlite:///{tmp_path}/a.db") as db:
        commits = GroupCommit(db)
        callers = [asyncio.ensure_future(commits.write(_adding(f"u{i}"))) for i in range(3 * WAKE_PER_TURN)]
        await wait_until(callers[0].done, interval_s=0)  # the first few are woken: the batch task waits for the next turn
        assert commits._writing is not None
        commits._writing.cancel()
        await asyncio.wait_for(asyncio.wait(callers), 2)  # none left waiting forever
        assert callers[0].result() == "u0" and callers[-1].cancelled()
