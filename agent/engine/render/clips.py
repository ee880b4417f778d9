"""Motion clips fitted to their scene: decoded by an ffmpeg child already scaled, cover-cropped and
resampled to the output size and fps (so every clip is normalised whatever the model made), streamed
frame by frame.

A clip longer than its scene is trimmed. A shorter one is extended without a visible freeze, as
config.toml's `[video] clip_extend` says:

* "push-in" (default): the last frame is held with a slow push-in (a zoom that starts at rest and
  reaches PUSH_RATE per second), so the picture keeps moving; nothing extra is kept in memory;
* "ping-pong": the clip plays backwards, then forwards again, as long as the scene lasts. ffmpeg's
  `reverse` holds the clip's frames at their generated size (a 5 s 704x1280 Wan clip: ~160 MB).

The scene's length comes from its narration, so the voice stays in sync whatever the clip's length.
"""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import numpy as np

from agent.choices import ClipExtend
from agent.engine.render.errors import ClipDecodeError, InputError
from agent.engine.render.ffmpeg import ProcessSet
from agent.engine.render.motion import scale_shift
from agent.engine.render.probe import probe
from agent.engine.render.yuv import Yuv420

__all__ = ["PUSH_RATE", "MAX_PUSH", "push_zoom", "clip_duration", "ClipSource"]

PUSH_RATE = 0.025  # zoom per second once the push-in is under way (2.5 %/s: slow, never a lurch)
MAX_PUSH = 1.25  # the push-in stops there (a very long hold would otherwise crop too much)


def push_zoom(hold_s: float) -> float:
    """The zoom `hold_s` seconds after the clip's last frame: 1.0 at 0 with zero speed (the clip's
    own motion hands over smoothly), then PUSH_RATE per second, capped at MAX_PUSH."""
    t = max(0.0, hold_s)
    return min(MAX_PUSH, 1.0 + PUSH_RATE * t * t / (t + 0.5))


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
    """Plays a clip from its first frame, then extends it (`extend`) to fill its scene; construction
    fails with ClipDecodeError if no frame comes."""

    def __init__(self, path: Path, width: int, height: int, fps: int, duration_s: float,
                 procs: ProcessSet, extend: ClipExtend = "push-in") -> None:
        clip_duration(path)  # no video stream: ClipDecodeError now, so the scene can use its still
        self._path, self._w, self._h, self._fps, self._extend = path, width, height, fps, extend
        self._frames = max(1, round(duration_s * fps) + 2)  # trims a longer clip
        self._procs = procs
        self._frame = Yuv420(width, height)
        self._view = self._frame.buf.data.cast("B")
        self._played = -1  # index (on the scene's clock) of the frame in self._frame
        self._last_clip_frame = -1  # where the clip's own frames ended (push-in starts there)
        self._reverse = False
        self._proc: subprocess.Popen[bytes] | None = None
        self._scratch = np.empty((height + 80, width + 80), np.uint8)
        self._m = np.zeros((2, 3), np.float64)
        self._start_leg(reverse=False)
        if not self._read():
            self.close()
            raise ClipDecodeError(f"clip {path} gave no frame")

    def _start_leg(self, *, reverse: bool) -> None:
        scale = (f"scale={self._w}:{self._h}:force_original_aspect_ratio=increase:flags=bicubic,"
                 f"crop={self._w}:{self._h},fps={self._fps},format=yuv420p")
        vf = f"reverse,{scale}" if reverse else scale
        args = ["-v", "error", "-i", str(self._path), "-an", "-sn", "-vf", vf,
                "-frames:v", str(self._frames), "-f", "rawvideo", "pipe:1"]
        self._stop()
        self._proc = self._procs.popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self._reverse = reverse

    def _read_raw(self) -> bool:
        assert self._proc is not None
        stdout = self._proc.stdout
        assert isinstance(stdout, io.BufferedIOBase)  # binary and buffered (bufsize=-1): has readinto
        got = 0
        while got < len(self._view):
            n = stdout.readinto(self._view[got:])
            if not n:
                return False
            got += n
        return True

    def _read(self) -> bool:
        """The next frame on the scene's clock into self._frame; False when the clip has no more
        (push-in mode) or gave nothing at all."""
        if self._read_raw():
            self._played += 1
            return True
        if self._extend != "ping-pong" or self._played < 1:
            return False
        # next leg, the other way; its first frame is the turning point we already showed
        self._start_leg(reverse=not self._reverse)
        if not (self._read_raw() and self._read_raw()):
            return False
        self._played += 1
        return True

    def draw(self, t_s: float, frame_index: int, out: Yuv420) -> None:
        while self._played < frame_index and self._last_clip_frame < 0:
            if not self._read():
                self._last_clip_frame = self._played  # the clip ended: hold it with a push-in
                break
        if self._last_clip_frame < 0:
            np.copyto(out.buf, self._frame.buf)
            return
        self._push_in(max(0, frame_index - self._last_clip_frame) / self._fps, out)

    def _push_in(self, hold_s: float, out: Yuv420) -> None:
        zoom = push_zoom(hold_s)
        if zoom <= 1.0 + 1e-6:
            np.copyto(out.buf, self._frame.buf)
            return
        s = 1.0 / zoom  # source pixels per output pixel, centred: the middle stays put
        for src, dst in zip(self._frame.planes(), out.planes(), strict=True):
            h, w = dst.shape
            scale_shift(src, dst, s, (w - 1) / 2 * (1 - s), (h - 1) / 2 * (1 - s), self._scratch, self._m)

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        if proc.stdout:
            proc.stdout.close()
        self._procs.release(proc)

    def close(self) -> None:
        self._stop()

