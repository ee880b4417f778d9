"""Feeding frames to ffmpeg: raw I420 on stdin, the finished soundtrack as a second input.

The producer runs in the calling (worker) thread and writes each frame to the pipe as soon as it is
drawn; ffmpeg/x264 encode the previous frames meanwhile in their own process, so drawing and
encoding overlap. cv2 and the pipe write release the GIL, so the event loop is never starved.
"""

from __future__ import annotations

import fcntl
import subprocess
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from agent.engine.render.errors import EncodeError
from agent.engine.render.ffmpeg import Aborted, ProcessSet, stderr_tail
from agent.engine.render.yuv import Yuv420

__all__ = ["x264_args", "aac_args", "encode_frames"]

_F_SETPIPE_SZ = 1031
PIPE_BYTES = 1 << 20


def x264_args(preset: str, crf: int, maxrate_kbps: float | None) -> list[str]:
    """H.264 yuv420p; CRF, capped by VBV when a size budget applies. Tagged BT.601 limited range,
    which is what cv2's RGB->I420 produced."""
    if preset == "ultrafast":
        raise ValueError("ultrafast makes files 5-6x larger; use veryfast or slower")
    args = ["-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-pix_fmt", "yuv420p",
            "-colorspace", "smpte170m", "-color_primaries", "bt709", "-color_trc", "bt709",
            "-color_range", "tv"]
    if maxrate_kbps is not None:
        rate = max(1, int(maxrate_kbps))
        args += ["-maxrate", f"{rate}k", "-bufsize", f"{2 * rate}k"]
    return args


def aac_args(kbps: int) -> list[str]:
    return ["-c:a", "aac", "-b:a", f"{kbps}k"]


def encode_frames(
    frames: Iterable[Yuv420],
    *,
    width: int,
    height: int,
    fps: int,
    out: Path,
    video_args: Sequence[str],
    audio: Path | None,
    audio_args: Sequence[str] = (),
    container_args: Sequence[str] = ("-movflags", "+faststart"),
    procs: ProcessSet,
    on_frame: Callable[[int], None] = lambda n: None,
    log: Path,
) -> None:
    """Encode every frame of `frames` (+ `audio`) into `out`; EncodeError if ffmpeg fails."""
    args = ["-v", "error", "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{width}x{height}",
            "-r", str(fps), "-i", "pipe:0"]
    if audio is not None:
        args += ["-i", str(audio), "-map", "0:v:0", "-map", "1:a:0", *audio_args]
    args += [*video_args, *container_args, "-y", str(out)]
    with open(log, "wb") as err:
        proc = procs.popen(args, stdin=subprocess.PIPE, stderr=err, bufsize=0)
    assert proc.stdin is not None
    try:
        try:
            fcntl.fcntl(proc.stdin.fileno(), _F_SETPIPE_SZ, PIPE_BYTES)
        except OSError:
            pass  # a bigger pipe only smooths the hand-off
        n = 0
        for frame in frames:
            view = frame.buf.data.cast("B")  # the frame's bytes, flat, not copied
            while view:
                view = view[proc.stdin.write(view) :]
            n += 1
            on_frame(n)
        proc.stdin.close()
        code = proc.wait()
    except (BrokenPipeError, OSError) as exc:
        if procs.aborted.is_set():
            raise Aborted() from exc
        proc.kill()
        proc.wait()
        raise EncodeError("ffmpeg stopped reading frames", stderr_tail(log.read_bytes())) from exc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        try:
            proc.stdin.close()
        except OSError:
            pass  # the pipe is already broken: ffmpeg is gone
        procs.release(proc)
    if procs.aborted.is_set():
        raise Aborted()
    if code != 0:
        raise EncodeError(f"ffmpeg exited with {code}", stderr_tail(log.read_bytes()))
