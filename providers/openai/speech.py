"""OpenAI voice: `POST /audio/speech` asking for WAV, stored as 16-bit mono PCM WAV.

The job's voice is used when OpenAI has it; any other name (an eSpeak or Polly voice meant for
another tier) falls back to the configured default rather than failing the scene.
"""

from __future__ import annotations

from typing import ClassVar

from providers.audio import save_as_pcm_wav
from providers.base import Stage, StageContext, VoiceCatalog, VoiceRequest, VoiceResult
from providers.http import DEFAULT_MAX_AUDIO_BYTES
from providers.language import MULTILINGUAL_TTS, base
from providers.openai.client import OPENAI_VOICES, OpenAIProvider

__all__ = ["OpenAIVoice"]

MAX_INPUT_CHARS = 4096
MAX_AUDIO_BYTES = DEFAULT_MAX_AUDIO_BYTES


class OpenAIVoice(OpenAIProvider):
    stages: ClassVar[frozenset[Stage]] = frozenset({Stage.VOICE})
    model_settings: ClassVar[tuple[str, ...]] = ("voice_model",)  # status shows its 2027-01-06 shutdown

    async def voices(self) -> VoiceCatalog:
        """OpenAI's documented fixed list (OPENAI_VOICES); the default first."""
        shown = dict.fromkeys(v for v in (self.config.voice.lower(), "alloy", "nova") if v in OPENAI_VOICES)
        return VoiceCatalog.of(OPENAI_VOICES, examples=tuple(shown))

    async def speaks(self, language: str) -> bool:
        return base(language) in MULTILINGUAL_TTS  # its voices speak every language of this list

    async def speak(self, request: VoiceRequest, ctx: StageContext) -> VoiceResult:
        c = self.config
        voice = request.voice.lower() if request.voice.lower() in OPENAI_VOICES else c.voice
        body: dict[str, object] = {"model": c.voice_model, "input": request.text[:MAX_INPUT_CHARS],
                                   "voice": voice, "response_format": "wav"}
        if c.voice_instructions and not c.voice_model.startswith("tts-1"):
            body["instructions"] = c.voice_instructions
        reply = await self._http.request(
            "POST", self._url("audio/speech"), headers=self._headers(Accept="application/octet-stream"),
            json_body=body, max_bytes=MAX_AUDIO_BYTES, model=c.voice_model,
        )
        path = request.out_dir / f"openai_{request.scene_index:03d}.wav"
        duration = await save_as_pcm_wav(reply.body, path, provider=self.name)
        return VoiceResult(path, duration, None)
