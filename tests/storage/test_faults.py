"""Storage faults: the one-agent lock, a full disk, a damaged file, classification of driver errors."""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError

from storage import DatabaseInUse, DatabaseLock, StorageCorrupt, StorageFull, StorageState, open_database
from storage.errors import StorageUnavailable, classify


def test_a_second_holder_is_refused_with_the_holders_pid_even_in_the_same_process(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path}/db/agent.db"
    with DatabaseLock.acquire(url, tmp_path / "data") as first:
        assert first.path == tmp_path / "db" / "agent.db.lock"
        assert first.path.read_text().strip() == str(os.getpid())
        with pytest.raises(DatabaseInUse) as info:
            DatabaseLock.acquire(url, tmp_path / "elsewhere")
        assert str(info.value) == f"another agent is already using {tmp_path / 'db' / 'agent.db'} (pid {os.getpid()})"
        assert info.value.pid == os.getpid()
        assert not (tmp_path / "db" / "agent.db").exists(), "the database is not opened to find out"
    with DatabaseLock.acquire(url, tmp_path / "data"):  # released: the next agent may start
        pass


def test_a_server_database_is_locked_in_the_data_directory(tmp_path):
    url = "postgresql+asyncpg://reelbot@127.0.0.1/reelbot"
    with DatabaseLock.acquire(url, tmp_path / "data") as lock:
        assert lock.path == tmp_path / "data" / "agent.lock"
        with pytest.raises(DatabaseInUse, match="data"):
            DatabaseLock.acquire(url, tmp_path / "data")


async def test_a_full_disk_raises_storage_full_and_recovers_when_space_is_freed(tmp_path):
    async with open_database(f"sqlite+aiosqlite:///{tmp_path}/s.db") as db:
        await db.write(lambda s: s.execute(text("CREATE TABLE t (x TEXT)")))
        await db.simulate_full_disk(True)
        for _ in range(3):
            with pytest.raises(StorageFull, match="database or disk is full") as info:
                await db.write(lambda s: s.execute(text("INSERT INTO t VALUES ('small')")))
            assert isinstance(info.value.__cause__, OperationalError)  # SQLite's own SQLITE_FULL
        assert db.health.state is StorageState.FULL and db.health.failed_writes == 3
        assert await db.read(lambda s: s.execute(text("SELECT count(*) FROM t")).scalar_one()) == 0
        assert await db.probe_write() is False
        await db.simulate_full_disk(False)
        assert await db.probe_write() is True and db.health.state is StorageState.OK
        await db.write(lambda s: s.execute(text("INSERT INTO t VALUES ('later')")))
        assert db.free_bytes() is not None


async def test_a_constraint_violation_is_not_a_storage_fault(tmp_path):
    async with open_database(f"sqlite+aiosqlite:///{tmp_path}/s.db") as db:
        await db.write(lambda s: s.execute(text("CREATE TABLE t (x TEXT UNIQUE)")))
        await db.write(lambda s: s.execute(text("INSERT INTO t VALUES ('a')")))
        with pytest.raises(IntegrityError):
            await db.write(lambda s: s.execute(text("INSERT INTO t VALUES ('a')")))
        assert db.health.state is StorageState.OK


class _PgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"pg error {sqlstate}")
        self.sqlstate = sqlstate


@pytest.mark.parametrize("exc, kind", [
    (OSError(errno.ENOSPC, "No space left on device"), StorageFull),
    (_PgError("53100"), StorageFull),
    (_PgError("08006"), StorageUnavailable),
    (_PgError("23505"), None),  # unique violation: a bug or a race, never an outage
    (ValueError("nope"), None),
])
def test_driver_errors_are_classified(exc, kind):
    found = classify(exc)
    assert (found is None) if kind is None else type(found) is kind


async def _make_database(path: Path) -> None:
    async with open_database(f"sqlite+aiosqlite:///{path}") as db:
        await db.write(lambda s: s.execute(text("CREATE TABLE big (x TEXT)")))
        for i in range(20):
            await db.write(lambda s, i=i: s.execute(text("INSERT INTO big VALUES (:x)"), {"x": f"{i}" * 2000}))
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


async def test_a_damaged_database_is_refused_at_open_with_a_clear_message(tmp_path):
    path = tmp_path / "damaged.db"
    await _make_database(path)
    data = bytearray(path.read_bytes())
    page = 4096
    for offset in range(3 * page, len(data) - page, page):  # scribble over the b-tree pages' headers
        data[offset:offset + 64] = b"\xa5" * 64
    path.write_bytes(bytes(data))
    with pytest.raises(StorageCorrupt) as info:
        async with open_database(f"sqlite+aiosqlite:///{path}"):
            pass
    message = str(info.value)
    assert str(path) in message and "damaged" in message and "backup" in message and "\n" not in message


async def test_a_file_that_is_not_a_database_is_refused(tmp_path):
    path = tmp_path / "notes.db"
    path.write_bytes(b"these are not the pages you are looking for" * 200)
    with pytest.raises(StorageCorrupt, match="damaged"):
        async with open_database(f"sqlite+aiosqlite:///{path}"):
            pass


async def test_a_healthy_database_passes_the_check(tmp_path):
    path = tmp_path / "fine.db"
    await _make_database(path)
    async with open_database(f"sqlite+aiosqlite:///{path}") as db:
        assert await db.read(lambda s: s.execute(text("SELECT count(*) FROM big")).scalar_one()) == 20
