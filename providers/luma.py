"""Luma, a premium cloud clip maker: the Dream Machine generations API.

Wire facts (lumalabs/lumaai-python, checked 2026-11-30; see providers/README.md):

* base `https://api.lumalabs.ai/dream-machine/v1` (also `LUMAAI_BASE_URL`), `Authorization:
  Bearer $LUMAAI_API_KEY`.
* `POST /generations/video` `{prompt, model: ray-2 | ray-flash-2, aspect_ratio: "9:16" | "16:9" |
  "1:1" ..., duration: "5s" | "9s", resolution: "540p" | "720p" | "1080p" | "4k", keyframes}`;
  the answer is a Generation `{id, state, ...}`.
* `GET /generations/{id}`: `state` queued, dreaming, completed (`assets.video` is the URL) or failed
  (`failure_reason`; a moderation refusal says so in words). `DELETE /generations/{id}` when we stop
  waiting.
* `GET /credits` (the probe): `credit_balance` in USD cents.
* HTTP errors carry `{"detail": ...}`: 429 rate limited, "insufficient credits" is payment required,
  a retired model a configuration error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from providers.base import ClipRequest, ClipResult, ProviderDeps, Stage, StageContext, Tier
from providers.config import ProviderConfig
from providers.errors import BadOutput, ProviderError, Unavailable
from providers.http import CloudHTTP
from providers.lifecycle import retired_models
from providers.video_tasks import abandon, aspect_of, fetch_clip, pick_seconds

__all__ = ["LumaConfig", "LumaClipMaker", "generation_failure"]

_WAITING = ("queued", "dreaming")
_POLICY_WORDS = ("moderation", "content policy", "blacklisted", "not allowed", "safety", "nsfw")


@dataclass(frozen=True)
class LumaConfig(ProviderConfig):
    env: ClassVar[Mapping[str, str]] = {"base_url": "LUMAAI_BASE_URL"}
    secret_env: ClassVar[Mapping[str, str]] = {"api_key": "LUMAAI_API_KEY"}

    api_key: str = ""  # from LUMAAI_API_KEY only
    base_url: str = "https://api.lumalabs.ai/dream-machine/v1"
    model: str = "ray-2"  # or ray-flash-2 (faster, cheaper)
    resolution: str = "720p"  # 540p, 720p, 1080p, 4k
    durations: tuple[int, ...] = (5, 9)  # seconds the API accepts (sent as "5s")
    poll_s: float = 3.0
    timeout_s: float = 60.0  # per HTTP request

    def configured(self) -> bool:
        return bool(self.api_key)


class LumaClipMaker:
    name: ClassVar[str] = "luma"
    tier: ClassVar[Tier] = Tier.CLOUD_PREMIUM
    stages: ClassVar[frozenset[Stage]] = frozenset({Stage.CLIP})
    config_class: ClassVar[type] = LumaConfig

    def __init__(self, config: LumaConfig, deps: ProviderDeps) -> None:
        self.config = config
        self._http = CloudHTTP(self.name, deps.session, config.secrets(), timeout_s=config.timeout_s,
                               retired=retired_models(deps.data_dir))

    def secrets(self) -> tuple[str, ...]:
        return self.config.secrets()

    def _url(self, path: str) -> str:
        return f"{self.config.base_url.rstrip('/')}/{path.lstrip('/')}"

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.config.api_key}"}

    async def probe(self) -> dict[str, Any]:
        """GET /credits: proves the key and says what is left."""
        answer = (await self._http.request("GET", self._url("/credits"), headers=self._headers())).json()
        cents = answer.get("credit_balance") if isinstance(answer, dict) else None
        info: dict[str, Any] = {"credits_usd_cents": cents, "model": self.config.model}
        retired = await self._http.retired.retired(self.name) if self._http.retired is not None else {}
        if self.config.model in retired:
            info["problem"] = f"{self.config.model} is retired (the service said: {retired[self.config.model]})"
            info["hint"] = "set [providers.luma] model to a current model (ray-2, ray-flash-2)"
        elif isinstance(cents, int | float) and cents <= 0:
            info["problem"] = "no credits left"
            info["hint"] = "add credits in the Luma API dashboard"
        return info

    def generation_body(self, request: ClipRequest) -> dict[str, Any]:
        c = self.config
        return {
            "prompt": f"{request.prompt}. {request.style}".strip(". "),
            "model": c.model,
            "aspect_ratio": aspect_of(request.width, request.height),
            "duration": f"{pick_seconds(request.seconds, c.durations)}s",
            "resolution": c.resolution,
        }

    async def make_clip(self, request: ClipRequest, ctx: StageContext) -> ClipResult:
        created = (await self._http.request("POST", self._url("/generations/video"), headers=self._headers(),
                                            json_body=self.generation_body(request), model=self.config.model)).json()
        gen_id = str(created.get("id") or "") if isinstance(created, dict) else ""
        if not gen_id:
            raise BadOutput("the answer has no generation id", provider=self.name)
        finished = False
        try:
            generation = await self._wait(gen_id, ctx)
            finished = True
        finally:
            if not finished:
                await abandon(lambda: self._http.request("DELETE", self._url(f"/generations/{gen_id}"),
                                                         headers=self._headers(), timeout_s=10.0),
                              self.name, f"generation {gen_id}")
        assets = generation.get("assets") or {}
        url = assets.get("video") if isinstance(assets, dict) else None
        if not isinstance(url, str):
            raise BadOutput(f"generation {gen_id} completed with no video", provider=self.name)
        return await fetch_clip(self._http, url, request.out_dir, f"luma_{request.scene_index:03d}")

    async def _wait(self, gen_id: str, ctx: StageContext) -> dict[str, Any]:
        polls = 0
        while True:
            generation = (await self._http.request("GET", self._url(f"/generations/{gen_id}"),
                                                   headers=self._headers())).json()
            state = generation.get("state") if isinstance(generation, dict) else None
            if state == "completed":
                return generation
            if state == "failed":
                raise generation_failure(generation, self.name)
            if state not in _WAITING:
                raise BadOutput(f"generation {gen_id} has unknown state {state!r}", provider=self.name)
            polls += 1
            ctx.report(min(0.95, polls / (polls + 10)), f"luma {state}")
            await asyncio.sleep(self.config.poll_s)


def generation_failure(generation: dict[str, Any], provider: str) -> ProviderError:
    reason = str(generation.get("failure_reason") or "no reason given")
    if any(w in reason.lower() for w in _POLICY_WORDS):
        return BadOutput(f"refused by the content policy: {reason}", provider=provider, status=200)
    return Unavailable(f"the generation failed: {reason}", provider=provider, status=200)
