"""What the polled cloud video clients share (Runway, Luma, fal.ai, the Hugging Face router):
the aspect and length they are asked for, the wait between polls, the result downloaded from the
service's storage host (without our key) and measured, and the abandoned task stopped.

Every client submits a task, polls it until it ends, then downloads the file a URL names. Whatever
ends the wait early (the cascade's clip timeout, a cancelled job, a failure while polling), the
task is cancelled or deleted, best effort and shielded, so it does not keep rendering on the
operator's bill.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import math
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlparse

from providers.base import ClipResult
from providers.errors import BadOutput, ProviderError
from providers.http import DEFAULT_MAX_MEDIA_BYTES, CloudHTTP
from providers.media import measure_clip, save_clip

__all__ = ["aspect_of", "pick_seconds", "fetch_clip", "abandon", "image_data_uri"]

log = logging.getLogger(__name__)


def aspect_of(width: int, height: int) -> str:
    """"9:16", "16:9" or "1:1": the ratio names every video API takes."""
    ratio = width / max(1, height)
    if ratio < 0.85:
        return "9:16"
    if ratio > 1.18:
        return "16:9"
    return "1:1"


def pick_seconds(wanted: float, allowed: tuple[int, ...]) -> int:
    """The shortest allowed length covering `wanted` (the longest when none does)."""
    options = sorted(allowed) or [5]
    need = math.ceil(max(0.0, wanted) - 1e-6)
    return next((s for s in options if s >= need), options[-1])


async def fetch_clip(http: CloudHTTP, url: str, out_dir: Path, stem: str) -> ClipResult:
    """Download the finished clip (its storage host never sees our key), keep it, measure it."""
    if urlparse(url).scheme not in ("http", "https"):
        raise BadOutput("the result has no video URL", provider=http.provider)
    video = await http.request("GET", url, max_bytes=DEFAULT_MAX_MEDIA_BYTES)
    path = await save_clip(video.body, out_dir, stem, http.provider)
    size = await measure_clip(path, http.provider)
    return ClipResult(path, size.seconds, size.width, size.height)


async def abandon(stop: Callable[[], Awaitable[object]], provider: str, what: str) -> None:
    """Run `stop()` (a DELETE or a cancel), shielded from a second cancellation, never raising."""
    async def run() -> None:
        try:
            await stop()
            log.info("%s: stopped unfinished %s", provider, what)
        except ProviderError as exc:
            log.info("%s: could not stop unfinished %s: %s", provider, what, exc.message)

    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.shield(asyncio.ensure_future(run()))


def image_data_uri(path: Path) -> str:
    """A still as a base64 data URI (blocking: call it off the loop)."""
    kind = {".jpg": "jpeg", ".jpeg": "jpeg", ".webp": "webp"}.get(path.suffix.lower(), "png")
    return f"data:image/{kind};base64," + base64.b64encode(path.read_bytes()).decode("ascii")
