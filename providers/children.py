"""Child processes (ffmpeg) that never outlive the process that started them, even after a kill -9.

`child_options()` gives the keyword arguments for `subprocess.Popen`, `subprocess.run` and
`asyncio.create_subprocess_exec`:

* on Linux the child asks the kernel, before it runs ffmpeg, for SIGKILL when its parent dies
  (`prctl(PR_SET_PDEATHSIG)`), so an agent killed with SIGKILL leaves no encoder running on into a
  half-written file. The kernel sends it when the *thread* that started the child ends, so children
  are started from threads that outlive them: the event loop, the default executor's workers, or a
  render worker that waits for its children before it returns;
* the child leads its own process group, so `kill_group()` stops it with anything it started, and a
  Ctrl-C on the terminal reaches only us (we decide what to stop, and clean up).

The pre-exec function runs between fork and exec in the child: it only calls the already resolved
`prctl` and `getppid`, never imports or allocates much, as the subprocess docs require.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["child_options", "kill_group"]

_PR_SET_PDEATHSIG = 1


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    return prctl


_PRCTL = _load_prctl()


def child_options() -> dict[str, Any]:
    """Keyword arguments that make a child die with us and lead its own process group."""
    options: dict[str, Any] = {}
    if os.name == "posix":
        options["process_group"] = 0
    if _PRCTL is not None:
        options["preexec_fn"] = _die_with_parent(os.getpid())
    return options


def _die_with_parent(parent_pid: int) -> Callable[[], None]:
    prctl = _PRCTL
    assert prctl is not None

    def in_child() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent_pid:  # the parent died before the request was made
            os._exit(1)

    return in_child


def kill_group(proc: subprocess.Popen[bytes] | Any) -> None:
    """SIGKILL the child's process group (the child and anything it started); the child alone when
    it does not lead a group. The caller still waits for it."""
    pid = getattr(proc, "pid", None)
    if pid and os.name == "posix":
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if os.getpgid(pid) == pid:
                os.killpg(pid, signal.SIGKILL)
                return
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
