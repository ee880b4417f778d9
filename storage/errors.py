"""Storage faults as types: what the database layer raises when it cannot do its job.

    StorageError               the base; its message is one line an operator can act on
     ├── StorageUnavailable    the database cannot take the unit of work now (I/O error, server
     │    │                    gone); nothing was written, the same unit may simply run again later
     │    └── StorageFull      the database's disk is full (SQLITE_FULL, ENOSPC, PostgreSQL 53100)
     ├── StorageCorrupt        the SQLite file failed `PRAGMA quick_check` when it was opened
     └── DatabaseInUse         another process holds the database's lock (storage.lock)

`classify(exc)` turns what a driver raised into one of these, or None when it is not a storage fault:
a constraint violation or a programming error is a bug to surface, not an outage to wait out.
"""

from __future__ import annotations

import errno
from typing import Any

__all__ = ["StorageError", "StorageUnavailable", "StorageFull", "StorageCorrupt", "DatabaseInUse", "classify"]

# SQLite primary result codes (the low byte of an extended code)
SQLITE_IOERR = 10
SQLITE_CORRUPT = 11
SQLITE_FULL = 13
SQLITE_CANTOPEN = 14
SQLITE_NOTADB = 26
# PostgreSQL SQLSTATEs: 53100 disk_full; class 53 insufficient resources, 08 connection exceptions,
# 57P01..57P03 the server is shutting down or cannot take connections yet
PG_DISK_FULL = "53100"
PG_UNAVAILABLE_PREFIXES = ("53", "08", "57P0")
# a database server that cannot be reached at all (stopped, unreachable, its socket gone)
UNREACHABLE_ERRNOS = frozenset({errno.ECONNREFUSED, errno.ECONNRESET, errno.ENOENT, errno.EHOSTUNREACH,
                                errno.ENETUNREACH, errno.ETIMEDOUT, errno.EPIPE})


class StorageError(Exception):
    """The database layer cannot do what was asked; the message says why in one line."""


class StorageUnavailable(StorageError):
    """Nothing was stored; the same unit of work may run again once the cause is gone."""


class StorageFull(StorageUnavailable):
    """The disk under the database is full: writes fail until space is freed."""


class StorageCorrupt(StorageError):
    """The database file is damaged; the agent refuses to run on it."""


class DatabaseInUse(StorageError):
    """Another process serves this database (it holds the lock)."""

    def __init__(self, message: str, pid: int | None = None) -> None:
        super().__init__(message)
        self.pid = pid


def _sqlite_code(exc: BaseException) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else int(code) & 0xFF


def _sqlstate(exc: BaseException) -> str | None:
    state = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
    return str(state) if state else None


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception, the driver error SQLAlchemy wrapped (`.orig`), and their causes."""
    seen: list[BaseException] = []
    todo: list[Any] = [exc]
    while todo:
        item = todo.pop(0)
        if not isinstance(item, BaseException) or any(item is s for s in seen):
            continue
        seen.append(item)
        todo.extend([getattr(item, "orig", None), item.__cause__, item.__context__])
    return seen


def classify(exc: BaseException) -> StorageUnavailable | None:
    """The storage fault behind `exc`, or None when it is something else (a bug, a conflict)."""
    if isinstance(exc, StorageUnavailable):
        return exc
    for cause in _causes(exc):
        text = _first_line(getattr(cause, "orig", None) or cause)
        code = _sqlite_code(cause)
        if code == SQLITE_FULL or "database or disk is full" in text:
            return StorageFull(f"the database's disk is full ({text})")
        if isinstance(cause, OSError) and cause.errno == errno.ENOSPC:
            return StorageFull(f"the database's disk is full ({text})")
        if code in (SQLITE_IOERR, SQLITE_CANTOPEN):
            return StorageUnavailable(f"the database cannot be written ({text})")
        if isinstance(cause, OSError) and cause.errno in UNREACHABLE_ERRNOS:
            return StorageUnavailable(f"the database server cannot be reached ({text})")
        state = _sqlstate(cause)
        if state == PG_DISK_FULL:
            return StorageFull(f"the database server's disk is full ({text})")
        if state is not None and state.startswith(PG_UNAVAILABLE_PREFIXES):
            return StorageUnavailable(f"the database server is unavailable ({text})")
    return None


def _first_line(exc: BaseException) -> str:
    lines = str(exc).splitlines()
    return lines[0][:300] if lines else type(exc).__name__


def is_corruption(exc: BaseException) -> bool:
    return any(_sqlite_code(c) in (SQLITE_CORRUPT, SQLITE_NOTADB) for c in _causes(exc))
