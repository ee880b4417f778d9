"""The event-loop guard: a blocking call made on the running loop fails the test.

blockbuster patches the blocking functions (file reads and writes, `os` file calls, `time.sleep`,
sqlite3, blocking sockets, lock waits, `input`) and raises `BlockingError` when one is called on a
thread whose event loop is running. We narrow that to calls made on behalf of one of our coroutines
(an `async def` in agent/, bot/, providers/, storage/ or reelbot/ is on the stack): so our code, and a
test fake our code awaits, are held to it, while a test's own setup and assertions (a sync constructor,
reading a result file) are not. Code under test may swallow the error as one more backend failure, so
each one is also recorded here, and the autouse fixture in tests/conftest.py fails the test at
teardown, as the network guard does.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import blockbuster.blockbuster as _blockbuster_module
from blockbuster import BlockBuster, BlockingError

__all__ = ["SCANNED", "RecordedBlockingError", "blocking_guard", "take_blocking_calls"]

SCANNED = ("agent", "bot", "providers", "storage", "reelbot")

# what reading files and listing folders calls (no writes, sockets or sqlite3)
_FILE_READS = ("os.stat", "os.access", "os.listdir", "os.scandir", "os.path.abspath", "os.path.islink",
               "io.BufferedReader.read", "io.TextIOWrapper.read")

_ROOT = Path(__file__).resolve().parents[2]
_PACKAGE_DIRS = tuple(f"{_ROOT / name}{os.sep}" for name in SCANNED)
_ASYNC_CODE = inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR
_calls: list[str] = []


def _outside_our_coroutines() -> bool:
    """True when no `async def` of our packages is on the calling stack."""
    frame = inspect.currentframe()
    while frame is not None:
        code = frame.f_code
        if code.co_flags & _ASYNC_CODE and code.co_filename.startswith(_PACKAGE_DIRS):
            return False
        frame = frame.f_back
    return True


def _or_outside_our_coroutines(allowed: Callable[..., bool]) -> Callable[..., bool]:
    def predicate(*args: Any, **kwargs: Any) -> bool:
        return allowed(*args, **kwargs) or _outside_our_coroutines()

    return predicate


class RecordedBlockingError(BlockingError):
    """A BlockingError that also notes where it happened, in case the code under test swallows it."""

    def __init__(self, func: str) -> None:
        super().__init__(func)
        _calls.append(f"{func}{_where()}")


def _where() -> str:
    """The innermost frame in our tree (not a library's, not this file's), as ` at path:line`."""
    for frame in reversed(traceback.extract_stack()):
        path = Path(frame.filename)
        if path.is_relative_to(_ROOT) and ".venv" not in path.parts and path != Path(__file__).resolve():
            return f" at {path.relative_to(_ROOT)}:{frame.lineno}"
    return ""


# blockbuster raises whatever class its module names at call time: make that the recording one
_blockbuster_module.BlockingError = RecordedBlockingError  # type: ignore[misc]


def take_blocking_calls() -> list[str]:
    """The blocking calls recorded since the last take, oldest first."""
    found = list(_calls)
    _calls.clear()
    return found


@contextlib.contextmanager
def blocking_guard() -> Iterator[BlockBuster]:
    """blockbuster over our coroutines, with the few allowances below (each says why)."""
    bb = BlockBuster(list(SCANNED))
    for function in bb.functions.values():  # before activate(), which binds the predicate
        function.can_block_predicate = _or_outside_our_coroutines(function.can_block_predicate)
    # stdlib logging writes synchronously by design (our entry points log to stderr; under
    # pytest the log-file handler writes to os.devnull): not a stall we can or should avoid
    for func in ("io.TextIOWrapper.write", "io.BufferedWriter.write"):
        bb.functions[func].can_block_in("logging/__init__.py", "emit")
    # A module imported lazily inside a coroutine (the pattern that keeps `import bot.main`
    # light) reads its files and package metadata once per process. Reads only.
    for func in (*_FILE_READS, "os.getcwd"):
        bb.functions[func].can_block_in("<frozen importlib._bootstrap>", "_find_and_load")
    # Alembic has no async API: SQLAlchemy's run_sync runs it on the loop's thread, where it
    # lists and reads its migration scripts. Reads only, once at start-up, before the agent serves.
    for func in _FILE_READS:
        bb.functions[func].can_block_in("storage/migrate.py", "run")
    # asyncpg looks for the client's ~/.pgpass and ~/.postgresql TLS files while it opens a
    # connection (a pool's, rarely): stats and small reads, in its own connect code
    for func in _FILE_READS:
        bb.functions[func].can_block_in("asyncpg/connect_utils.py", "_parse_connect_arguments")
    bb.activate()
    try:
        yield bb
    finally:
        bb.deactivate()
