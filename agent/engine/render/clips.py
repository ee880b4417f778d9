"""Motion clips: decoded by an ffmpeg child already scaled, cover-cropped and resampled to the
output size and fps, streamed frame by frame (never the whole clip in memory).

A clip shorter than its scene loops when it covers less than LOOP_BELOW of it (a long freeze looks
broken) and otherwise holds its last frame; a longer clip is trimmed.
"""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import numpy as np

from agent.engine.render.errors import ClipDecodeError, InputError
from agent.engine.render.ffmpeg import ProcessSet
from agent.engine.render.probe import probe
from agent.engine.render.yuv import Yuv420

__all__ = ["LOOP_BELOW", "should_loop", "clip_duration", "ClipSource"]

LOOP_BELOW = 0.75


def should_loop(clip_s: float | None, scene_s: float) -> bool:
    """Loop a clip that covers less than LOOP_BELOW of its scene; hold the last frame otherwise."""
    return clip_s is not None and clip_s < LOOP_BELOW * scene_s


def clip_duration(path: Path) -> float | None:
    """The clip's duration; ClipDecodeError when it has no decodable video stream."""
    try:
        info = probe(path)
    except InputError as exc:
        raise ClipDecodeError(str(exc)) from exc
    if info.video is None:
        raise ClipDecodeError(f"no video stream in {path}")
    return info.duration_s


class ClipSource:
    """Plays a clip from its first frame; construction fails with ClipDecodeError if no frame comes."""

    def __init__(self, path: Path, width: int, height: int, fps: int, duration_s: float,
                 procs: ProcessSet) -> None:
        loop = should_loop(clip_duration(path), duration_s)
        frames = max(1, round(duration_s * fps) + 2)
        vf = (f"scale={width}:{height}:force_original_aspect_ratio=increase:flags=bicubic,"
              f"crop={width}:{height},fps={fps},format=yuv420p")
        args = [
            "-v", "error", *(["-stream_loop", "-1"] if loop else []), "-i", str(path),
            "-an", "-sn", "-vf", vf, "-frames:v", str(frames), "-f", "rawvideo", "pipe:1",
        ]
        self._procs = procs
        self._proc = procs.popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self._frame = Yuv420(width, height)
        self._view = self._frame.buf.data.cast("B")
        self._played = -1
        self._eof = False
        if not self._read():
            self.close()
            raise ClipDecodeError(f"clip {path} gave no frame")

    def _read(self) -> bool:
        stdout = self._proc.stdout
        assert isinstance(stdout, io.BufferedIOBase)  # binary and buffered (bufsize=-1): has readinto
        got = 0
        while got < len(self._view):
            n = stdout.readinto(self._view[got:])
            if not n:
                self._eof = True
                return False
            got += n
        self._played += 1
        return True

    def draw(self, t_s: float, frame_index: int, out: Yuv420) -> None:
        while self._played < frame_index and not self._eof:
            if not self._read():
                break  # hold the last complete frame
        np.copyto(out.buf, self._frame.buf)

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        if self._proc.stdout:
            self._proc.stdout.close()
        self._procs.release(self._proc)
