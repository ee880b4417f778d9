"""OpenAI clips (Sora): `POST /videos` (multipart; `seconds` is a string), poll `GET /videos/{id}`
at the server's `openai-poll-after-ms` pace, then download `GET /videos/{id}/content`.

A `failed` video arrives as a normal HTTP 200: it is a failure all the same (moderation blocks are
bad output for this scene; anything else counts as the service failing). If the job is cancelled
or times out while the video is being made, the video is deleted (best effort) so it does not keep
rendering on the operator's bill.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, ClassVar

import aiohttp

from providers.base import ClipRequest, ClipResult, Stage, StageContext
from providers.errors import BadOutput, ProviderError, Unavailable
from providers.http import DEFAULT_MAX_MEDIA_BYTES, HTTPReply
from providers.media import save_clip
from providers.openai.client import OpenAIProvider

__all__ = ["OpenAIClipMaker", "clip_seconds", "clip_size"]

log = logging.getLogger(__name__)

_RUNNING = ("queued", "in_progress")
_POLICY_CODES = ("moderation", "content_policy", "safety")


def clip_seconds(wanted: float, allowed: tuple[str, ...]) -> str:
    """The shortest allowed length that covers `wanted` (the longest when none does)."""
    options = sorted(allowed, key=float)
    for option in options:
        if float(option) >= wanted:
            return option
    return options[-1]


def clip_size(width: int, height: int) -> str:
    return "720x1280" if height > width else "1280x720"


class OpenAIClipMaker(OpenAIProvider):
    stages: ClassVar[frozenset[Stage]] = frozenset({Stage.CLIP})

    async def make_clip(self, request: ClipRequest, ctx: StageContext) -> ClipResult:
        c = self.config
        seconds = clip_seconds(request.seconds, c.clip_seconds)
        size = clip_size(request.width, request.height)
        form = aiohttp.FormData(default_to_multipart=True)  # the API takes multipart, even with no file
        form.add_field("prompt", f"{request.prompt}. {request.style}".strip(". "))
        form.add_field("model", c.clip_model)
        form.add_field("seconds", seconds)
        form.add_field("size", size)
        reply = await self._http.request("POST", self._url("videos"), headers=self._headers(), data=form,
                                         model=c.clip_model)
        video = _video(reply, self.name)
        video_id = str(video["id"])
        finished = False
        try:
            video = await self._wait(video, reply, ctx)
            finished = True
        finally:
            if not finished:
                await self._discard(video_id)
        content = await self._http.request(
            "GET", self._url(f"videos/{video_id}/content"), params={"variant": "video"},
            headers=self._headers(Accept="application/binary"), max_bytes=DEFAULT_MAX_MEDIA_BYTES,
        )
        path = await save_clip(content.body, request.out_dir, f"openai_{request.scene_index:03d}", self.name)
        width, height = (int(x) for x in str(video.get("size") or size).split("x"))
        return ClipResult(path, float(video.get("seconds") or seconds), width, height)

    async def _wait(self, video: dict[str, Any], reply: HTTPReply, ctx: StageContext) -> dict[str, Any]:
        """Poll until the video completes; raise on `failed` (an HTTP 200) or an unknown status."""
        video_id = video["id"]
        while video.get("status") in _RUNNING:
            ctx.report(float(video.get("progress") or 0) / 100.0, f"sora {video.get('progress') or 0}%")
            await asyncio.sleep(self._poll_delay_s(reply))
            reply = await self._http.request("GET", self._url(f"videos/{video_id}"), headers=self._headers())
            video = _video(reply, self.name)
        status = video.get("status")
        if status == "completed":
            return video
        if status == "failed":
            raise _failure(video.get("error"), self.name)
        raise BadOutput(f"video {video_id} ended with unknown status {status!r}", provider=self.name)

    def _poll_delay_s(self, reply: HTTPReply) -> float:
        hint = reply.headers.get("openai-poll-after-ms")
        try:
            delay = float(hint) / 1000.0 if hint else self.config.clip_poll_s
        except ValueError:
            delay = self.config.clip_poll_s
        return min(max(0.0, delay), self.config.clip_max_poll_s)

    async def _discard(self, video_id: str) -> None:
        """Best-effort DELETE of an unfinished video; shielded so a cancellation cannot cut it."""
        async def delete() -> None:
            try:
                await self._http.request("DELETE", self._url(f"videos/{video_id}"), headers=self._headers(),
                                         timeout_s=10.0)
                log.info("openai: deleted unfinished video %s", video_id)
            except ProviderError as exc:
                log.info("openai: could not delete unfinished video %s: %s", video_id, exc.message)

        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(asyncio.ensure_future(delete()))


def _video(reply: HTTPReply, provider: str) -> dict[str, Any]:
    data = reply.json()
    if not isinstance(data, dict) or not data.get("id"):
        raise BadOutput("the answer is not a video object", provider=provider)
    return data


def _failure(error: Any, provider: str) -> ProviderError:
    code = str((error or {}).get("code") or "") if isinstance(error, dict) else ""
    message = str((error or {}).get("message") or "no reason given") if isinstance(error, dict) else "no reason given"
    if any(m in code.lower() for m in _POLICY_CODES):
        return BadOutput(f"refused by the content policy: {message}", provider=provider, status=200)
    return Unavailable(f"video failed ({code or 'unknown'}): {message}", provider=provider, status=200)
