"""Hugging Face, free cloud images and clips through the inference router.

* images: `POST {router}/hf-inference/models/{model}` with `{"inputs", "parameters"}`; the answer is
  the raw image bytes (errors are JSON).
* clips: a text-to-video provider's queue behind the router (fal-ai by default; `providers.fal`'s
  queue protocol): the provider's model id comes from the Hub's provider mapping
  (`GET {hub}/api/models/{model}?expand[]=inferenceProviderMapping`, as huggingface_hub reads it),
  the job's aspect is sent, and the clip's size and duration are measured from the file that came
  back (`video.url`, a foreign host: our token is never sent there).
* `503 {"error": "… is currently loading", "estimated_time": 20.0}`: wait and retry, within a budget
  (the cascade's stage timeout still bounds the whole call).
* `402` / "exceeded your monthly included credits": PaymentRequired, a long cooldown shown in status.

Configured only when `HF_TOKEN` is in the environment.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import quote

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
from providers.errors import BadOutput
from providers.errors import Misconfigured
from providers.http import DEFAULT_MAX_JSON_BYTES, CloudHTTP, HTTPReply, classify_status
from providers.lifecycle import retired_models
from providers.media import generation_size, save_image
from providers.video_tasks import AspectParam, FalQueue, aspect_fields, fetch_clip

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
    clip_model: str = "zai-org/CogVideoX-5b"  # the Hub model id; the provider's id comes from the Hub
    clip_aspect_param: AspectParam = "video_size"  # how the provider's model takes the aspect
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
        self._http = CloudHTTP(self.name, deps.session, config.secrets(), timeout_s=config.timeout_s,
                               retired=retired_models(deps.data_dir))

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

    def __init__(self, config: HuggingFaceConfig, deps: ProviderDeps) -> None:
        super().__init__(config, deps)
        self._provider_model: str | None = None  # from the Hub's mapping, looked up once

    async def provider_model(self) -> str:
        """The clip provider's id for `clip_model`, from the Hub's inference provider mapping (a list
        of `{provider, providerId, status, task}`, or the older dict keyed by provider)."""
        if self._provider_model is not None:
            return self._provider_model
        c = self.config
        reply = await self._http.request(
            "GET", f"{c.hub_url.rstrip('/')}/api/models/{quote(c.clip_model, safe='/')}",
            params={"expand[]": "inferenceProviderMapping"}, headers=self._auth())
        data = reply.json()
        mapping = data.get("inferenceProviderMapping") if isinstance(data, dict) else None
        entries = ([dict(v, provider=k) for k, v in mapping.items() if isinstance(v, dict)]
                   if isinstance(mapping, dict) else [m for m in mapping or [] if isinstance(m, dict)])
        entry = next((m for m in entries if m.get("provider") == c.clip_provider), None)
        if entry is None or entry.get("status", "live") != "live" or not entry.get("providerId"):
            state = "not offered" if entry is None else f"status {entry.get('status')!r}"
            raise Misconfigured(f"{c.clip_model} is {state} by {c.clip_provider} on the Hub",
                                provider=self.name,
                                hint="set [providers.huggingface] clip_model to a text-to-video model that "
                                     f"{c.clip_provider} serves (its Hub page lists the inference providers)")
        self._provider_model = str(entry["providerId"])
        return self._provider_model

    async def make_clip(self, request: ClipRequest, ctx: StageContext) -> ClipResult:
        c = self.config
        model = await self.provider_model()
        provider_root = self._router(c.clip_provider)
        body: dict[str, Any] = {"prompt": f"{request.prompt}. {request.style}".strip(". "),
                                "seed": request.seed % 2147483648,
                                **aspect_fields(c.clip_aspect_param, request.width, request.height)}
        if request.negative:
            body["negative_prompt"] = request.negative
        queue = FalQueue(self._http, self._auth(), poll_s=c.poll_s, rebase=provider_root, query="_subdomain=queue")
        result = await queue.run(f"{provider_root}/{model}?_subdomain=queue", body, ctx, model, "clip")
        url = (result.get("video") or {}).get("url") if isinstance(result.get("video"), dict) else None
        if not isinstance(url, str):
            raise BadOutput("the result has no video url", provider=self.name)
        return await fetch_clip(self._http, url, request.out_dir, f"huggingface_{request.scene_index:03d}")
