"""StreamElements, a free cloud voice (an undocumented API; Polly-style voice names).

`GET {url}?voice=Brian&text=…` answers MP3 (sometimes OGG), which is converted to 16-bit mono WAV
by ffmpeg in a subprocess. Since late 2025 the endpoint may want a key and answers 401 ("No API key
was found") or 402 (uncached texts): auth failed / payment required, a long cooldown, and the
cascade moves on. Configured when `STREAMELEMENTS_TOKEN` is set, or with `anonymous = true`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from providers.language import base as base_language
from providers.audio import save_as_pcm_wav
from providers.base import ProviderDeps, Stage, StageContext, Tier, VoiceCatalog, VoiceRequest, VoiceResult
from providers.config import ProviderConfig
from providers.errors import BadOutput
from providers.http import CloudHTTP

__all__ = ["StreamElementsConfig", "StreamElementsVoice"]

MAX_TEXT_CHARS = 500
MAX_AUDIO_BYTES = 20 * 1024 * 1024
_AUDIO_TYPES = ("audio/", "application/octet-stream", "video/ogg")


@dataclass(frozen=True)
class StreamElementsConfig(ProviderConfig):
    secret_env: ClassVar[Mapping[str, str]] = {"token": "STREAMELEMENTS_TOKEN"}

    token: str = ""  # from STREAMELEMENTS_TOKEN only (sent as Authorization: Bearer)
    anonymous: bool = False  # try without a key (worked until late 2025; now usually 401)
    url: str = "https://api.streamelements.com/kappa/v2/speech"
    voice: str = "Brian"  # default voice when the job names none (or one not in `voices`)
    languages: tuple[str, ...] = ("en",)  # what the configured voices speak; other jobs skip this provider
    voices: tuple[str, ...] = ("Brian", "Amy", "Emma", "Joanna", "Matthew", "Justin", "Joey", "Kimberly",
                               "Salli", "Ivy", "Kendra", "Russell", "Nicole", "Raveena", "Geraint")
    timeout_s: float = 45.0

    def configured(self) -> bool:
        return bool(self.token) or self.anonymous


class StreamElementsVoice:
    name: ClassVar[str] = "streamelements"
    tier: ClassVar[Tier] = Tier.CLOUD_FREE
    stages: ClassVar[frozenset[Stage]] = frozenset({Stage.VOICE})
    config_class: ClassVar[type] = StreamElementsConfig

    def __init__(self, config: StreamElementsConfig, deps: ProviderDeps) -> None:
        self.config = config
        self._http = CloudHTTP(self.name, deps.session, config.secrets(), timeout_s=config.timeout_s)

    def secrets(self) -> tuple[str, ...]:
        return self.config.secrets()

    def _voice(self, wanted: str) -> str:
        by_lower = {v.lower(): v for v in self.config.voices}
        return by_lower.get(wanted.lower(), self.config.voice)

    async def speaks(self, language: str) -> bool:
        """Its Polly voices are each one language's; the configured set is English ones."""
        return base_language(language) in {base_language(x) for x in self.config.languages}

    async def voices(self) -> VoiceCatalog:
        """The configured `voices` (Polly names; the service has no list to ask) and the default."""
        return VoiceCatalog.of((self.config.voice, *self.config.voices))

    async def _fetch(self, text: str, voice: str) -> bytes:
        headers = {"Authorization": f"Bearer {self.config.token}"} if self.config.token else {}
        reply = await self._http.request("GET", self.config.url, params={"voice": voice, "text": text},
                                         headers=headers, max_bytes=MAX_AUDIO_BYTES)
        if not reply.content_type.startswith(_AUDIO_TYPES):
            raise BadOutput(f"expected audio, got {reply.content_type or 'no content type'}", provider=self.name)
        return reply.body

    async def probe(self) -> dict[str, Any]:
        """No model list exists. With a key, a one-word synthesis proves the key. Without one the
        answer proves nothing: the service still serves short, cached phrases ("Hi") keylessly while
        real narration gets 401/402, so the state is unknown, never "up"."""
        if not self.config.token:
            return {"voice": self.config.voice,
                    "unknown": "not checked: without STREAMELEMENTS_TOKEN only cached phrases are served, "
                               "and real narration usually gets 401/402",
                    "hint": "set STREAMELEMENTS_TOKEN, or anonymous = false to stop trying"}
        data = await self._fetch("Hi", self.config.voice)
        return {"voice": self.config.voice, "bytes": len(data)}

    async def speak(self, request: VoiceRequest, ctx: StageContext) -> VoiceResult:
        data = await self._fetch(request.text[:MAX_TEXT_CHARS], self._voice(request.voice))
        path = request.out_dir / f"streamelements_{request.scene_index:03d}.wav"
        duration = await save_as_pcm_wav(data, path, provider=self.name)
        return VoiceResult(path, duration, None)
