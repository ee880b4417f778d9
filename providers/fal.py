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

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal
from urllib.parse import urlparse

from providers.base import ClipRequest, ClipResult, ProviderDeps, Stage, StageContext, Tier
from providers.config import ProviderConfig
from providers.errors import BadOutput, ProviderError, Unavailable
from providers.http import CloudHTTP
from providers.lifecycle import retired_models
from providers.video_tasks import abandon, aspect_of, fetch_clip, pick_seconds

__all__ = ["FalConfig", "FalClipMaker", "FAL_SIZES", "aspect_fields", "FalQueue"]

AspectParam = Literal["aspect_ratio", "video_size", "none"]
FAL_SIZES = {"9:16": "portrait_16_9", "16:9": "landscape_16_9", "1:1": "square_hd"}  # fal's size names
_POLICY_WORDS = ("content_policy", "content policy", "moderation", "flagged", "nsfw")


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
