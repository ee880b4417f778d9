"""What a platform wants to know about the MP4 before uploading it: size, duration, a thumbnail.

Uses the ffmpeg binary shipped by imageio-ffmpeg, in a subprocess with a timeout. Everything here
is best effort: a file that can't be probed is still uploaded, just without the extras.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from agent.choices import Aspect  # stdlib only, like agent.protocol

__all__ = ["VideoMeta", "probe_video", "ASPECT_SIZES"]

log = logging.getLogger(__name__)

ASPECT_SIZES = {aspect.value: aspect.size for aspect in Aspect}  # what the agent renders at full quality
THUMB_MAX_PX = 320  # Telegram: JPEG under 200 kB, at most 320 px a side
PROBE_TIMEOUT_S = 20.0
_SIZE_RE = re.compile(r"Video:.*?(\d{2,5})x(\d{2,5})")
_DURATION_RE = re.compile(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)")


@dataclass(frozen=True)
class VideoMeta:
    size_bytes: int
    width: int | None = None
    height: int | None = None
    duration_s: float | None = None
    thumbnail: Path | None = None


def _ffmpeg() -> str | None:
    try:
        import imageio_ffmpeg

        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except Exception:  # pragma: no cover - the wheel ships the binary
        return None


async def _run(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    try:
        _, err = await asyncio.wait_for(proc.communicate(), PROBE_TIMEOUT_S)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return -1, "timeout"
    return proc.returncode or 0, err.decode("utf-8", "replace")


def _small_file(path: Path, max_bytes: int) -> bool:
    return path.exists() and path.stat().st_size < max_bytes


async def probe_video(path: Path, fallback: tuple[int | None, int | None, float | None] = (None, None, None)) -> VideoMeta:
    """Width, height and duration from ffmpeg's banner, plus a JPEG thumbnail next to the file."""
    size = (await asyncio.to_thread(path.stat)).st_size
    width, height, duration = fallback
    exe = await asyncio.to_thread(_ffmpeg)  # the first lookup runs `ffmpeg -version`
    if exe is None:
        return VideoMeta(size, width, height, duration)
    thumb = path.with_suffix(".thumb.jpg")
    code, err = await _run(
        exe, "-hide_banner", "-y", "-i", str(path), "-frames:v", "1",
        "-vf", f"scale='min({THUMB_MAX_PX},iw)':'min({THUMB_MAX_PX},ih)':force_original_aspect_ratio=decrease",
        "-q:v", "6", str(thumb),
    )
    if (m := _SIZE_RE.search(err)) is not None:
        width, height = int(m.group(1)), int(m.group(2))
    if (d := _DURATION_RE.search(err)) is not None:
        duration = int(d.group(1)) * 3600 + int(d.group(2)) * 60 + float(d.group(3))
    ok_thumb = code == 0 and await asyncio.to_thread(_small_file, thumb, 200_000)
    if code != 0:
        log.info("could not probe %s: %s", path, err[-300:])
    return VideoMeta(size, width, height, duration, thumb if ok_thumb else None)
