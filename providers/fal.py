"""fal.ai, a premium cloud clip maker for any video model on its queue: Pika (the default), Kling,
Wan, LTX, ... The model id is a setting; the client is the same for all of them.

Wire facts (fal-ai/fal `fal_client`, fal's queue docs, checked 2026-11-30; see providers/README.md):

* `Authorization: Key $FAL_KEY`.
* `POST https://queue.fal.run/{model id}` with the model's input JSON; the answer is
  `{request_id, status_url, response_url, cancel_url}` (the URLs are followed as given: they name
  the app, not the whole model path).
* `GET {status_url}`: `status` IN_QUEUE (`queue_position`), IN_PROGRESS, COMPLETED (with `error`
  and `error_type` when the model failed).
* `GET {response_url}`: the model's output, `{"video": {"url": ...}}`; a model that refused the
  input answers 422 `{"detail": [{"loc", "msg", "type": "content_policy_violation"}]}`.
* `PUT {cancel_url}` when we stop waiting.
* A locked account answers 403 "User is locked. Reason: Exhausted balance": payment required.
* `GET https://api.fal.ai/v1/models?endpoint_id=...` (the probe): the model exists and is not
  deprecated, and the key works.

Models name their inputs differently: `aspect_param` and `duration_param` say how this one wants
the aspect ("aspect_ratio": "9:16", or fal's "video_size": "portrait_16_9") and the length.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from providers.base import ClipRequest, ClipResult, ProviderDeps, Stage, StageContext, Tier
from providers.config import ProviderConfig
from providers.errors import BadOutput
from providers.http import CloudHTTP
from providers.lifecycle import retired_models
from providers.video_tasks import AspectParam, FalQueue, aspect_fields, fetch_clip, pick_seconds

__all__ = ["FalConfig", "FalClipMaker"]



@dataclass(frozen=True)
class FalConfig(ProviderConfig):
    secret_env: ClassVar[Mapping[str, str]] = {"api_key": "FAL_KEY"}

    api_key: str = ""  # from FAL_KEY only
    queue_url: str = "https://queue.fal.run"
    api_url: str = "https://api.fal.ai/v1"  # the probe's model lookup
    model: str = "fal-ai/pika/v2.2/text-to-video"  # any fal video model id: Kling, Wan, LTX...
    aspect_param: AspectParam = "aspect_ratio"  # how the model takes the aspect
    duration_param: str = "duration"  # "" = not sent (the model's fixed length)
    durations: tuple[int, ...] = (5, 10)  # lengths the model accepts
    duration_as_string: bool = False  # Kling wants "5", Pika 5
    resolution: str = "720p"  # sent as `resolution` when set; "" = not sent
    poll_s: float = 3.0
    timeout_s: float = 60.0  # per HTTP request

    def configured(self) -> bool:
        return bool(self.api_key)


class FalClipMaker:
    name: ClassVar[str] = "fal"
    tier: ClassVar[Tier] = Tier.CLOUD_PREMIUM
    stages: ClassVar[frozenset[Stage]] = frozenset({Stage.CLIP})
    config_class: ClassVar[type] = FalConfig

    def __init__(self, config: FalConfig, deps: ProviderDeps) -> None:
        self.config = config
        self._http = CloudHTTP(self.name, deps.session, config.secrets(), timeout_s=config.timeout_s,
                               retired=retired_models(deps.data_dir))
        self._queue = FalQueue(self._http, self._headers(), poll_s=config.poll_s)

    def secrets(self) -> tuple[str, ...]:
        return self.config.secrets()

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Key {self.config.api_key}"}

    async def probe(self) -> dict[str, Any]:
        """The Platform API's model lookup: the key works and the model exists (and is not deprecated)."""
        c = self.config
        answer = (await self._http.request("GET", f"{c.api_url.rstrip('/')}/models",
                                           params={"endpoint_id": c.model}, headers=self._headers())).json()
        models = answer.get("models") if isinstance(answer, dict) else None
        info: dict[str, Any] = {"model": c.model}
        entry = next((m for m in models or [] if isinstance(m, dict) and m.get("endpoint_id") == c.model), None)
        retired = await self._http.retired.retired(self.name) if self._http.retired is not None else {}
        if c.model in retired:
            info["problem"] = f"{c.model} is retired (the service said: {retired[c.model]})"
            info["hint"] = "set [providers.fal] model to a current fal video model"
        elif entry is None:
            info["problem"] = f"fal.ai does not list the model {c.model!r}"
            info["hint"] = "set [providers.fal] model to an endpoint id from fal.ai/models"
        elif str((entry.get("metadata") or {}).get("status", "")).lower() == "deprecated":
            info["warnings"] = [f"{c.model} is deprecated on fal.ai"]
        return info

    def request_body(self, request: ClipRequest) -> dict[str, Any]:
        c = self.config
        body: dict[str, Any] = {"prompt": f"{request.prompt}. {request.style}".strip(". "),
                                "seed": request.seed % 2147483648}
        if request.negative:
            body["negative_prompt"] = request.negative
        body.update(aspect_fields(c.aspect_param, request.width, request.height))
        if c.duration_param:
            seconds = pick_seconds(request.seconds, c.durations)
            body[c.duration_param] = str(seconds) if c.duration_as_string else seconds
        if c.resolution:
            body["resolution"] = c.resolution
        return body

    async def make_clip(self, request: ClipRequest, ctx: StageContext) -> ClipResult:
        c = self.config
        result = await self._queue.run(f"{c.queue_url.rstrip('/')}/{c.model}", self.request_body(request), ctx,
                                       c.model, "fal")
        url = (result.get("video") or {}).get("url") if isinstance(result.get("video"), dict) else None
        if not isinstance(url, str):
            raise BadOutput("the result has no video url", provider=self.name)
        return await fetch_clip(self._http, url, request.out_dir, f"fal_{request.scene_index:03d}")
