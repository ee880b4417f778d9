"""Runway, a premium cloud clip maker: its developer API's text-to-video and image-to-video tasks.

Wire facts (runwayml/sdk-python, checked 2026-11-30; see providers/README.md):

* `Authorization: Bearer $RUNWAYML_API_SECRET` and `X-Runway-Version: 2024-11-06` on every call,
  base `https://api.dev.runwayml.com`.
* `POST /v1/text_to_video` `{model, promptText, ratio, duration, seed}` (gen4.5: ratio
  "1280:720" | "720:1280", duration 2..10) or `POST /v1/image_to_video` with `promptImage` (a data
  URI) when the request carries a still; both answer `{id}`.
* `GET /v1/tasks/{id}`: status PENDING, THROTTLED (over the concurrency limit, queued by Runway),
  RUNNING (`progress` 0..1), SUCCEEDED (`output`: URLs), FAILED (`failure`, `failureCode`:
  `SAFETY.*` is a moderation refusal, `INTERNAL.BAD_OUTPUT.*` a rejected result, neither retried
  for this scene), CANCELLED. `DELETE /v1/tasks/{id}` cancels a task we stop waiting for.
* HTTP errors: 429 over the daily generation limit; "You do not have enough credits" is payment
  required; a retired model is a configuration error (`providers.errors.ModelRetired`).
* `GET /v1/organization` (the probe): tier and `creditBalance`.
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
from providers.video_tasks import abandon, fetch_clip, image_data_uri, pick_seconds

__all__ = ["RunwayConfig", "RunwayClipMaker", "task_failure"]

_WAITING = ("PENDING", "THROTTLED", "RUNNING")
MAX_PROMPT_CHARS = 1000  # promptText limit (UTF-16 code units; our prompts are mostly ASCII)


@dataclass(frozen=True)
class RunwayConfig(ProviderConfig):
    env: ClassVar[Mapping[str, str]] = {"base_url": "RUNWAYML_BASE_URL"}
    secret_env: ClassVar[Mapping[str, str]] = {"api_key": "RUNWAYML_API_SECRET"}

    api_key: str = ""  # from RUNWAYML_API_SECRET only
    base_url: str = "https://api.dev.runwayml.com"  # also RUNWAYML_BASE_URL, as the SDK reads it
    api_version: str = "2024-11-06"  # the X-Runway-Version header
    text_model: str = "gen4.5"  # text-to-video
    image_model: str = "gen4_turbo"  # image-to-video, when a still is given
    landscape_ratio: str = "1280:720"
    portrait_ratio: str = "720:1280"
    durations: tuple[int, ...] = (2, 3, 4, 5, 6, 7, 8, 9, 10)  # seconds the models accept
    poll_s: float = 6.0  # the SDK's own pace
    timeout_s: float = 60.0  # per HTTP request

    def configured(self) -> bool:
        return bool(self.api_key)


class RunwayClipMaker:
    name: ClassVar[str] = "runway"
    tier: ClassVar[Tier] = Tier.CLOUD_PREMIUM
    stages: ClassVar[frozenset[Stage]] = frozenset({Stage.CLIP})
    config_class: ClassVar[type] = RunwayConfig
    # Runway animates a still best (image_to_video): the pipeline draws each scene's still first
    wants_image: ClassVar[bool] = True

    def __init__(self, config: RunwayConfig, deps: ProviderDeps) -> None:
        self.config = config
        self._http = CloudHTTP(self.name, deps.session, config.secrets(), timeout_s=config.timeout_s,
                               retired=retired_models(deps.data_dir))

    def secrets(self) -> tuple[str, ...]:
        return self.config.secrets()

    def _url(self, path: str) -> str:
        return f"{self.config.base_url.rstrip('/')}/{path.lstrip('/')}"

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.config.api_key}", "X-Runway-Version": self.config.api_version}

    async def probe(self) -> dict[str, Any]:
        """GET /v1/organization: proves the key, and says how many credits are left."""
        org = (await self._http.request("GET", self._url("/v1/organization"), headers=self._headers())).json()
        credits = org.get("creditBalance") if isinstance(org, dict) else None
        info: dict[str, Any] = {"credits": credits, "model": self.config.text_model}
        retired = await self._http.retired.retired(self.name) if self._http.retired is not None else {}
        for model in (self.config.text_model, self.config.image_model):
            if model in retired:
                info["problem"] = f"{model} is retired (the service said: {retired[model]})"
                info["hint"] = "set [providers.runway] text_model / image_model to a current model"
        if isinstance(credits, int | float) and credits <= 0:
            info.setdefault("problem", "no credits left")
            info.setdefault("hint", "buy credits in the Runway developer portal")
        return info

    def task_body(self, request: ClipRequest, image_uri: str | None) -> tuple[str, dict[str, Any]]:
        """(path, JSON body) of the task for this scene."""
        c = self.config
        body: dict[str, Any] = {
            "promptText": f"{request.prompt}. {request.style}".strip(". ")[:MAX_PROMPT_CHARS],
            "ratio": c.portrait_ratio if request.height > request.width else c.landscape_ratio,
            "duration": pick_seconds(request.seconds, c.durations),
            "seed": request.seed % 4294967296,  # the API takes 0..2^32-1
        }
        if image_uri is not None:
            return "/v1/image_to_video", {"model": c.image_model, "promptImage": image_uri, **body}
        return "/v1/text_to_video", {"model": c.text_model, **body}

    async def make_clip(self, request: ClipRequest, ctx: StageContext) -> ClipResult:
        image_uri = await asyncio.to_thread(image_data_uri, request.image) if request.image else None
        path, body = self.task_body(request, image_uri)
        created = (await self._http.request("POST", self._url(path), headers=self._headers(), json_body=body,
                                            model=str(body["model"]))).json()
        task_id = str(created.get("id") or "") if isinstance(created, dict) else ""
        if not task_id:
            raise BadOutput("the answer has no task id", provider=self.name)
        finished = False
        try:
            task = await self._wait(task_id, ctx)
            finished = True
        finally:
            if not finished:
                await abandon(lambda: self._http.request("DELETE", self._url(f"/v1/tasks/{task_id}"),
                                                         headers=self._headers(), timeout_s=10.0),
                              self.name, f"task {task_id}")
        output = task.get("output")
        url = output[0] if isinstance(output, list) and output else None
        if not isinstance(url, str):
            raise BadOutput(f"task {task_id} succeeded with no output", provider=self.name)
        return await fetch_clip(self._http, url, request.out_dir, f"runway_{request.scene_index:03d}")

    async def _wait(self, task_id: str, ctx: StageContext) -> dict[str, Any]:
        while True:
            task = (await self._http.request("GET", self._url(f"/v1/tasks/{task_id}"),
                                             headers=self._headers())).json()
            status = task.get("status") if isinstance(task, dict) else None
            if status == "SUCCEEDED":
                return task
            if status == "FAILED":
                raise task_failure(task, self.name)
            if status == "CANCELLED":
                raise Unavailable(f"task {task_id} was cancelled by the service", provider=self.name, status=200)
            if status not in _WAITING:
                raise BadOutput(f"task {task_id} has unknown status {status!r}", provider=self.name)
            progress = float(task.get("progress") or 0.0)
            ctx.report(min(progress, 0.99), f"runway {str(status).lower()} {progress:.0%}")
            await asyncio.sleep(self.config.poll_s)


def task_failure(task: dict[str, Any], provider: str) -> ProviderError:
    """A FAILED task (an HTTP 200) as the error tree: moderation and rejected output are this scene's
    bad output; anything else is the service failing."""
    code = str(task.get("failureCode") or "")
    reason = str(task.get("failure") or "no reason given")
    if code.startswith("SAFETY"):
        return BadOutput(f"refused by the content policy ({code}): {reason}", provider=provider, status=200)
    if code.startswith(("INTERNAL.BAD_OUTPUT", "ASSET.INVALID", "INPUT_PREPROCESSING")):
        return BadOutput(f"the task failed ({code}): {reason}", provider=provider, status=200)
    return Unavailable(f"the task failed ({code or 'no code'}): {reason}", provider=provider, status=200)
