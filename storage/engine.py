"""Engine, sessions and the units of work. SQLite gets WAL, a busy timeout and foreign keys.

`open_database(url)` is the one owner: it creates the engine, brings the schema to the newest
migration (creating it, or upgrading in place with the data kept), and disposes of it on exit.
Everything else receives the `Database` and hands it units of work:

    await db.write(fn)   fn(session) runs in one write transaction, committed when it returns
    await db.read(fn)    fn(session) runs in a read-only snapshot

A unit of work is a plain synchronous function of a SQLAlchemy `Session`, so the stores hold the
SQL once and it runs the same way everywhere:

- SQLite file (the default): every unit runs on a worker thread in ONE hop from the event loop. All
  writes go through a single writer thread with a single connection, in submission order, each in
  `BEGIN IMMEDIATE` (so reads inside it see current data). Reads go to a small pool of reader
  threads; WAL lets them run beside the writer. Why: with aiosqlite every statement is a hop to the
  connection's thread and back through the loop, and a write transaction holds SQLite's one write
  lock across all of them. Under load each hop waits for a busy loop, so a 10-statement transaction
  held the lock for 10+ loop iterations and writers queued behind it for seconds (see
  bench/agent_load.py). Here the lock is held only while the thread runs the statements.
- PostgreSQL (asyncpg), or SQLite `:memory:`: the same function runs through `AsyncSession.run_sync`
  on the async engine; PostgreSQL serialises the conditional UPDATEs on row locks.

The async engine (`Database.engine`) stays the one the URL names: migrations and ad-hoc queries use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, event
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, sessionmaker

__all__ = ["Database", "create_engine", "open_database", "SQLITE_BUSY_TIMEOUT_MS", "READER_THREADS"]

SQLITE_BUSY_TIMEOUT_MS = 30_000
READER_THREADS = 2

T = TypeVar("T")
Work = Callable[[Session], T]


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")  # safe with WAL; fsync at checkpoints
    finally:
        cursor.close()


def _sqlite_file(url: str) -> str | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    if "mode=memory" in str(parsed.query):
        return None
    return parsed.database


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


def _sqlite_sync_engine(url: str, *, begin: str, pool_size: int) -> Engine:
    """A pysqlite engine on the same file, for the worker threads.

    pysqlite's own transaction handling is switched off (isolation_level=None) and SQLAlchemy's
    "begin" emits `begin` itself, so a transaction starts at the session's first statement, reads
    included (the documented SQLAlchemy recipe for pysqlite)."""
    sync_url = make_url(url).set(drivername="sqlite")
    engine = create_sync_engine(
        sync_url, pool_size=pool_size, max_overflow=0,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
    )

    def on_connect(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None
        _sqlite_pragmas(dbapi_connection, record)

    def on_begin(conn: Any) -> None:
        conn.exec_driver_sql(begin)

    event.listen(engine, "connect", on_connect)
    event.listen(engine, "begin", on_begin)
    return engine


class _SqliteWorkers:
    """One writer thread (one connection) and a few reader threads over a SQLite file."""

    def __init__(self, url: str, readers: int = READER_THREADS) -> None:
        self.writer_engine = _sqlite_sync_engine(url, begin="BEGIN IMMEDIATE", pool_size=1)
        self.reader_engine = _sqlite_sync_engine(url, begin="BEGIN", pool_size=readers)
        self.writes = sessionmaker(self.writer_engine, expire_on_commit=False)
        self.reads = sessionmaker(self.reader_engine, expire_on_commit=False)
        self.writer = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
        self.readers = ThreadPoolExecutor(readers, thread_name_prefix="sqlite-reader")

    def run_write(self, fn: Work[T]) -> T:
        with self.writes() as session, session.begin():
            return fn(session)

    def run_read(self, fn: Work[T]) -> T:
        with self.reads() as session:
            return fn(session)

    def close(self) -> None:
        self.writer.shutdown(wait=True)
        self.readers.shutdown(wait=True)
        self.writer_engine.dispose()
        self.reader_engine.dispose()


@dataclass
class Database:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    _workers: _SqliteWorkers | None = None
    _write_lock: asyncio.Lock | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        # SQLite without worker threads (`:memory:`): one writer at a time, queued in-process rather
        # than in sqlite's busy handler. PostgreSQL needs no such lock.
        if self._workers is None and self.engine.dialect.name == "sqlite":
            self._write_lock = asyncio.Lock()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    async def write(self, fn: Work[T], *, retry_conflict: bool = False) -> T:
        """Run `fn(session)` in one write transaction: committed when it returns, rolled back if it
        raises. On SQLite, units of work run one at a time in the order they were submitted.

        `retry_conflict`: run `fn` once more when the commit lost a race on a unique key to another
        transaction (PostgreSQL; the second run finds the row the other one inserted)."""
        try:
            return await self._write(fn)
        except IntegrityError:
            if not retry_conflict:
                raise
            return await self._write(fn)

    async def _write(self, fn: Work[T]) -> T:
        if self._workers is not None:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._workers.writer, self._workers.run_write, fn)
        async with contextlib.AsyncExitStack() as stack:
            if self._write_lock is not None:
                await stack.enter_async_context(self._write_lock)
            session = await stack.enter_async_context(self.sessions())
            await stack.enter_async_context(session.begin())
            return await session.run_sync(fn)

    async def read(self, fn: Work[T]) -> T:
        """Run `fn(session)` on a consistent snapshot; nothing it writes is kept."""
        if self._workers is not None:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._workers.readers, self._workers.run_read, fn)
        async with self.sessions() as session:
            return await session.run_sync(fn)

    async def close(self) -> None:
        if self._workers is not None:
            await asyncio.to_thread(self._workers.close)
            self._workers = None


@contextlib.asynccontextmanager
async def open_database(url: str, *, migrate: bool = True, threads: bool = True) -> AsyncIterator[Database]:
    """The database at `url`, migrated. `threads=False` keeps SQLite on the async engine alone."""
    from storage.migrate import upgrade

    engine = create_engine(url)
    db: Database | None = None
    try:
        if migrate:
            await upgrade(engine)
        workers = None
        if threads and _sqlite_file(url) is not None:
            workers = await asyncio.to_thread(functools.partial(_SqliteWorkers, url))
        db = Database(engine, async_sessionmaker(engine, expire_on_commit=False), workers)
        yield db
    finally:
        if db is not None:
            await db.close()
        await engine.dispose()
