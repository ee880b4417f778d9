"""Group commit: units of work that arrive together run in ONE write transaction.

    commits = GroupCommit(db)
    outcome = await commits.write(fn, retry_conflict=True, order="discord\\x0042")

Why: SQLite has one writer, and every transaction pays a fixed price on that one thread (BEGIN
IMMEDIATE, the commit, the hops to and from the event loop). A burst of submissions, each its own
transaction, queues behind the writer one by one, and the last one waits for all the others. Here
the units that are queued while a batch is being written (or that arrive in the same turn of the
event loop) are written together by the next batch: one transaction, one commit, one hop.

Each unit runs in a SAVEPOINT of its own (`Session.begin_nested`), so it stays atomic on its own: a
unit that raises is rolled back alone and its caller gets its exception, while the others commit.
A unit written with `plain=True` (its writes are all Core or prepared statements, no ORM object
added or changed) gets a driver-level savepoint instead (`storage.prepared.savepoint`): the same
atomicity at a fraction of the ORM's cost.
Each caller gets its own result. Between units the session forgets its objects (`expunge_all`), so
no unit sees another's ORM state, only its committed rows, exactly as in a transaction of its own.

What applies to the whole batch rather than one unit:
- A storage fault (disk full, I/O error, server gone) or an OperationalError: the transaction may
  be lost already (SQLite rolls it back by itself on SQLITE_FULL), so the batch fails and every
  caller gets the error (`storage.errors.StorageUnavailable`, as from `Database.write`).
- A lost deadlock or serialization check (PostgreSQL 40P01/40001): the whole batch is rolled back
  and run again by `Database.write`'s retry budget; every unit is a plain function of the session,
  safe to rerun, and its outcome is taken from the run that committed.
- A lost unique-key race (`retry_conflict`, PostgreSQL: another transaction committed the same
  request id or new user first) is the unit's own: its savepoint is rolled back and it runs once
  more in a new one, where READ COMMITTED shows it the other transaction's row.

Lock order (PostgreSQL): one batch holds the row locks of all its units until it commits. Units are
written in the order of their `order` key (stable: same key, arrival order), so two batches (in two
agent processes) lock the same rows in the same order and cannot deadlock on each other.

When a batch is written its callers are woken WAKE_PER_TURN per turn of the event loop, so a
whole batch's continuations (answers written, jobs queued) do not hold the loop in one turn.

This is a write-batching helper, not a queue: nothing is kept anywhere but in the awaiting callers,
and a batch is written as soon as the writer is free. A caller cancelled before its unit was taken
is dropped unwritten; one cancelled after that is written all the same (its unit was on its way to
the database), as a plain `Database.write` on a worker thread is.

SQLite without worker threads (`:memory:`, tests) has no sound SAVEPOINT under pysqlite's own
transaction handling: there each unit is simply its own `Database.write`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session

from storage.engine import RETRY_SQLSTATES, Database, sqlstate
from storage.errors import classify
from storage.prepared import savepoint

__all__ = ["GroupCommit", "MAX_BATCH"]

T = TypeVar("T")
# units in one transaction at most: bounds how long one batch holds the writer (and, on PostgreSQL,
# its row locks) while the other writes (progress, finishes) wait
MAX_BATCH = 128
WAKE_PER_TURN = 32  # callers woken in one turn of the event loop when their batch is written


@dataclass(eq=False)
class _Unit(Generic[T]):
    fn: Callable[[Session], T]
    retry_conflict: bool
    order: str
    future: asyncio.Future[T]
    plain: bool = False


@dataclass(frozen=True)
class _Outcome:
    value: Any = None
    error: BaseException | None = None


def _whole_batch(exc: BaseException) -> bool:
    """Whether `exc` dooms the transaction rather than the one unit that raised it."""
    if isinstance(exc, OperationalError) or classify(exc) is not None:
        return True
    return isinstance(exc, DBAPIError) and sqlstate(exc) in RETRY_SQLSTATES


def _run_unit(session: Session, unit: _Unit[Any]) -> _Outcome:
    conflicts = 1 if unit.retry_conflict else 0
    while True:
        try:
            try:
                if unit.plain:
                    with savepoint(session):
                        value = unit.fn(session)
                else:
                    with session.begin_nested():
                        value = unit.fn(session)
            finally:
                session.expunge_all()  # the next unit starts from the database, not from these objects
        except IntegrityError as exc:
            if conflicts > 0:
                conflicts -= 1
                continue
            return _Outcome(error=exc)
        except Exception as exc:
            if _whole_batch(exc):
                raise
            return _Outcome(error=exc)
        return _Outcome(value=value)


class GroupCommit:
    """Writes the units of work queued together in one transaction, each in its own savepoint."""

    def __init__(self, db: Database, *, max_batch: int = MAX_BATCH) -> None:
        self._db = db
        self._max = max_batch
        self._queued: list[_Unit[Any]] = []
        self._writing: asyncio.Task[None] | None = None
        self.transactions = 0  # batches written (committed or not): for tests and the curious
        self.units = 0  # units those batches carried

    async def write(self, fn: Callable[[Session], T], *, retry_conflict: bool = False, order: str = "",
                    plain: bool = False) -> T:
        """Run `fn(session)` atomically in a write transaction shared with the units queued with it;
        its result, or its exception, as `Database.write` would give them. `retry_conflict` as there.
        `order`: units of one batch run sorted by it (lock order; see the module docstring)."""
        if not self._db.savepoints:
            return await self._db.write(fn, retry_conflict=retry_conflict)
        loop = asyncio.get_running_loop()
        unit = _Unit(fn, retry_conflict, order, loop.create_future(), plain)
        self._queued.append(unit)
        if self._writing is None:
            # a task of its own: it writes what arrives in this turn of the loop too, and no caller's
            # cancellation can cancel a batch that others wait on
            self._writing = loop.create_task(self._write_all(), name="storage-group-commit")
        return await unit.future

    async def _write_all(self) -> None:
        try:
            while self._queued:
                batch = [unit for unit in self._queued[:self._max] if not unit.future.done()]
                del self._queued[:self._max]
                if batch:
                    await self._write_batch(batch)
        finally:
            self._writing = None
            for unit in self._queued:  # only when this task itself was cancelled (the loop is closing)
                unit.future.cancel()
            self._queued.clear()

    async def _write_batch(self, batch: list[_Unit[Any]]) -> None:
        if len(batch) == 1:  # alone: its own transaction, as Database.write runs it (no savepoint to pay for)
            await self._write_alone(batch[0])
            return
        batch.sort(key=lambda unit: unit.order)
        self.transactions += 1
        self.units += len(batch)

        def work(session: Session) -> list[_Outcome]:
            return [_run_unit(session, unit) for unit in batch]  # a fresh list on every (re)run

        try:
            outcomes = await self._db.write(work)
        except asyncio.CancelledError:
            for unit in batch:
                unit.future.cancel()
            raise
        except Exception as exc:  # nothing of the batch was written: every caller gets the error
            for unit in batch:
                _settle(unit, _Outcome(error=exc))
            return
        try:
            for n, (unit, outcome) in enumerate(zip(batch, outcomes, strict=True), 1):
                _settle(unit, outcome)
                if n % WAKE_PER_TURN == 0 and n < len(batch):
                    # the callers go on a few per turn of the event loop: a whole batch's (answers
                    # written, jobs queued) in one turn held the loop for everything else it serves
                    await asyncio.sleep(0)
        except asyncio.CancelledError:  # the loop is closing: no caller is left waiting forever
            for unit in batch:
                unit.future.cancel()
            raise

    async def _write_alone(self, unit: _Unit[Any]) -> None:
        self.transactions += 1
        self.units += 1
        try:
            value = await self._db.write(unit.fn, retry_conflict=unit.retry_conflict)
        except asyncio.CancelledError:
            unit.future.cancel()
            raise
        except Exception as exc:
            _settle(unit, _Outcome(error=exc))
            return
        _settle(unit, _Outcome(value=value))


def _settle(unit: _Unit[Any], outcome: _Outcome) -> None:
    """Give the unit's caller its outcome; none when the caller was cancelled meanwhile (the unit is
    written all the same)."""
    if unit.future.done():
        return
    if outcome.error is not None:
        unit.future.set_exception(outcome.error)
    else:
        unit.future.set_result(outcome.value)
