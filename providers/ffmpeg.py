"""The ffmpeg binary shipped by imageio-ffmpeg, and what `ffmpeg -i FILE` says about a file.

The one place that finds the binary (`ffmpeg_exe`) and reads ffmpeg's description of its input
(`parse_probe`: streams and container duration; no ffprobe is shipped). The renderer
(agent.engine.render.ffmpeg, agent.engine.render.probe) and the voice converter (providers.audio) use these;
spawning the children is providers.children's job.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

__all__ = ["ffmpeg_exe", "StreamInfo", "MediaInfo", "parse_probe", "hms_seconds"]


@functools.cache
def ffmpeg_exe() -> str:
    """Path of the static ffmpeg binary (no system ffmpeg needed). The first call runs
    `ffmpeg -version` to check it: call it off the event loop."""
    import imageio_ffmpeg  # here, not at import: the registry and the agent app load without it

    return str(imageio_ffmpeg.get_ffmpeg_exe())


_DURATION = re.compile(r"Duration:\s*(\d+):(\d+):(\d+(?:\.\d+)?)")
_STREAM = re.compile(r"Stream #\d+:(\d+)\S*:\s*(Video|Audio|Subtitle|Data):\s*(\w+)(.*)")
_SIZE = re.compile(r",\s*(\d{2,5})x(\d{2,5})[\s,\[]")
_FPS = re.compile(r"([\d.]+)\s*fps")
_RATE = re.compile(r"(\d+)\s*Hz")


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


def hms_seconds(match: re.Match[str]) -> float:
    """Seconds from a match whose groups 1-3 are hours, minutes and (fractional) seconds."""
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
    return MediaInfo(duration_s=hms_seconds(duration) if duration else None, streams=streams)
