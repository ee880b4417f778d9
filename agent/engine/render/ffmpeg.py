"""Running the ffmpeg binary shipped by imageio-ffmpeg (found by providers.ffmpeg.ffmpeg_exe).

Every ffmpeg child is started with `providers.children.child_options()`: it dies with the agent even
on a kill -9, and leads its own process group, which `ProcessSet.abort` kills on cancel or timeout."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Sequence
from typing import Any

from agent.engine.render.errors import EncodeError
from providers.children import child_options, kill_group
from providers.ffmpeg import ffmpeg_exe  # the one lookup, shared with the providers

__all__ = ["ffmpeg_exe", "run_ffmpeg", "stderr_tail", "ProcessSet", "Aborted"]


def stderr_tail(text: str | bytes, lines: int = 8) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return "\n".join(text.strip().splitlines()[-lines:])


def run_ffmpeg(
    args: Sequence[str], *, timeout_s: float = 120.0, check: bool = True
) -> subprocess.CompletedProcess[bytes]:
    """Run ffmpeg to completion (stdin closed); EncodeError when it fails and `check` is set."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", *args]
    try:
        proc = subprocess.run(
            cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout_s, check=False, **child_options()
        )
    except subprocess.TimeoutExpired as exc:
        raise EncodeError(f"ffmpeg took longer than {timeout_s:.0f} s") from exc
    if check and proc.returncode != 0:
        raise EncodeError(f"ffmpeg exited with {proc.returncode}", stderr_tail(proc.stderr))
    return proc


class ProcessSet:
    """The ffmpeg children of one render, so an abort can kill every one of them."""

    def __init__(self) -> None:
        self._procs: list[subprocess.Popen[bytes]] = []
        self._lock = threading.Lock()
        self.aborted = threading.Event()

    def popen(self, args: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        """Start ffmpeg with `args`; refused once the set has been aborted."""
        with self._lock:
            if self.aborted.is_set():
                raise Aborted()
            proc = subprocess.Popen([ffmpeg_exe(), "-hide_banner", "-nostdin", *args], **child_options(), **kwargs)
            self._procs.append(proc)
            return proc

    def release(self, proc: subprocess.Popen[bytes]) -> None:
        """Forget a child that has been waited for."""
        with self._lock:
            if proc in self._procs:
                self._procs.remove(proc)

    def abort(self) -> None:
        """Kill (each one's process group) and reap every live child; later `popen` calls raise Aborted."""
        with self._lock:
            self.aborted.set()
            procs, self._procs = self._procs, []
        for proc in procs:
            if proc.poll() is None:
                kill_group(proc)
            proc.wait()

    @property
    def live(self) -> list[subprocess.Popen[bytes]]:
        with self._lock:
            return list(self._procs)


class Aborted(Exception):
    """Internal: the render was cancelled or timed out while a worker was busy."""
