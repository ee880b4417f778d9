"""The write path's re-runs on SQLite too: the budgets do not need PostgreSQL to be checked.

A unit that raises a DBAPIError carrying a SQLSTATE stands for what PostgreSQL reports on a lost
deadlock (40P01) or serialization check (40001); IntegrityError for a lost unique-key race."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError

from storage import open_database
from storage.engine import TRANSIENT_RETRIES


class _PgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"lost ({sqlstate})")
        self.sqlstate = sqlstate


def _failing(runs: list[int], times: int, error: type[DBAPIError], sqlstate: str = "23505"):  # type: ignore[no-untyped-def]
    def work(session):  # type: ignore[no-untyped-def]
        runs.append(1)
        if len(runs) <= times:
            raise error("INSERT ...", None, _PgError(sqlstate))
        return len(runs)
    return work


async def test_transient_failures_run_again_up_to_the_budget(tmp_path) -> None:
    async with open_database(f"sqlite+aiosqlite:///{tmp_path}/s.db") as db:
        runs: list[int] = []
        assert await db.write(_failing(runs, 2, DBAPIError, "40P01")) == 3
        runs.clear()
        with pytest.raises(DBAPIError):
            await db.write(_failing(runs, 99, DBAPIError, "40001"))
        assert len(runs) == 1 + TRANSIENT_RETRIES
        runs.clear()
        with pytest.raises(DBAPIError):
            await db.write(_failing(runs, 1, DBAPIError, "22000"))  # anything else is not run again
        assert len(runs) == 1


async def test_a_lost_unique_key_race_runs_again_once_and_only_when_asked(tmp_path) -> None:
    async with open_database(f"sqlite+aiosqlite:///{tmp_path}/s.db") as db:
        runs: list[int] = []
        with pytest.raises(IntegrityError):
            await db.write(_failing(runs, 1, IntegrityError))
        assert len(runs) == 1
        runs.clear()
        assert await db.write(_failing(runs, 1, IntegrityError), retry_conflict=True) == 2
        runs.clear()
        with pytest.raises(IntegrityError):
            await db.write(_failing(runs, 2, IntegrityError), retry_conflict=True)
        assert len(runs) == 2
        runs.clear()  # an IntegrityError spends only the conflict budget, even with a retryable SQLSTATE
        with pytest.raises(IntegrityError):
            await db.write(_failing(runs, 99, IntegrityError, "40001"), retry_conflict=True)
        assert len(runs) == 2
