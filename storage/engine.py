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

Faults: a unit that fails for a storage reason (disk full, I/O error, server gone) raises a
`storage.errors.StorageUnavailable` (`StorageFull` for a full disk) instead of the driver's error,
and every write's outcome goes to `Database.health` (storage.health). A SQLite file is checked with
`PRAGMA quick_check` when it is opened: a damaged one raises `StorageCorrupt` before anything runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import shutil
import sqlite3
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import tenacity
from sqlalchemy import Engine, event, text
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, sessionmaker

from storage.errors import StorageCorrupt, StorageUnavailable, classify, is_corruption
from storage.health import StorageHealth

__all__ = ["Database", "create_engine", "open_database", "quick_check", "SQLITE_BUSY_TIMEOUT_MS", "READER_THREADS",
           "RETRY_SQLSTATES", "sqlstate"]

SQLITE_BUSY_TIMEOUT_MS = 30_000
READER_THREADS = 2
# PostgreSQL: a unit of work that fails with one of these was rolled back whole and may simply run
# again (40001 serialization_failure, 40P01 deadlock_detected).
RETRY_SQLSTATES = frozenset({"40001", "40P01"})
TRANSIENT_RETRIES = 3
SQLITE_MAX_PAGES = 4294967294  # SQLite's own ceiling for max_page_count: "no limit"

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


def sqlstate(exc: DBAPIError) -> str | None:
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
        self._fill_bytes = 0  # test seam (Database.simulate_full_disk): > 0 while the "disk" is full
        event.listen(self.writer_engine, "begin", self._fill_on_begin)

    def _fill_on_begin(self, conn: Any) -> None:
        # On a full disk every write transaction fails when SQLite appends to its journal. The page
        # limit alone fails only writes that need a new page, so each transaction first writes a
        # blob larger than any free space: SQLite itself answers SQLITE_FULL, through the real path.
        if self._fill_bytes:
            conn.exec_driver_sql("INSERT INTO fault_disk_fill (b) VALUES (zeroblob(?))", (self._fill_bytes,))

    def set_full(self, full: bool) -> None:
        """Runs on the writer thread: cap the file at its current size (PRAGMA max_page_count)."""
        with self.writer_engine.connect() as conn:
            raw = conn.connection.driver_connection
            assert raw is not None
            if full:
                raw.execute("CREATE TABLE IF NOT EXISTS fault_disk_fill (b BLOB)")
                pages, free, size = (raw.execute(f"PRAGMA {name}").fetchone()[0]
                                     for name in ("page_count", "freelist_count", "page_size"))
                raw.execute(f"PRAGMA max_page_count = {int(pages)}")
                self._fill_bytes = (int(free) + 2) * int(size)
            else:
                raw.execute(f"PRAGMA max_page_count = {SQLITE_MAX_PAGES}")
                self._fill_bytes = 0

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
    file: str | None = None  # the SQLite file, when there is one
    health: StorageHealth = field(default_factory=StorageHealth)
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

    @property
    def savepoints(self) -> bool:
        """Whether a write unit may use SAVEPOINTs: not on SQLite without worker threads, where
        pysqlite's own transaction handling turns the first SAVEPOINT into the transaction itself."""
        return self._workers is not None or self.dialect != "sqlite"

    async def write(self, fn: Work[T], *, retry_conflict: bool = False) -> T:
        """Run `fn(session)` in one write transaction: committed when it returns, rolled back if it
        raises. On SQLite, units of work run one at a time in the order they were submitted.

        `retry_conflict`: run `fn` once more when the commit lost a race on a unique key to another
        transaction (PostgreSQL; the second run finds the row the other one inserted). A unit that
        lost a deadlock or serialization check (PostgreSQL) is run again, up to TRANSIENT_RETRIES."""
        try:
            result = await self._write_retrying(fn, retry_conflict)
        except Exception as exc:
            fault = classify(exc)
            if fault is None:
                raise
            self.health.failed(fault)
            raise fault from exc
        self.health.succeeded()
        return result

    async def _write_retrying(self, fn: Work[T], retry_conflict: bool) -> T:
        # two budgets: a lost unique-key race is run again once (when asked), a deadlock or
        # serialization failure up to TRANSIENT_RETRIES times; both at once, with no wait
        left = {"conflict": 1 if retry_conflict else 0, "transient": TRANSIENT_RETRIES}

        def again(exc: BaseException) -> bool:
            if isinstance(exc, IntegrityError):
                kind = "conflict"
            elif isinstance(exc, DBAPIError) and sqlstate(exc) in RETRY_SQLSTATES:
                kind = "transient"
            else:
                return False
            if left[kind] <= 0:
                return False
            left[kind] -= 1
            return True

        retrying = tenacity.AsyncRetrying(retry=tenacity.retry_if_exception(again), stop=tenacity.stop_never,
                                          wait=tenacity.wait_none(), reraise=True)
        return await retrying(self._write, fn)

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
        try:
            return await self._read(fn)
        except Exception as exc:
            fault = classify(exc)
            if fault is None:
                raise
            raise fault from exc

    async def _read(self, fn: Work[T]) -> T:
        if self._workers is not None:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._workers.readers, self._workers.run_read, fn)
        assert self.read_sessions is not None
        async with self.read_sessions() as session:
            return await session.run_sync(fn)

    async def probe_write(self) -> bool:
        """Write one row onto itself (a real page write, so a full disk fails it); True if stored.
        For the status page while writes are failing: it learns that space came back even when
        nothing else writes."""
        try:
            await self.write(lambda s: s.execute(text("UPDATE alembic_version SET version_num = version_num")))
        except StorageUnavailable:
            return False
        return True

    def free_bytes(self) -> int | None:
        """Free space on the SQLite file's filesystem (blocking: call off the loop); None if no file."""
        if self.file is None:
            return None
        try:
            return shutil.disk_usage(Path(self.file).expanduser().absolute().parent).free
        except OSError:
            return None

    async def simulate_full_disk(self, full: bool) -> None:
        """Test seam: the SQLite file behaves as on a full disk (every write fails with SQLite's own
        SQLITE_FULL) until called again with False, as when space is freed."""
        if self._workers is None:
            raise NotImplementedError("simulate_full_disk needs a SQLite file with worker threads")
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._workers.writer, self._workers.set_full, full)

    async def close(self) -> None:
        if self._workers is not None:
            await asyncio.to_thread(self._workers.close)
            self._workers = None


def _is_file(file: str) -> bool:
    return Path(file).expanduser().is_file()


@contextlib.asynccontextmanager
async def open_database(url: str, *, migrate: bool = True, threads: bool = True) -> AsyncIterator[Database]:
    """The database at `url`, migrated. `threads=False` keeps SQLite on the async engine alone."""
    from storage.migrate import upgrade

    file = _sqlite_file(url)
    if file is not None and await asyncio.to_thread(_is_file, file):
        await asyncio.to_thread(quick_check, file)
    engine = await asyncio.to_thread(create_engine, url)  # it may create the SQLite file's folder
    db: Database | None = None
    try:
        if migrate:
            await upgrade(engine)
        workers = None
        if threads and file is not None:
            workers = await asyncio.to_thread(functools.partial(_SqliteWorkers, url))
        reads = None
        if engine.dialect.name == "postgresql":
            # one snapshot per read unit, like the SQLite readers' BEGIN; read only
            snapshot = engine.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            reads = async_sessionmaker(snapshot, expire_on_commit=False)
        db = Database(engine, async_sessionmaker(engine, expire_on_commit=False), workers, reads, file=file)
        yield db
    finally:
        if db is not None:
            await db.close()
        await engine.dispose()


def quick_check(file: str) -> None:
    """SQLite's `PRAGMA quick_check` on `file` (blocking); `StorageCorrupt` unless it says "ok".
    A damaged file is refused at start: running on it loses data quietly, job by job."""
    path = Path(file).expanduser().absolute()
    advice = "restore it from a backup, or move it aside to start with an empty database"
    try:
        conn = sqlite3.connect(str(path), timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
        try:
            rows = [str(row[0]) for row in conn.execute("PRAGMA quick_check(3)").fetchall()]
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        if is_corruption(exc):
            raise StorageCorrupt(f"the database {path} is damaged ({' '.join(str(exc).split())}): {advice}") from None
        raise StorageUnavailable(f"the database {path} cannot be checked ({exc})") from exc
    if rows != ["ok"]:
        found = " ".join("; ".join(rows).split())[:300]  # one line, whatever SQLite reported
        raise StorageCorrupt(f"the database {path} is damaged (quick_check: {found}): {advice}")
