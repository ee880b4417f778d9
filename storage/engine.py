"""Engine and session factory. SQLite gets WAL, a busy timeout and foreign keys on every connection.

`open_database(url)` is the one owner: it creates the engine, brings the schema to the newest
migration (creating it, or upgrading in place with the data kept), and disposes of the engine on
exit. Everything else receives the `Database` and opens one session per unit of work.

Concurrency on SQLite: Python's sqlite3 driver begins a transaction at the first INSERT/UPDATE/
DELETE, so a unit of work that starts with a write takes the write lock first (waiting up to
`busy_timeout`) and reads current data after it. The stores rely on that: every decision that must
be exact (reserving credits, finishing a job) is a conditional UPDATE, which also serialises on a
row lock under PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

__all__ = ["Database", "create_engine", "open_database", "SQLITE_BUSY_TIMEOUT_MS"]

SQLITE_BUSY_TIMEOUT_MS = 30_000


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")  # safe with WAL; fsync at checkpoints
    finally:
        cursor.close()


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine for `url`; a SQLite file's directory is created when missing."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
    engine = create_async_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


@dataclass
class Database:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    _write_lock: asyncio.Lock | None = None

    def __post_init__(self) -> None:
        # SQLite has one writer at a time; connections that collide wait in sqlite's busy handler,
        # which sleeps in steps of up to 100 ms. Queueing our own writers in-process instead keeps
        # the wait to the writes ahead. PostgreSQL needs no such lock.
        if self.engine.dialect.name == "sqlite":
            self._write_lock = asyncio.Lock()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextlib.asynccontextmanager
    async def writing(self) -> AsyncIterator[AsyncSession]:
        """A session in a write transaction (committed on exit, rolled back on error)."""
        async with contextlib.AsyncExitStack() as stack:
            if self._write_lock is not None:
                await stack.enter_async_context(self._write_lock)
            session = await stack.enter_async_context(self.sessions())
            await stack.enter_async_context(session.begin())
            yield session


@contextlib.asynccontextmanager
async def open_database(url: str, *, migrate: bool = True) -> AsyncIterator[Database]:
    from storage.migrate import upgrade

    engine = create_engine(url)
    try:
        if migrate:
            await upgrade(engine)
        yield Database(engine, async_sessionmaker(engine, expire_on_commit=False))
    finally:
        await engine.dispose()
