"""Inspect media with `ffmpeg -i` (no ffprobe is shipped): streams, duration and loudness.

`probe()` runs it and reads the stream lines ffmpeg prints for its input (the parser,
providers.ffmpeg.parse_probe, is shared with the providers); `decoded_duration()` decodes the file
to the null muxer and reads the last timestamp; `loudness()` runs the volumedetect filter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from agent.engine.render.errors import InputError
from agent.engine.render.ffmpeg import run_ffmpeg, stderr_tail
from providers.ffmpeg import MediaInfo, StreamInfo, hms_seconds, parse_probe

__all__ = ["StreamInfo", "MediaInfo", "Loudness", "parse_probe", "probe", "decoded_duration", "loudness"]

_TIME = re.compile(r"time=\s*(\d+):(\d+):(\d+(?:\.\d+)?)")
_MEAN = re.compile(r"mean_volume:\s*(-?[\d.]+|-inf)\s*dB")
_MAX = re.compile(r"max_volume:\s*(-?[\d.]+|-inf)\s*dB")


@dataclass(frozen=True)
class Loudness:
    mean_db: float  # RMS level in dBFS; -inf for digital silence
    max_db: float  # peak level in dBFS


def probe(path: Path) -> MediaInfo:
    """Streams and container duration of a media file; InputError when ffmpeg cannot open it."""
    if not Path(path).is_file():
        raise InputError(f"no such file: {path}")
    proc = run_ffmpeg(["-i", str(path)], check=False)
    text = proc.stderr.decode("utf-8", "replace")
    info = parse_probe(text)
    if not info.streams:
        raise InputError(f"ffmpeg cannot read {path}: {stderr_tail(text, 2)}")
    return info


def decoded_duration(path: Path, *, timeout_s: float = 120.0) -> float:
    """Duration found by decoding every packet (trustworthy even when the header lies)."""
    proc = run_ffmpeg(["-i", str(path), "-f", "null", "-"], timeout_s=timeout_s)
    times = list(_TIME.finditer(proc.stderr.decode("utf-8", "replace")))
    if not times:
        raise InputError(f"could not decode {path}")
    return hms_seconds(times[-1])


def loudness(path: Path, *, timeout_s: float = 120.0) -> Loudness:
    """Mean and peak level of the first audio stream (volumedetect)."""
    proc = run_ffmpeg(
        ["-i", str(path), "-vn", "-af", "volumedetect", "-f", "null", "-"], timeout_s=timeout_s
    )
    text = proc.stderr.decode("utf-8", "replace")
    mean, peak = _MEAN.search(text), _MAX.search(text)
    if not mean or not peak:
        raise InputError(f"no audio stream in {path}")
    return Loudness(mean_db=float(mean[1]), max_db=float(peak[1]))
