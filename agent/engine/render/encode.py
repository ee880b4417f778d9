"""The x264 and AAC settings as ffmpeg command-line arguments.

The renderer encodes in-process (agent.engine.render.avencode, the same settings as libavcodec
options); these arguments serve the ffmpeg binary where one still encodes: the render benchmark's
x264 floor, which must encode exactly as the renderer does.
"""

from __future__ import annotations



__all__ = ["x264_args", "aac_args"]

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
