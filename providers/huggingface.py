"""Hugging Face, free cloud images and clips through the inference router.

* images: `POST {router}/hf-inference/models/{model}` with `{"inputs", "parameters"}`; the answer is
  the raw image bytes (errors are JSON).
* clips: a fal-ai text-to-video queue behind the router: submit, poll `…/status` until COMPLETED,
  fetch the result, download `video.url` (a foreign host: our token is never sent there).
* `503 {"error": "… is currently loading", "estimated_time": 20.0}`: wait and retry, within a budget
  (the cascade's stage timeout still bounds the whole call).
* `402` / "exceeded your monthly included credits": PaymentRequired, a long cooldown shown in status.

Configured only when `HF_TOKEN` is in the environment.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import quote, urlparse

from providers.base import (
    ClipRequest,
    ClipResult,
    ImageRequest,
    ImageResult,
    ProviderDeps,
    Stage,
    StageContext,
    Tier,
)
from providers.config import ProviderConfig
from providers.errors import BadOutput, ProviderError, Unavailable
from providers.http import DEFAULT_MAX_JSON_BYTES, DEFAULT_MAX_MEDIA_BYTES, CloudHTTP, HTTPReply, classify_status
from providers.media import generation_size, save_clip, save_image

__all__ = ["HuggingFaceConfig", "HuggingFaceImageMaker", "HuggingFaceClipMaker"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HuggingFaceConfig(ProviderConfig):
    secret_env: ClassVar[Mapping[str, str]] = {"token": "HF_TOKEN"}

    token: str = ""  # from HF_TOKEN only
    router_url: str = "https://router.huggingface.co"
    hub_url: str = "https://huggingface.co"  # for the probe (whoami)
    timeout_s: float = 120.0  # per HTTP request
    image_model: str = "black-forest-labs/FLUX.1-schnell"
    image_steps: int = 0  # 0 = the model's default
    max_side: int = 1024  # generate at most this many pixels on the long side (the renderer scales)
    clip_provider: str = "fal-ai"  # text-to-video is not offered by hf-inference
    clip_model: str = "fal-ai/cogvideox-5b"  # the provider's model id
    clip_seconds: float = 6.0  # how long the model's clips are
    poll_s: float = 3.0  # queue poll interval
    loading_wait_max_s: float = 30.0  # longest single wait for a loading model
    loading_budget_s: float = 180.0  # total wait for a loading model per call

    def configured(self) -> bool:
        return bool(self.token)


class _HuggingFace:
    name: ClassVar[str] = "huggingface"
    tier: ClassVar[Tier] = Tier.CLOUD_FREE
    config_class: ClassVar[type] = HuggingFaceConfig

    def __init__(self, config: HuggingFaceConfig, deps: ProviderDeps) -> None:
        self.config = config
        self._http = CloudHTTP(self.name, deps.session, config.secrets(), timeout_s=config.timeout_s)

    def secrets(self) -> tuple[str, ...]:
        return self.config.secrets()

    def _auth(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.config.token}", **extra}

    def _router(self, path: str) -> str:
        return f"{self.config.router_url.rstrip('/')}/{path.lstrip('/')}"

    async def probe(self) -> dict[str, Any]:
        """GET /api/whoami-v2 with the token: free, and proves the token works."""
        reply = await self._http.request("GET", f"{self.config.hub_url.rstrip('/')}/api/whoami-v2",
                                         headers=self._auth())
        who = reply.json()
        return {"user": who.get("name", "") if isinstance(who, dict) else ""}

    async def _post_waiting_for_load(self, url: str, body: dict[str, Any], ctx: StageContext,
                                     accept: str, max_bytes: int, model: str) -> HTTPReply:
        """POST, and while the model answers 503 "loading" with estimated_time, wait and retry."""
        waited = 0.0
        while True:
            reply = await self._http.request("POST", url, headers=self._auth(Accept=accept), json_body=body,
                                             max_bytes=max_bytes, model=model, raise_for_status=False)
            if 200 <= reply.status < 300:
                return reply
            estimate = _estimated_time(reply) if reply.status == 503 else None
            if estimate is None or waited >= self.config.loading_budget_s:
                raise classify_status(self.name, reply.status, reply.headers, reply.body,
                                      self.secrets(), model=model)
            delay = min(max(estimate, 0.0), self.config.loading_wait_max_s, self.config.loading_budget_s - waited)
            log.info("job %s: huggingface model %s is loading; retrying in %.1fs", ctx.job_id, model, delay)
            ctx.report(0.0, f"{model} is loading (~{estimate:.0f}s)")
            await asyncio.sleep(delay)
            waited += max(delay, 0.001)


def _estimated_time(reply: HTTPReply) -> float | None:
    try:
        data = json.loads(reply.body)
        return float(data["estimated_time"])
    except (ValueError, KeyError, TypeError):
        return None


class HuggingFaceImageMaker(_HuggingFace):
    stages: ClassVar[frozenset[Stage]] = frozenset({Stage.IMAGE})

    async def make_image(self, request: ImageRequest, ctx: StageContext) -> ImageResult:
        c = self.config
        width, height = generation_size(request.width, request.height, c.max_side)
        parameters: dict[str, Any] = {"width": width, "height": height, "seed": request.seed}
        if request.negative:
            parameters["negative_prompt"] = request.negative
        if c.image_steps:
            parameters["num_inference_steps"] = c.image_steps
        body = {"inputs": f"{request.prompt}. {request.style}".strip(". "), "parameters": parameters}
        reply = await self._post_waiting_for_load(
            self._router(f"hf-inference/models/{quote(c.image_model, safe='/')}"), body, ctx,
            accept="image/png", max_bytes=4 * DEFAULT_MAX_JSON_BYTES, model=c.image_model,
        )
        if reply.content_type.startswith(("application/json", "text/")):
            raise BadOutput(f"expected image bytes, got {reply.content_type}", provider=self.name)
        path, w, h = await save_image(reply.body, request.out_dir, f"huggingface_{request.scene_index:03d}", self.name)
        return ImageResult(path, w, h)


class HuggingFaceClipMaker(_HuggingFace):
    stages: ClassVar[frozenset[Stage]] = frozenset({Stage.CLIP})

    async def make_clip(self, request: ClipRequest, ctx: StageContext) -> ClipResult:
        c = self.config
        provider_root = self._router(c.clip_provider)
        body: dict[str, Any] = {"prompt": f"{request.prompt}. {request.style}".strip(". "), "seed": request.seed}
        if request.negative:
            body["negative_prompt"] = request.negative
        submitted = await self._post_waiting_for_load(
            f"{provider_root}/{c.clip_model}?_subdomain=queue", body, ctx, accept="application/json",
            max_bytes=DEFAULT_MAX_JSON_BYTES, model=c.clip_model,
        )
        job = submitted.json()
        path = urlparse(str(job.get("response_url") or "")).path if isinstance(job, dict) else ""
        if not path:
            raise BadOutput("the queue gave no response_url", provider=self.name)
        done = False
        try:
            await self._wait(f"{provider_root}{path}", ctx)
            done = True
        finally:
            if not done:
                await self._cancel(f"{provider_root}{path}/cancel?_subdomain=queue")
        result = (await self._http.request("GET", f"{provider_root}{path}?_subdomain=queue",
                                           headers=self._auth())).json()
        url = (result.get("video") or {}).get("url") if isinstance(result, dict) else None
        if not url or urlparse(str(url)).scheme not in ("http", "https"):
            raise BadOutput("the result has no video url", provider=self.name)
        video = await self._http.request("GET", str(url), max_bytes=DEFAULT_MAX_MEDIA_BYTES)  # no token
        saved = await save_clip(video.body, request.out_dir, f"huggingface_{request.scene_index:03d}", self.name)
        return ClipResult(saved, c.clip_seconds, request.width, request.height)

    async def _wait(self, request_url: str, ctx: StageContext) -> None:
        polls = 0
        while True:
            status = (await self._http.request("GET", f"{request_url}/status?_subdomain=queue",
                                               headers=self._auth())).json()
            state = status.get("status") if isinstance(status, dict) else None
            if state == "COMPLETED":
                return
            if state not in ("IN_QUEUE", "IN_PROGRESS"):
                raise Unavailable(f"the queue says {state!r}", provider=self.name)
            polls += 1
            ctx.report(min(0.95, polls / (polls + 10)), f"clip {state.lower().replace('_', ' ')}")
            await asyncio.sleep(self.config.poll_s)

    async def _cancel(self, url: str) -> None:
        async def cancel() -> None:
            try:
                await self._http.request("PUT", url, headers=self._auth(), timeout_s=10.0)
            except ProviderError as exc:
                log.info("huggingface: could not cancel a queued clip: %s", exc.message)

        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(asyncio.ensure_future(cancel()))
