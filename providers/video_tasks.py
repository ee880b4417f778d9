"""What the polled cloud video clients share (Runway, Luma, fal.ai, the Hugging Face router):
the aspect and length they are asked for, the result downloaded from the service's storage host
(without our key) and measured, the abandoned task stopped, and fal.ai's queue protocol
(`FalQueue`), which the Hugging Face router fronts too.

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
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

from providers.base import ClipResult, StageContext
from providers.errors import BadOutput, ProviderError, Unavailable
from providers.http import DEFAULT_MAX_MEDIA_BYTES, CloudHTTP
from providers.media import measure_clip, save_clip

__all__ = ["aspect_of", "pick_seconds", "fetch_clip", "abandon", "image_data_uri", "AspectParam", "FAL_SIZES",
           "aspect_fields", "FalQueue", "queue_failure"]

log = logging.getLogger(__name__)

AspectParam = Literal["aspect_ratio", "video_size", "none"]
FAL_SIZES = {"9:16": "portrait_16_9", "16:9": "landscape_16_9", "1:1": "square_hd"}  # fal's size names
_POLICY_WORDS = ("content_policy", "content policy", "moderation", "flagged", "nsfw")


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


def aspect_fields(param: str, width: int, height: int) -> dict[str, str]:
    aspect = aspect_of(width, height)
    if param == "aspect_ratio":
        return {"aspect_ratio": aspect}
    if param == "video_size":
        return {"video_size": FAL_SIZES[aspect]}
    return {}


class FalQueue:
    """fal's queue protocol for one model: submit, wait, fetch the output, cancel when abandoned.
    The Hugging Face router fronts the same queue, so `providers.huggingface` uses this too."""

    def __init__(self, http: CloudHTTP, headers: Mapping[str, str], *, poll_s: float,
                 rebase: str = "", query: str = "") -> None:
        self._http = http
        self._headers = dict(headers)
        self._poll_s = poll_s
        self._rebase = rebase  # the router: follow the answer's URL paths on this base instead...
        self._query = query  # ...with this query string (the router's "_subdomain=queue")

    def _follow(self, url: str) -> str:
        if not self._rebase:
            return url
        return f"{self._rebase}{urlparse(url).path}" + (f"?{self._query}" if self._query else "")

    async def run(self, submit_url: str, body: dict[str, Any], ctx: StageContext, model: str,
                  label: str) -> dict[str, Any]:
        """Submit `body`, wait for it, and return the model's output."""
        job = (await self._http.request("POST", submit_url, headers=self._headers, json_body=body,
                                        model=model)).json()
        if not isinstance(job, dict) or not job.get("response_url"):
            raise BadOutput("the queue gave no response_url", provider=self._http.provider)
        response_url = str(job["response_url"])
        status_url = str(job.get("status_url") or response_url + "/status")
        cancel_url = str(job.get("cancel_url") or response_url + "/cancel")
        finished = False
        try:
            await self._wait(self._follow(status_url), ctx, label)
            finished = True
        finally:
            if not finished:
                await abandon(lambda: self._http.request("PUT", self._follow(cancel_url), headers=self._headers,
                                                         timeout_s=10.0),
                              self._http.provider, f"queue request {job.get('request_id', '')}")
        result = (await self._http.request("GET", self._follow(response_url), headers=self._headers,
                                           model=model)).json()
        if not isinstance(result, dict):
            raise BadOutput("the queue's result is not an object", provider=self._http.provider)
        return result

    async def _wait(self, status_url: str, ctx: StageContext, label: str) -> None:
        polls = 0
        while True:
            status = (await self._http.request("GET", status_url, headers=self._headers)).json()
            state = status.get("status") if isinstance(status, dict) else None
            if state == "COMPLETED":
                if isinstance(status, dict) and status.get("error"):
                    raise queue_failure(status, self._http.provider)
                return
            if state not in ("IN_QUEUE", "IN_PROGRESS"):
                raise Unavailable(f"the queue says {state!r}", provider=self._http.provider, status=200)
            polls += 1
            where = f" (position {status.get('queue_position')})" if state == "IN_QUEUE" else ""
            ctx.report(min(0.95, polls / (polls + 10)), f"{label} {state.lower().replace('_', ' ')}{where}")
            await asyncio.sleep(self._poll_s)


def queue_failure(status: dict[str, Any], provider: str) -> ProviderError:
    kind = str(status.get("error_type") or "")
    message = str(status.get("error") or "no reason given")
    if any(w in f"{kind} {message}".lower() for w in _POLICY_WORDS):
        return BadOutput(f"refused by the content policy: {message}", provider=provider, status=200)
    return Unavailable(f"the request failed ({kind or 'no type'}): {message}", provider=provider, status=200)
