"""Pollinations, free cloud images (prompt in the URL path) and scripts (its text endpoint).

Without a token it runs anonymously on the keyless hosts (`image.pollinations.ai`,
`text.pollinations.ai`), as the seed did: queued per IP and rate-limited. With `POLLINATIONS_TOKEN`
it uses the `gen.pollinations.ai` gateway with `Authorization: Bearer`. Either way:

* booleans are *omitted* rather than sent as `false` (the gateway coerces any non-empty string,
  `"false"` included, to true);
* the seed is the scene's (job seed + scene index): the service's fixed default seed would give
  every scene of a prompt the same picture. The gateway validates it as a signed 32-bit integer, and
  a job seed runs up to 2^32, so it is reduced into 0..2^31-1 (`gateway_seed`);
* a HTTP 200 may carry a placeholder ("rate limited", "queue full") instead of the picture. An
  answer is refused as bad output when it does not decode, when its size is not what we asked for,
  when its SHA-256 is a known placeholder, or when the very same bytes came back for a different
  prompt (then the hash is remembered as a placeholder too).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import quote

from providers.base import (
    ImageRequest,
    ImageResult,
    ProviderDeps,
    Script,
    ScriptRequest,
    Stage,
    StageContext,
    Tier,
)
from providers.config import ProviderConfig
from providers.errors import BadOutput
from providers.http import DEFAULT_MAX_JSON_BYTES, CloudHTTP
from providers.media import decode_image, generation_size, save_image
from providers.script_schema import parse_script, script_messages

__all__ = ["PollinationsConfig", "PollinationsImageMaker", "PollinationsScriptWriter", "PlaceholderDetector",
           "gateway_seed"]

_GATEWAY = "https://gen.pollinations.ai"
_LEGACY_IMAGE = "https://image.pollinations.ai"
_LEGACY_TEXT = "https://text.pollinations.ai"
MAX_PROMPT_CHARS = 1500  # the prompt travels in the URL path
_SEEN_LIMIT = 512


@dataclass(frozen=True)
class PollinationsConfig(ProviderConfig):
    secret_env: ClassVar[Mapping[str, str]] = {"token": "POLLINATIONS_TOKEN"}

    token: str = ""  # from POLLINATIONS_TOKEN only; unlocks the gen.pollinations.ai gateway
    anonymous: bool = False  # use the keyless hosts when there is no token (config.toml turns it on)
    image_url: str = ""  # "" = <gateway>/image with a token, https://image.pollinations.ai/prompt without
    text_url: str = ""  # "" = <gateway>/text with a token, https://text.pollinations.ai without
    models_url: str = ""  # the probe; "" = the image host's model list
    image_model: str = "flux"
    text_model: str = "openai"
    max_side: int = 1024  # generate at most this many pixels on the long side
    nologo: bool = True  # booleans are sent only when true
    private: bool = True  # keep our prompts out of the public feed
    enhance: bool = False
    safe: bool = False
    placeholder_sha256: tuple[str, ...] = ()  # known placeholder images, hex SHA-256
    timeout_s: float = 120.0

    def configured(self) -> bool:
        return bool(self.token) or self.anonymous

    def image_base(self) -> str:
        return (self.image_url or (f"{_GATEWAY}/image" if self.token else f"{_LEGACY_IMAGE}/prompt")).rstrip("/")

    def text_base(self) -> str:
        return (self.text_url or (f"{_GATEWAY}/text" if self.token else _LEGACY_TEXT)).rstrip("/")

    def models(self) -> str:
        return self.models_url or (f"{_GATEWAY}/image/models" if self.token else f"{_LEGACY_IMAGE}/models")


def gateway_seed(seed: int) -> int:
    """The seed as the gateway accepts it: a signed 32-bit integer, kept non-negative."""
    return seed % 2147483648


class PlaceholderDetector:
    """Remembers which bytes answered which request, to catch one image served for every prompt."""

    def __init__(self, known: tuple[str, ...] = ()) -> None:
        self.known = {h.lower() for h in known}
        self._seen: OrderedDict[str, str] = OrderedDict()  # sha256 -> request key, bounded

    def check(self, data: bytes, request_key: str, want: tuple[int, int], got: tuple[int, int]) -> str:
        """Return a reason when `data` is a placeholder, else "" (and remember it)."""
        digest = hashlib.sha256(data).hexdigest()
        if digest in self.known:
            return "a known placeholder image"
        (ww, wh), (gw, gh) = want, got
        if abs(gw / gh - ww / wh) > 0.03 * (ww / wh) or gw < ww // 2:
            return f"a {gw}x{gh} image where {ww}x{wh} was asked (a placeholder)"
        previous = self._seen.get(digest)
        if previous is not None and previous != request_key:
            self.known.add(digest)
            return "the same image came back for a different prompt (a placeholder)"
        self._seen[digest] = request_key
        self._seen.move_to_end(digest)
        while len(self._seen) > _SEEN_LIMIT:
            self._seen.popitem(last=False)
        return ""


class _Pollinations:
    name: ClassVar[str] = "pollinations"
    tier: ClassVar[Tier] = Tier.CLOUD_FREE
    config_class: ClassVar[type] = PollinationsConfig

    def __init__(self, config: PollinationsConfig, deps: ProviderDeps) -> None:
        self.config = config
        self._http = CloudHTTP(self.name, deps.session, config.secrets(), timeout_s=config.timeout_s)

    def secrets(self) -> tuple[str, ...]:
        return self.config.secrets()

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.config.token}"} if self.config.token else {}

    def _flags(self) -> dict[str, str]:
        c = self.config
        return {k: "true" for k, on in (("nologo", c.nologo), ("private", c.private), ("enhance", c.enhance),
                                          ("safe", c.safe)) if on}

    async def probe(self) -> dict[str, Any]:
        reply = await self._http.request("GET", self.config.models(), headers=self._headers())
        models = reply.json()
        return {"models": len(models) if isinstance(models, list) else 0, "anonymous": not self.config.token}


class PollinationsImageMaker(_Pollinations):
    stages: ClassVar[frozenset[Stage]] = frozenset({Stage.IMAGE})

    def __init__(self, config: PollinationsConfig, deps: ProviderDeps) -> None:
        super().__init__(config, deps)
        self.placeholders = PlaceholderDetector(config.placeholder_sha256)

    async def make_image(self, request: ImageRequest, ctx: StageContext) -> ImageResult:
        c = self.config
        width, height = generation_size(request.width, request.height, c.max_side)
        prompt = f"{request.prompt}. {request.style}".strip(". ")[:MAX_PROMPT_CHARS]
        params = {"width": str(width), "height": str(height), "seed": str(gateway_seed(request.seed)),
                  "model": c.image_model, **self._flags()}
        if request.negative:
            params["negative_prompt"] = request.negative
        reply = await self._http.request(
            "GET", f"{c.image_base()}/{quote(prompt, safe='')}", params=params, headers=self._headers(),
            max_bytes=4 * DEFAULT_MAX_JSON_BYTES,
        )
        if not reply.content_type.startswith("image/"):
            raise BadOutput(f"expected an image, got {reply.content_type or 'no content type'}", provider=self.name)
        _fmt, got_w, got_h = await asyncio.to_thread(decode_image, reply.body, self.name)
        reason = self.placeholders.check(reply.body, f"{prompt}\x00{request.seed}", (width, height), (got_w, got_h))
        if reason:
            raise BadOutput(reason, provider=self.name)
        path, w, h = await save_image(reply.body, request.out_dir, f"pollinations_{request.scene_index:03d}", self.name)
        return ImageResult(path, w, h)


class PollinationsScriptWriter(_Pollinations):
    stages: ClassVar[frozenset[Stage]] = frozenset({Stage.SCRIPT})

    async def write_script(self, request: ScriptRequest, ctx: StageContext) -> Script:
        system, user = (" ".join(m["content"].split()) for m in script_messages(request))  # one line: it is a URL path
        params = {"model": self.config.text_model, "json": "true", "system": system}
        reply = await self._http.request(
            "GET", f"{self.config.text_base()}/{quote(user, safe='')}", params=params, headers=self._headers(),
        )
        try:
            return parse_script(reply.body.decode("utf-8", "replace"), request)
        except BadOutput as exc:
            exc.provider = self.name
            raise
