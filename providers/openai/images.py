"""OpenAI images: `POST /images/generations`, one image per scene, base64 in the answer.

The default is `gpt-image-2` (the SDK's image model list leads with that family; dall-e-2/3 and
gpt-image-1 are shut down). The GPT image models always answer base64 and refuse `response_format`,
so it is sent only to a dall-e model (kept for OpenAI-compatible servers that still serve one).
Sizes are the model's nearest to the aspect.
A content-policy 400 is bad output for this scene, not an outage.
"""

from __future__ import annotations

import base64
import binascii
from typing import ClassVar

from providers.base import ImageRequest, ImageResult, Stage, StageContext
from providers.errors import BadOutput
from providers.http import DEFAULT_MAX_JSON_BYTES
from providers.media import save_image
from providers.openai.client import OpenAIProvider

__all__ = ["OpenAIImageMaker", "image_size"]

_SIZES = {  # model family -> (portrait, landscape, square)
    "dall-e-3": ("1024x1792", "1792x1024", "1024x1024"),
    "dall-e-2": ("1024x1024", "1024x1024", "1024x1024"),
    "gpt-image": ("1024x1536", "1536x1024", "1024x1024"),
}
_PROMPT_LIMIT = {"dall-e-3": 4000, "dall-e-2": 1000, "gpt-image": 32000}


def _family(model: str) -> str:
    for family in ("dall-e-3", "dall-e-2"):
        if model.startswith(family):
            return family
    return "gpt-image"


def image_size(model: str, width: int, height: int) -> str:
    portrait, landscape, square = _SIZES[_family(model)]
    ratio = width / max(1, height)
    if ratio < 0.85:
        return portrait
    if ratio > 1.18:
        return landscape
    return square


class OpenAIImageMaker(OpenAIProvider):
    stages: ClassVar[frozenset[Stage]] = frozenset({Stage.IMAGE})
    model_settings: ClassVar[tuple[str, ...]] = ("image_model",)

    async def make_image(self, request: ImageRequest, ctx: StageContext) -> ImageResult:
        model = self.config.image_model
        family = _family(model)
        prompt = f"{request.prompt}. {request.style}".strip(". ")[: _PROMPT_LIMIT[family]]
        body: dict[str, object] = {"model": model, "prompt": prompt, "n": 1,
                                   "size": image_size(model, request.width, request.height)}
        if family.startswith("dall-e"):
            body["response_format"] = "b64_json"
        if self.config.image_quality:
            body["quality"] = self.config.image_quality
        reply = await self._http.request(
            "POST", self._url("images/generations"), headers=self._headers(), json_body=body,
            max_bytes=4 * DEFAULT_MAX_JSON_BYTES, model=model,
        )
        data = await self._image_bytes(reply.json())
        path, width, height = await save_image(data, request.out_dir, f"openai_{request.scene_index:03d}", self.name)
        return ImageResult(path, width, height)

    async def _image_bytes(self, answer: object) -> bytes:
        try:
            item = answer["data"][0]  # type: ignore[index]
        except (KeyError, IndexError, TypeError):
            raise BadOutput("the answer has no image", provider=self.name) from None
        if item.get("b64_json"):
            try:
                return base64.b64decode(item["b64_json"], validate=True)
            except (binascii.Error, ValueError):
                raise BadOutput("the image is not valid base64", provider=self.name) from None
        if item.get("url"):  # a dall-e answer despite b64_json: fetch it, without our key
            reply = await self._http.request("GET", str(item["url"]), max_bytes=4 * DEFAULT_MAX_JSON_BYTES)
            return reply.body
        raise BadOutput("the answer has neither b64_json nor url", provider=self.name)
