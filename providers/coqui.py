"""Coqui TTS `tts-server`: the self-hosted voice (`/api/tts`).

Wire facts (DOSSIER §3): `/api/tts` reads `text`, `speaker_id`, `language_id`, `style_wav` from
headers or from the query string / **form body** — a JSON body is not read. It answers `audio/wav`.
Errors differ by server: the maintained fork (`coqui-tts`) answers 400/500 with `{"error": ...}`;
the archived coqui-ai/TTS 0.22 answers an HTML 500 page for everything. There are no word timings,
so `words` is None and subtitles fall back to proportional timing.

The WAV is rewritten as 16-bit PCM mono (the pipeline's validator and renderer expect that),
whatever sample format the server produced (float32, 24/32-bit, stereo).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, ClassVar

import aiohttp

from providers.audio import to_pcm16_mono, write_pcm16_wav
from providers.base import ProviderDeps, Stage, StageContext, Tier, VoiceCatalog, VoiceRequest, VoiceResult
from providers.config import ProviderConfig
from providers.language import base as base_language
from providers.errors import BadOutput, Misconfigured, ProviderError, Unavailable
from providers.http import (
    DEFAULT_MAX_AUDIO_BYTES,
    SELF_HOSTED,
    base_url,
    classify_status,
    error_message,
    read_bounded,
    transport_errors,
)

__all__ = ["CoquiConfig", "CoquiVoice"]

MAX_AUDIO_BYTES = DEFAULT_MAX_AUDIO_BYTES  # one scene of narration; checked while reading


@dataclass(frozen=True)
class CoquiConfig(ProviderConfig):
    """`[providers.coqui]`. Enabled when `url` is set (or COQUI_SERVER)."""

    env: ClassVar[dict[str, str]] = {"url": "COQUI_SERVER"}

    url: str = ""  # e.g. "http://gpu-box:5002"; "" = not used
    speaker: str = ""  # speaker_id for multi-speaker models (e.g. XTTS "Ana Florence"); "" = server default
    voices: tuple[str, ...] = ()  # speaker ids a job may pick with its voice option; others use `speaker`
    language: str = ""  # language_id for multilingual models; "job" = the video's language; "" = not sent
    # the languages the model speaks (XTTS: "en", "fr", "ja"...); () = the `language` above, or English;
    # with language = "job" and () every language is assumed
    languages: tuple[str, ...] = ()
    speakers: tuple[str, ...] = ()  # per-language speakers, "ja=Some Speaker": used unless the job picks one
    style_wav: str = ""  # a server-side .wav path or a JSON dict of GST weights; "" = not sent
    timeout_s: float = 120.0  # one synthesis; CPU synthesis of a long line takes a while
    connect_timeout_s: float = 5.0
    probe_timeout_s: float = 2.0

    def configured(self) -> bool:
        return bool(self.url.strip())


class CoquiVoice:
    """Speaks one scene's narration through a Coqui `tts-server`."""

    name: ClassVar[str] = "coqui"
    tier: ClassVar[Tier] = Tier.SELF_HOSTED
    stages: ClassVar[frozenset[Stage]] = frozenset({Stage.VOICE})
    config_class: ClassVar[type] = CoquiConfig
    gpu_heavy: ClassVar[bool] = False  # small next to diffusion; runs alongside the voice concurrency

    def __init__(self, config: CoquiConfig, deps: ProviderDeps) -> None:
        self.config = config
        self.deps = deps
        self.url = base_url(config.url)

    def secrets(self) -> tuple[str, ...]:
        return self.config.secrets()

    @property
    def _session(self) -> aiohttp.ClientSession:
        if self.deps.session is None:
            raise Unavailable("no HTTP session", provider=self.name)
        return self.deps.session

    async def voices(self) -> VoiceCatalog:
        """The speaker ids listed in `voices` and the default `speaker`: the operator's list is what a
        job may pick (the tts-server lists no speaker ids; its MaryTTS `/voices` names the model)."""
        return VoiceCatalog.of((self.config.speaker, *self.config.voices))

    async def speaks(self, language: str) -> bool:
        """Whether the model speaks `language` (the pipeline skips it for a job it cannot)."""
        c = self.config
        if c.languages:
            return base_language(language) in {base_language(x) for x in c.languages}
        if c.language == "job":
            return True
        return base_language(language) == base_language(c.language or "en")

    def _speaker_for(self, language: str) -> str:
        pairs = dict(p.partition("=")[::2] for p in self.config.speakers)
        by_language = {base_language(k.strip()): v.strip() for k, v in pairs.items() if v.strip()}
        return by_language.get(base_language(language), self.config.speaker)

    def _form(self, request: VoiceRequest) -> dict[str, str]:
        c = self.config
        form = {"text": request.text}
        by_lower = {v.strip().lower(): v for v in c.voices if v.strip()}
        default = self._speaker_for(request.language)
        speaker = by_lower.get(request.voice.strip().lower(), default) if request.voice else default
        if speaker:
            form["speaker_id"] = speaker
        language = request.language if c.language == "job" else c.language
        if language:
            form["language_id"] = language
        if c.style_wav:
            form["style_wav"] = c.style_wav
        return form

    async def speak(self, request: VoiceRequest, ctx: StageContext) -> VoiceResult:
        timeout = aiohttp.ClientTimeout(total=self.config.timeout_s, sock_connect=self.config.connect_timeout_s)
        # Form-encoded POST: the server reads query or form values, never JSON; a form body has no
        # URL-length limit for long narration.
        with transport_errors(self.name, "Coqui /api/tts", secrets=self.secrets()):
            async with self._session.post(f"{self.url}/api/tts", data=self._form(request), timeout=timeout) as resp:
                raw = await read_bounded(resp, MAX_AUDIO_BYTES, self.name, "Coqui's audio")
                status, headers = resp.status, resp.headers
        if status != 200:
            raise self._error(status, raw, headers)
        try:
            pcm, rate = await asyncio.to_thread(to_pcm16_mono, raw)
        except ValueError as exc:
            raise BadOutput(f"Coqui's answer is not usable WAV audio: {exc}", provider=self.name) from None
        path = request.out_dir / f"coqui_{request.scene_index:02d}.wav"
        duration_s = await asyncio.to_thread(write_pcm16_wav, path, pcm, rate)
        return VoiceResult(path=path, duration_s=round(duration_s, 3), words=None)

    def _error(self, status: int, raw: bytes, headers: Any) -> ProviderError:
        message = error_message(raw, secrets=self.secrets())[0]
        is_json = raw.lstrip().startswith(b"{")
        if status == 400 and is_json:  # fork: "Text parameter is required"
            return BadOutput(f"Coqui refused the text: {message}", provider=self.name, status=status)
        if status == 500 and is_json:  # fork: "TTS synthesis failed: ..."
            if "speaker" in message.lower():
                return Misconfigured(message, provider=self.name, status=status,
                                     hint="the model is multi-speaker: set providers.coqui.speaker")
            if "language" in message.lower():
                return Misconfigured(message, provider=self.name, status=status,
                                     hint="the model is multilingual: set providers.coqui.language")
            return BadOutput(message, provider=self.name, status=status)
        if status == 500:  # the archived server's HTML page says nothing; its log has the reason
            return Unavailable(f"HTTP 500 from Coqui ({message or 'Internal Server Error'}); "
                               "see the tts-server log", provider=self.name, status=status)
        return classify_status(self.name, status, headers, raw, edge=SELF_HOSTED, secrets=self.secrets())

    async def probe(self) -> dict[str, Any]:
        """GET / (the demo page) and /details where the server has it."""
        timeout = aiohttp.ClientTimeout(total=self.config.probe_timeout_s)
        with transport_errors(self.name, "Coqui /", secrets=self.secrets()):
            async with self._session.get(f"{self.url}/", timeout=timeout) as resp:
                await read_bounded(resp, 1_000_000, self.name, "/")
                if resp.status != 200:
                    raise classify_status(self.name, resp.status, resp.headers, b"", edge=SELF_HOSTED,
                                          secrets=self.secrets(), message=f"GET / answered {resp.status}")
        info: dict[str, Any] = {"speaker": self.config.speaker or "(default)"}
        try:
            with transport_errors(self.name, "Coqui /details", secrets=self.secrets()):
                async with self._session.get(f"{self.url}/details", timeout=timeout) as resp:
                    await read_bounded(resp, 1_000_000, self.name, "/details")
                    info["details"] = "available" if resp.status == 200 else f"HTTP {resp.status}"
        except ProviderError as exc:
            info["details"] = exc.message
        return info
