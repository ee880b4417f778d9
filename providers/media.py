"""Writing what providers produce: images decoded (off the event loop) before they are kept, clips
checked for an MP4 signature, and every file written atomically (`atomic_file` / `write_atomic`: a
uniquely named hidden temp file beside the target, then a rename), so a crash, a cancellation or two
writers at once never leave half a file where the renderer looks. Pillow is imported by the decoders
when they run, not with this module."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from dataclasses import dataclass
from typing import BinaryIO

from providers.errors import BadOutput

__all__ = ["atomic_file", "write_atomic", "decode_image", "generation_size", "save_image", "save_clip",
           "measure_clip", "ClipSize"]

_EXT = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp"}


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[BinaryIO]:
    """A binary file to fill; it replaces `path` when the block ends, and vanishes if the block raises.
    Blocking: use it inside `asyncio.to_thread`. The parent directory is created."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        with open(tmp, "xb") as fh:
            yield fh
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically (blocking)."""
    with atomic_file(path) as fh:
        fh.write(data)


def decode_image(data: bytes, provider: str) -> tuple[str, int, int]:
    """(format, width, height) of an encoded image, or BadOutput when it does not decode."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            return str(img.format or "PNG"), img.width, img.height
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise BadOutput(f"the image does not decode: {type(exc).__name__}", provider=provider) from None


def generation_size(width: int, height: int, max_side: int, multiple: int = 16) -> tuple[int, int]:
    """Scale (width, height) down so the long side fits `max_side`, rounded to `multiple`."""
    scale = min(1.0, max_side / max(width, height))
    return (max(multiple, round(width * scale / multiple) * multiple),
            max(multiple, round(height * scale / multiple) * multiple))


async def save_image(data: bytes, out_dir: Path, stem: str, provider: str) -> tuple[Path, int, int]:
    """Decode `data`, then write it as `out_dir/stem.<ext>`; returns (path, width, height)."""
    fmt, width, height = await asyncio.to_thread(decode_image, data, provider)
    if fmt not in _EXT:  # keep the renderer's life simple: re-encode exotic formats as PNG
        def _to_png() -> bytes:
            from PIL import Image

            with Image.open(io.BytesIO(data)) as img:
                buf = io.BytesIO()
                img.convert("RGB").save(buf, "PNG")
                return buf.getvalue()

        data, fmt = await asyncio.to_thread(_to_png), "PNG"
    path = out_dir / f"{stem}{_EXT[fmt]}"
    await asyncio.to_thread(write_atomic, path, data)
    return path, width, height


async def save_clip(data: bytes, out_dir: Path, stem: str, provider: str) -> Path:
    """Write an MP4 clip after checking it looks like one (an `ftyp` box at the start)."""
    if len(data) < 1024 or data[4:8] != b"ftyp":
        raise BadOutput(f"the clip is not an MP4 ({len(data)} bytes)", provider=provider)
    path = out_dir / f"{stem}.mp4"
    await asyncio.to_thread(write_atomic, path, data)
    return path


@dataclass(frozen=True)
class ClipSize:
    width: int
    height: int
    seconds: float


async def measure_clip(path: Path, provider: str, *, timeout_s: float = 30.0) -> ClipSize:
    """What a clip really is (`ffmpeg -i`, in a child process that dies with us): its frame size and
    duration, as services do not always send what was asked. BadOutput when ffmpeg finds no video."""
    from providers.children import child_options
    from providers.ffmpeg import ffmpeg_exe, parse_probe

    exe = await asyncio.to_thread(ffmpeg_exe)
    proc = await asyncio.create_subprocess_exec(
        exe, "-hide_banner", "-i", str(path), stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, **child_options())
    try:
        _, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    except BaseException:  # a timeout or a cancellation: never leave ffmpeg running
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await asyncio.shield(proc.wait())
        raise
    info = parse_probe(err.decode("utf-8", "replace"))
    video = info.video
    if video is None or not video.width or not video.height or not info.duration_s:
        raise BadOutput("the clip has no readable video stream", provider=provider)
    return ClipSize(video.width, video.height, float(info.duration_s))
