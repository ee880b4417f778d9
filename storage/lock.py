"""One agent per database: an exclusive OS lock, held for the life of the process that serves it.

Two agents on one database run recovery twice, interleave their event sequence numbers and fail
each other's jobs. So the process that serves a database takes `fcntl.flock(LOCK_EX | LOCK_NB)` on a
lock file *before* it opens the database, and keeps it until it exits:

    <file>.lock            for a SQLite file (next to it: every agent on that file sees it)
    <data_dir>/agent.lock  for any other URL (PostgreSQL, SQLite in memory)

The kernel drops the lock when the process dies, even by SIGKILL, so a stale file never blocks a
restart. An flock belongs to an open file description, not to the process: a second `DatabaseLock`
on the same path fails inside the same process too (tests start apps in-process). The holder writes
its pid into the file so the refusal can name it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from types import TracebackType

from sqlalchemy.engine import make_url

from storage.errors import DatabaseInUse

__all__ = ["DatabaseLock", "lock_target"]

DATA_DIR_LOCK = "agent.lock"


def lock_target(database_url: str, data_dir: Path | str) -> tuple[Path, Path]:
    """(what is guarded, the lock file): the SQLite file and `<file>.lock`, else the data directory."""
    parsed = make_url(database_url)
    name = parsed.database
    if parsed.get_backend_name() == "sqlite" and name and name != ":memory:" and "mode=memory" not in str(parsed.query):
        target = Path(name).expanduser().absolute()
        return target, target.with_name(target.name + ".lock")
    target = Path(data_dir).expanduser().absolute()
    return target, target / DATA_DIR_LOCK


class DatabaseLock:
    """Held while open; `acquire()` raises `DatabaseInUse` when another holder has it."""

    def __init__(self, target: Path, path: Path, fd: int) -> None:
        self.target, self.path, self._fd = target, path, fd

    @classmethod
    def acquire(cls, database_url: str, data_dir: Path | str) -> DatabaseLock:
        target, path = lock_target(database_url, data_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(fd)
            os.close(fd)
            who = f" (pid {pid})" if pid is not None else ""
            raise DatabaseInUse(f"another agent is already using {target}{who}", pid) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(target, path, fd)

    @property
    def held(self) -> bool:
        return self._fd >= 0

    def release(self) -> None:
        """Unlock and close; the file stays (removing it would race a process about to lock it)."""
        if self._fd < 0:
            return
        fd, self._fd = self._fd, -1
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # closing the last descriptor of the description releases the flock

    def __enter__(self) -> DatabaseLock:
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.release()


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
