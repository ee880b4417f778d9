"""ElevenLabs, a premium cloud voice with word timings (after Coqui in the voice cascade).

Wire facts (elevenlabs/elevenlabs-python, checked 2026-11-30; see providers/README.md):

* `xi-api-key: $ELEVENLABS_API_KEY`, base `https://api.elevenlabs.io`.
* `POST /v1/text-to-speech/{voice_id}/with-timestamps?output_format=mp3_44100_128` with
  `{text, model_id, language_code?, seed?}` answers JSON: `audio_base64`, and `alignment`
  `{characters, character_start_times_seconds, character_end_times_seconds}` for the text as sent.
  The character timings become word timings (`words_from_alignment`), which drive word-timed
  subtitles as eSpeak's do.
* Errors carry `{"detail": {"status", "message"}}`: 401 `quota_exceeded` is credits exhausted
  (payment required, whatever the status), 429 `too_many_concurrent_requests` a rate limit.
* `language_code` is refused by models that cannot enforce a language, so it is sent only when
  `send_language` is on (the flash/turbo models).
* `GET /v1/models` (the probe): proves the key and lists the model ids.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from providers.audio import save_as_pcm_wav
from providers.base import (
    ProviderDeps,
    Stage,
    StageContext,
    Tier,
    VoiceCatalog,
    VoiceRequest,
    VoiceResult,
    WordTiming,
)
from providers.config import ProviderConfig
from providers.errors import BadOutput
from providers.http import DEFAULT_MAX_AUDIO_BYTES, CloudHTTP
from providers.language import base
from providers.lifecycle import retired_models

__all__ = ["ElevenLabsConfig", "ElevenLabsVoice", "words_from_alignment"]

MAX_TEXT_CHARS = 5000


# the languages of eleven_multilingual_v2, and what the v2.5 (flash, turbo) models add
_MULTILINGUAL_V2 = frozenset(
    "en ja zh de hi fr ko pt it es id nl tr fil pl sv bg ro ar cs el fi hr ms sk da ta uk ru".split())
_V2_5_MORE = frozenset({"hu", "no", "vi"})


@dataclass(frozen=True)
class ElevenLabsConfig(ProviderConfig):
    secret_env: ClassVar[Mapping[str, str]] = {"api_key": "ELEVENLABS_API_KEY"}

    api_key: str = ""  # from ELEVENLABS_API_KEY only
    base_url: str = "https://api.elevenlabs.io"
    model: str = "eleven_multilingual_v2"
    voice_id: str = "JBFqnCBsd6RMkjVDRZzb"  # the default voice ("George")
    voices: tuple[str, ...] = ()  # names a job may pick, as "Name=voice_id"
    output_format: str = "mp3_44100_128"  # converted to 16-bit mono WAV
    send_language: bool = False  # send the job's language_code (only models that enforce one take it)
    timeout_s: float = 90.0

    def configured(self) -> bool:
        return bool(self.api_key)


def words_from_alignment(characters: Sequence[str], starts: Sequence[float],
                         ends: Sequence[float]) -> tuple[WordTiming, ...]:
    """Word timings from character timings: a word is a run of non-space characters, from its first
    character's start to its last one's end."""
    words: list[WordTiming] = []
    current: list[str] = []
    start = end = 0.0
    for char, s, e in zip(characters, starts, ends, strict=False):
        if char.isspace():
            if current:
                words.append(WordTiming("".join(current), start, end))
                current = []
            continue
        if not current:
            start = float(s)
        current.append(char)
        end = max(float(e), start)
    if current:
        words.append(WordTiming("".join(current), start, end))
    return tuple(words)


class ElevenLabsVoice:
    name: ClassVar[str] = "elevenlabs"
    tier: ClassVar[Tier] = Tier.CLOUD_PREMIUM
    stages: ClassVar[frozenset[Stage]] = frozenset({Stage.VOICE})
    config_class: ClassVar[type] = ElevenLabsConfig

    def __init__(self, config: ElevenLabsConfig, deps: ProviderDeps) -> None:
        self.config = config
        self._http = CloudHTTP(self.name, deps.session, config.secrets(), timeout_s=config.timeout_s,
                               retired=retired_models(deps.data_dir))
        self._by_name = {}
        for entry in config.voices:
            label, _, voice_id = entry.partition("=")
            if label.strip() and voice_id.strip():
                self._by_name[label.strip().lower()] = voice_id.strip()

    def secrets(self) -> tuple[str, ...]:
        return self.config.secrets()

    def _headers(self) -> dict[str, str]:
        return {"xi-api-key": self.config.api_key}

    def _url(self, path: str) -> str:
        return f"{self.config.base_url.rstrip('/')}/{path.lstrip('/')}"

    async def voices(self) -> VoiceCatalog:
        """The configured `voices` names (ElevenLabs' own ids are account-specific)."""
        return VoiceCatalog.of(label.partition("=")[0] for label in self.config.voices)

    async def probe(self) -> dict[str, Any]:
        models = (await self._http.request("GET", self._url("/v1/models"), headers=self._headers())).json()
        ids = [m.get("model_id") for m in models if isinstance(m, dict)] if isinstance(models, list) else []
        info: dict[str, Any] = {"models": len(ids), "model": self.config.model}
        retired = await self._http.retired.retired(self.name) if self._http.retired is not None else {}
        if self.config.model in retired:
            info["problem"] = f"{self.config.model} is retired (the service said: {retired[self.config.model]})"
            info["hint"] = "set [providers.elevenlabs] model to a current model (eleven_multilingual_v2, ...)"
        elif ids and self.config.model not in ids:
            info["problem"] = f"ElevenLabs does not list the model {self.config.model!r}"
            info["hint"] = "set [providers.elevenlabs] model to one GET /v1/models lists"
        return info

    def speech_body(self, request: VoiceRequest) -> dict[str, Any]:
        body: dict[str, Any] = {"text": request.text[:MAX_TEXT_CHARS], "model_id": self.config.model}
        if self.config.send_language and request.language:
            body["language_code"] = request.language
        return body

    async def speaks(self, language: str) -> bool:
        """Whether the configured model speaks `language` (ElevenLabs' model pages): v3 about 70
        languages, the v2.5 models 32, multilingual v2 29, the others English only."""
        model, lang = self.config.model, base(language)
        if model.startswith("eleven_v3"):
            return True
        if "v2_5" in model:
            return lang in _MULTILINGUAL_V2 | _V2_5_MORE
        if "multilingual" in model:
            return lang in _MULTILINGUAL_V2
        return lang == "en"

    async def speak(self, request: VoiceRequest, ctx: StageContext) -> VoiceResult:
        voice_id = self._by_name.get(request.voice.strip().lower(), self.config.voice_id)
        reply = await self._http.request(
            "POST", self._url(f"/v1/text-to-speech/{voice_id}/with-timestamps"),
            params={"output_format": self.config.output_format}, headers=self._headers(),
            json_body=self.speech_body(request), max_bytes=2 * DEFAULT_MAX_AUDIO_BYTES, model=self.config.model,
        )
        answer = reply.json()
        if not isinstance(answer, dict) or not answer.get("audio_base64"):
            raise BadOutput("the answer has no audio", provider=self.name)
        try:
            audio = base64.b64decode(answer["audio_base64"], validate=True)
        except (binascii.Error, ValueError):
            raise BadOutput("the audio is not valid base64", provider=self.name) from None
        path = request.out_dir / f"elevenlabs_{request.scene_index:03d}.wav"
        duration = await save_as_pcm_wav(audio, path, provider=self.name)
        alignment = answer.get("alignment") or answer.get("normalized_alignment")
        words = None
        if isinstance(alignment, dict):
            words = words_from_alignment(alignment.get("characters") or [],
                                         alignment.get("character_start_times_seconds") or [],
                                         alignment.get("character_end_times_seconds") or []) or None
        return VoiceResult(path, duration, words)
