"""Inspect media with `ffmpeg -i` (no ffprobe is shipped): streams, duration and loudness.

`probe()` parses the stream lines ffmpeg prints for its input; `decoded_duration()` decodes the file
to the null muxer and reads the last timestamp; `loudness()` runs the volumedetect filter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from agent.render.errors import InputError
from agent.render.ffmpeg import run_ffmpeg, stderr_tail

__all__ = ["StreamInfo", "MediaInfo", "Loudness", "probe", "decoded_duration", "loudness"]

_DURATION = re.compile(r"Duration:\s*(\d+):(\d+):(\d+(?:\.\d+)?)")
_STREAM = re.compile(r"Stream #\d+:(\d+)\S*:\s*(Video|Audio|Subtitle|Data):\s*(\w+)(.*)")
_SIZE = re.compile(r",\s*(\d{2,5})x(\d{2,5})[\s,\[]")
_FPS = re.compile(r"([\d.]+)\s*fps")
_RATE = re.compile(r"(\d+)\s*Hz")
_TIME = re.compile(r"time=\s*(\d+):(\d+):(\d+(?:\.\d+)?)")
_MEAN = re.compile(r"mean_volume:\s*(-?[\d.]+|-inf)\s*dB")
_MAX = re.compile(r"max_volume:\s*(-?[\d.]+|-inf)\s*dB")


@dataclass(frozen=True)
class StreamInfo:
    index: int
    kind: str  # "video" | "audio" | "subtitle" | "data"
    codec: str
    pix_fmt: str | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    sample_rate: int | None = None


@dataclass(frozen=True)
class MediaInfo:
    duration_s: float | None  # from the container header; None when ffmpeg reports N/A
    streams: tuple[StreamInfo, ...]

    @property
    def video(self) -> StreamInfo | None:
        return next((s for s in self.streams if s.kind == "video"), None)

    @property
    def audio(self) -> StreamInfo | None:
        return next((s for s in self.streams if s.kind == "audio"), None)


@dataclass(frozen=True)
class Loudness:
    mean_db: float  # RMS level in dBFS; -inf for digital silence
    max_db: float  # peak level in dBFS


def _hms(match: re.Match[str]) -> float:
    return int(match[1]) * 3600 + int(match[2]) * 60 + float(match[3])


def _parse_stream(m: re.Match[str]) -> StreamInfo:
    kind, codec, rest = m[2].lower(), m[3], m[4]
    info = StreamInfo(index=int(m[1]), kind=kind, codec=codec)
    if kind == "video":
        size, fps = _SIZE.search(rest + " "), _FPS.search(rest)
        pix = re.search(r"\),\s*([a-z0-9_]+)|^[^,]*,\s*([a-z0-9_]+)", rest)
        pix_fmt = next((g for g in pix.groups() if g), None) if pix else None
        return StreamInfo(
            index=info.index,
            kind=kind,
            codec=codec,
            pix_fmt=pix_fmt,
            width=int(size[1]) if size else None,
            height=int(size[2]) if size else None,
            fps=float(fps[1]) if fps else None,
        )
    if kind == "audio":
        rate = _RATE.search(rest)
        return StreamInfo(info.index, kind, codec, sample_rate=int(rate[1]) if rate else None)
    return info


def parse_probe(stderr: str) -> MediaInfo:
    """Parse the input description that `ffmpeg -i FILE` prints (pure; exposed for tests)."""
    head = stderr.split("Output #", 1)[0].split("Stream mapping", 1)[0]
    duration = _DURATION.search(head)
    streams = tuple(_parse_stream(m) for m in _STREAM.finditer(head))
    return MediaInfo(duration_s=_hms(duration) if duration else None, streams=streams)


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
    return _hms(times[-1])


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
