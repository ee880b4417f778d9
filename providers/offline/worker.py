"""One long-lived child process that runs native code for its owner, so a crash costs one call.

libespeak-ng is C, loaded with ctypes: a bad input can make it write past a buffer, and then glibc
aborts the whole process, or it segfaults. `NativeWorker` runs such calls in a child process
started with the `spawn` method (a fresh interpreter: none of the parent's threads, event loop or
sockets), reused call after call, one call at a time:

    call(fn, *args, timeout_s)   -> fn(*args) run in the child; its exception is raised here
        the child died           -> WorkerCrashed (with the signal); the next call starts a new one
        no answer in timeout_s   -> WorkerTimedOut; the child is killed; the next call starts anew
    close()                      -> asks the child to exit, kills it if it does not

`fn` must be a module-level function (it is pickled by name) and its arguments and result
picklable. Calls block: run them off the event loop (`asyncio.to_thread`).

Why not `concurrent.futures.ProcessPoolExecutor`: on Python 3.11 it cannot kill a worker stuck in
native code (`kill_workers` arrives in 3.14), and after a crash it reports only `BrokenProcessPool`,
without the signal an operator needs. A pipe and one `multiprocessing` process do both.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import signal
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar

__all__ = ["NativeWorker", "WorkerError", "WorkerCrashed", "WorkerTimedOut", "WorkerClosed"]

log = logging.getLogger(__name__)

T = TypeVar("T")
EXIT_GRACE_S = 2.0  # how long close() waits for the child to exit by itself


class WorkerError(Exception):
    """The child could not answer one call."""


class WorkerCrashed(WorkerError):
    """The child died during the call (a signal such as SIGSEGV or SIGABRT, or an exit)."""

    def __init__(self, exitcode: int | None) -> None:
        self.exitcode = exitcode
        super().__init__(f"the child process died ({describe_exit(exitcode)})")


class WorkerTimedOut(WorkerError):
    """The child did not answer in time; it was killed."""


class WorkerClosed(WorkerError):
    """The worker was closed; no further calls are taken."""


def describe_exit(exitcode: int | None) -> str:
    if exitcode is None:
        return "exit status unknown"
    if exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit code {exitcode}"


def _serve(conn: Connection) -> None:
    """The child's loop: run each (fn, args) sent, answer (True, result) or (False, exception)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the owner decides
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return  # the owner is gone
        if request is None:
            return
        fn, args = request
        try:
            reply: tuple[bool, Any] = (True, fn(*args))
        except BaseException as exc:  # noqa: BLE001 - every failure goes back to the owner
            reply = (False, exc)
        try:
            conn.send(reply)
        except (EOFError, OSError):
            return
        except Exception as exc:  # noqa: BLE001 - an unpicklable result or exception
            conn.send((False, RuntimeError(f"{type(exc).__name__}: {exc}")))


class NativeWorker:
    """A child process for native calls. Thread-safe; one call at a time."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._context = multiprocessing.get_context("spawn")
        self._lock = threading.Lock()
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        self._closed = False
        self.started = 0  # children started so far (a crash or timeout costs one)

    @property
    def pid(self) -> int | None:
        process = self._process
        return process.pid if process is not None and process.is_alive() else None

    def call(self, fn: Callable[..., T], *args: Any, timeout_s: float) -> T:
        """Run `fn(*args)` in the child. Blocking. Raises what `fn` raised, or a WorkerError."""
        with self._lock:
            if self._closed:
                raise WorkerClosed(f"{self.name} is closed")
            conn = self._ensure_started()
            try:
                conn.send((fn, args))
                if not conn.poll(timeout_s):
                    self._stop(polite=False, grace_s=0)
                    raise WorkerTimedOut(f"no answer from the {self.name} child process in {timeout_s:.0f}s")
                ok, value = conn.recv()
            except (EOFError, OSError) as exc:  # the pipe broke: the child is dead or dying
                exitcode = self._stop(polite=False, grace_s=EXIT_GRACE_S)
                if self._closed:
                    raise WorkerClosed(f"{self.name} is closed") from None
                raise WorkerCrashed(exitcode) from exc
        if ok:
            return value
        raise value

    def close(self) -> None:
        """Ask the child to exit (killed if it does not), and take no more calls. Blocking."""
        self._closed = True
        # a call in flight holds the lock until it answers or times out: do not wait for it
        if self._lock.acquire(timeout=0.5):
            try:
                self._stop(polite=True, grace_s=EXIT_GRACE_S)
            finally:
                self._lock.release()
        else:
            self._stop(polite=False, grace_s=0)

    def _ensure_started(self) -> Connection:
        if self._process is not None and self._conn is not None and self._process.is_alive():
            return self._conn
        self._stop(polite=False, grace_s=0)  # a child that died between calls: reap it first
        parent_end, child_end = self._context.Pipe(duplex=True)
        process = self._context.Process(target=_serve, args=(child_end,), name=f"{self.name}-child", daemon=True)
        started = time.monotonic()
        process.start()
        child_end.close()  # only the child holds it now, so its death reads as EOF here
        self._process, self._conn = process, parent_end
        self.started += 1
        log.info("%s: started child process %s in %.2fs", self.name, process.pid, time.monotonic() - started)
        return parent_end

    def _stop(self, *, polite: bool, grace_s: float) -> int | None:
        """End the child: ask it to exit when `polite`, give it `grace_s` (a crashing child is
        still dying: its own exit code says why), then kill it. Returns its exit code."""
        process, conn = self._process, self._conn
        self._process = self._conn = None
        if process is None:
            return None
        if conn is not None:
            if polite:
                with contextlib.suppress(OSError, ValueError):
                    conn.send(None)
            conn.close()
        process.join(grace_s)
        if process.is_alive():
            process.kill()
            process.join(EXIT_GRACE_S)
        exitcode = process.exitcode
        with contextlib.suppress(ValueError):
            process.close()
        return exitcode
