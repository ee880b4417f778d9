"""Hot statements, compiled once per dialect and run on the driver's cursor.

    _RESERVE = Prepared(update(users).where(...).values(...).returning(users.c.balance))
    row = _RESERVE.first(session, {"uid": 7, "price": 3})      # a tuple, or None
    n = _CLAIM.rowcount(session, {"uid": 7, "day": "2026-11-30"})

Why: a submission is a dozen small statements, and through `Session.execute` each paid about
0.2 ms of SQLAlchemy on the SQLite writer thread (building an execution context, result
metadata, events), twenty times what SQLite took to run it. With a thousand submissions at once
that writer thread was the agent's bottleneck (bench/agent_load.py). A `Prepared` statement is
still written once in SQLAlchemy's Core, for every backend: it is compiled for the session's
dialect the first time it runs there, and from then on costs a tuple and a cursor call.

What it keeps of SQLAlchemy: the compiled SQL (paramstyle, casts such as asyncpg's `$1::INTEGER`),
the types' bind processors, and its exception classes: a driver error is raised as the
`sqlalchemy.exc.DBAPIError` subclass that `Session.execute` would raise (IntegrityError,
OperationalError...), so the group commit, the retry rules and storage.errors see the same thing.
It runs on the session's connection, inside its transaction and savepoints.

What it leaves out, so only for the statements that need none of it: ORM objects (rows are plain
tuples, without result processors: use it for integers, floats and text), Python-side column
defaults (an INSERT names every column it sets), expanding `IN` binds, and `before_cursor_execute`
events.

`savepoint(session)` is the same for a SAVEPOINT: the ORM's `begin_nested()` cost more than the
statements of a submission together. It is for units whose writes are all Core or prepared: the
ORM does not know of it (storage.batch runs `plain=True` units in it).

The connection is asked of the session once per transaction or ORM savepoint (see `_connection`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.compiler import SQLCompiler

__all__ = ["Prepared", "savepoint"]


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...] | None  # positional paramstyles: the bind names in order; None: named
    processors: Mapping[str, Callable[[Any], Any]]


_CONNECTION = "storage.prepared.connection"


def _connection(session: Session) -> tuple[Dialect, Any]:
    """The dialect and DBAPI connection of the session's transaction. `Session.connection()` cost as
    much as a statement, so it is asked once per transaction or savepoint: the innermost one is kept
    with the answer in `session.info`, and a new one asks again. It must: the ORM emits a
    `begin_nested()`'s SAVEPOINT only when its connection is first asked for, and a statement run
    before that would not be undone with the savepoint."""
    transaction = session.get_nested_transaction() or session.get_transaction()
    cached = session.info.get(_CONNECTION)
    if transaction is not None and cached is not None and cached[0] is transaction:
        return cached[1], cached[2]
    connection = session.connection()  # begins the transaction (or emits the SAVEPOINT) if not yet
    found = (connection.dialect, connection.connection)
    session.info[_CONNECTION] = (session.get_nested_transaction() or session.get_transaction(), *found)
    return found


class Prepared:
    """A Core statement run straight on the DBAPI cursor of a session's connection."""

    __slots__ = ("statement", "_compiled")

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._compiled: dict[str, _Compiled] = {}

    def _for(self, dialect: Dialect) -> _Compiled:
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            done = self.statement.compile(dialect=dialect)  # type: ignore[attr-defined]
            assert isinstance(done, SQLCompiler)
            if "__[POSTCOMPILE_" in done.string:  # an expanding IN (...): its SQL is made per execution
                raise NotImplementedError("prepared statements take no expanding binds; write the values out")
            processors: dict[str, Callable[[Any], Any]] = {}
            for name, proc in done._bind_processors.items():
                if not callable(proc):  # a tuple-typed bind: one processor per element
                    raise NotImplementedError(f"prepared statements take no tuple binds ({name})")
                processors[name] = proc
            names = tuple(done.positiontup) if done.positional and done.positiontup is not None else None
            compiled = _Compiled(done.string, names, processors)
            self._compiled[dialect.name] = compiled
        return compiled

    def execute(self, session: Session, params: Mapping[str, Any]) -> Any:
        """Run the statement with `params` (by bind name); the DBAPI cursor, to read and close."""
        dialect, dbapi_connection = _connection(session)
        compiled = self._for(dialect)
        procs = compiled.processors
        values: Any
        if compiled.names is not None:
            values = tuple(procs[name](params[name]) if name in procs else params[name] for name in compiled.names)
        else:
            values = {name: procs[name](value) if name in procs else value for name, value in params.items()}
        return _cursor_execute(dialect, dbapi_connection, compiled.sql, values)

    def first(self, session: Session, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """The first row (a tuple), or None."""
        cursor = self.execute(session, params)
        try:
            row = cursor.fetchone()
        finally:
            cursor.close()
        return None if row is None else tuple(row)

    def scalar(self, session: Session, params: Mapping[str, Any]) -> Any:
        """The first column of the first row, or None when there is no row."""
        row = self.first(session, params)
        return None if row is None else row[0]

    def rowcount(self, session: Session, params: Mapping[str, Any]) -> int:
        """Run an INSERT, UPDATE or DELETE; how many rows it changed."""
        cursor = self.execute(session, params)
        try:
            return int(cursor.rowcount)
        finally:
            cursor.close()


_SAVEPOINTS = "storage.prepared.savepoints"


@contextlib.contextmanager
def savepoint(session: Session) -> Iterator[None]:
    """A SAVEPOINT on the session's connection, for statements that are all `Prepared` (or Core
    through `Session.execute`): released when the block ends, rolled back to when it raises. Not
    for ORM writes: the ORM does not know of it (use `Session.begin_nested()` for those)."""
    depth = session.info.get(_SAVEPOINTS, 0) + 1
    name = f"prepared_{depth}"
    _driver_sql(session, f"SAVEPOINT {name}")
    session.info[_SAVEPOINTS] = depth
    try:
        yield
    except BaseException:
        _driver_sql(session, f"ROLLBACK TO SAVEPOINT {name}")
        _driver_sql(session, f"RELEASE SAVEPOINT {name}")
        raise
    else:
        _driver_sql(session, f"RELEASE SAVEPOINT {name}")
    finally:
        session.info[_SAVEPOINTS] = depth - 1


def _driver_sql(session: Session, sql: str) -> None:
    _cursor_execute(*_connection(session), sql, ()).close()


def _cursor_execute(dialect: Dialect, dbapi_connection: Any, sql: str, values: Any) -> Any:
    """`sql` run on a new cursor of the DBAPI connection (returned, to read and close); a driver
    error raised as the `DBAPIError` subclass `Session.execute` would raise."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(sql, values)
    except dialect.loaded_dbapi.Error as exc:
        cursor.close()
        raise DBAPIError.instance(sql, values, exc, dialect.loaded_dbapi.Error, dialect=dialect) from exc
    return cursor
