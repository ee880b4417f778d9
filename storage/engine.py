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
  on the async engine, many units at once. Writes run at READ COMMITTED (set explicitly, whatever the
  server's default): the conditional UPDATEs (`... WHERE balance >= :price`, `... WHERE status IN
  (active)`) take the row lock and re-check their condition against the newest committed row, so
  concurrent reservations and finishes serialise on the user's or job's row and never overspend or
  settle twice; a read-then-write on a balance locks the row first (`SELECT ... FOR UPDATE`, which
  SQLite's compiler leaves out: its writer is already alone). Reads run at REPEATABLE READ, read
  only, so a unit that reads several tables (the ledger totals) sees one snapshot, as SQLite's
  `BEGIN` gives the reader threads. A unit that loses a deadlock or serialization check is rolled
  back and run again (units are plain functions of the session, safe to rerun).

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
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, sessionmaker

__all__ = ["Database", "create_engine", "open_database", "SQLITE_BUSY_TIMEOUT_MS", "READER_THREADS"]

SQLITE_BUSY_TIMEOUT_MS = 30_000
READER_THREADS = 2
# PostgreSQL: a unit of work that fails with one of these was rolled back whole and may simply run
# again (40001 serialization_failure, 40P01 deadlock_detected).
RETRY_SQLSTATES = frozenset({"40001", "40P01"})
TRANSIENT_RETRIES = 3

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
    elif parsed.get_backend_name() == "postgresql":
        # the conditional UPDATEs rely on READ COMMITTED's re-check of the newest row version; a
        # server configured for a stricter default would fail them with serialization errors instead
        kwargs.setdefault("isolation_level", "READ COMMITTED")
        kwargs.setdefault("pool_pre_ping", True)  # a long-lived agent outlives server restarts
    engine = create_async_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def _sqlstate(exc: DBAPIError) -> str | None:
    orig = exc.orig
    for candidate in (orig, getattr(orig, "__cause__", None)):
        state = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if state:
            return str(state)
    return None


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
    read_sessions: async_sessionmaker[AsyncSession] | None = None  # reads; default `sessions`
    _write_lock: asyncio.Lock | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        # SQLite without worker threads (`:memory:`): one writer at a time, queued in-process rather
        # than in sqlite's busy handler. PostgreSQL needs no such lock.
        if self._workers is None and self.engine.dialect.name == "sqlite":
            self._write_lock = asyncio.Lock()
        if self.read_sessions is None:
            self.read_sessions = self.sessions

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    async def write(self, fn: Work[T], *, retry_conflict: bool = False) -> T:
        """Run `fn(session)` in one write transaction: committed when it returns, rolled back if it
        raises. On SQLite, units of work run one at a time in the order they were submitted.

        `retry_conflict`: run `fn` once more when the commit lost a race on a unique key to another
        transaction (PostgreSQL; the second run finds the row the other one inserted). A unit that
        lost a deadlock or serialization check (PostgreSQL) is run again, up to TRANSIENT_RETRIES."""
        conflicts = 1 if retry_conflict else 0
        transient = TRANSIENT_RETRIES
        while True:
            try:
                return await self._write(fn)
            except IntegrityError:
                if conflicts <= 0:
                    raise
                conflicts -= 1
            except DBAPIError as exc:
                if transient <= 0 or _sqlstate(exc) not in RETRY_SQLSTATES:
                    raise
                transient -= 1

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
        assert self.read_sessions is not None
        async with self.read_sessions() as session:
            return await session.run_sync(fn)

    async def close(self) -> None:
        if self._workers is not None:
            await asyncio.to_thread(self._workers.close)
            self._workers = None


@contextlib.asynccontextmanager
async def open_database(url: str, *, migrate: bool = True, threads: bool = True) -> AsyncIterator[Database]:
    """The database at `url`, migrated. `threads=False` keeps SQLite on the async engine alone."""
    from storage.migrate import upgrade

    engine = await asyncio.to_thread(create_engine, url)  # it may create the SQLite file's folder
    db: Database | None = None
    try:
        if migrate:
            await upgrade(engine)
        workers = None
        if threads and _sqlite_file(url) is not None:
            workers = await asyncio.to_thread(functools.partial(_SqliteWorkers, url))
        reads = None
        if engine.dialect.name == "postgresql":
            # one snapshot per read unit, like the SQLite readers' BEGIN; read only
            snapshot = engine.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            reads = async_sessionmaker(snapshot, expire_on_commit=False)
        db = Database(engine, async_sessionmaker(engine, expire_on_commit=False), workers, reads)
        yield db
    finally:
        if db is not None:
            await db.close()
        await engine.dispose()
