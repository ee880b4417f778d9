"""ffmpeg children never outlive their process: not after a kill -9 (the kernel's parent-death
signal), and an abort kills each child's whole process group."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from agent.engine.render.ffmpeg import ProcessSet

# a process that starts ffmpeg the way a render worker does, says its pid, and waits to be killed;
# ffmpeg would run 30 s on its own (real time, no stdin, no output pipes that could break)
PARENT = """
import subprocess, sys, threading, time
from agent.engine.render.ffmpeg import ProcessSet

def worker():
    proc = ProcessSet().popen(["-loglevel", "quiet", "-re", "-f", "lavfi", "-i", "sine=frequency=440",
                               "-t", "30", "-f", "null", "-"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    print(proc.pid, flush=True)
    proc.wait()

threading.Thread(target=worker, daemon=True).start()
time.sleep(60)
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def test_ffmpeg_dies_with_a_parent_killed_by_sigkill(tmp_path: Path) -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True,
                              cwd=Path(__file__).resolve().parents[4])
    try:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        time.sleep(0.3)
        assert _alive(pid)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(5)
        deadline = time.monotonic() + 3.0
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(pid), "ffmpeg outlived the process that started it"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()


def test_abort_kills_the_childs_process_group() -> None:
    procs = ProcessSet()
    proc = procs.popen(["-loglevel", "quiet", "-re", "-f", "lavfi", "-i", "sine", "-t", "30", "-f", "null", "-"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert os.getpgid(proc.pid) == proc.pid  # it leads its own group
    started = time.monotonic()
    procs.abort()
    assert proc.returncode == -signal.SIGKILL and time.monotonic() - started < 5
