"""The offline narrator: eSpeak NG (see `espeak`) to a 16-bit mono WAV with word timings.

The voice is the request's, else the configured one; a name eSpeak does not know (a cloud
provider's voice, a typo) falls back to the configured voice and then to plain "en", with a
warning, because the offline provider must always produce narration.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any, ClassVar

from providers.audio import write_pcm16_wav
from providers.base import (
    Stage,
    StageContext,
    VoiceRequest,
    VoiceResult,
    WordTiming,
)
from providers.offline.base import OfflineBase
from providers.offline.espeak import Synthesis, get_espeak

__all__ = ["OfflineVoice"]

log = logging.getLogger(__name__)

LAST_RESORT_VOICE = "en"


class OfflineVoice(OfflineBase):
    """Narrates with the bundled eSpeak NG. Always available, never calls out."""

    stages: ClassVar[frozenset[Stage]] = frozenset({Stage.VOICE})

    async def probe(self) -> dict[str, Any]:
        engine = await asyncio.to_thread(get_espeak)
        return {"version": engine.version, "sample_rate": engine.sample_rate,
                "voice": self.config.voice}

    def _voices(self, requested: str) -> tuple[str, ...]:
        chain = (requested.strip(), self.config.voice.strip(), LAST_RESORT_VOICE)
        return tuple(dict.fromkeys(v for v in chain if v))  # ordered, without repeats

    def _synthesize(self, request: VoiceRequest, path: Path) -> Synthesis:
        result = get_espeak().synthesize(
            request.text,
            self._voices(request.voice),
            rate_wpm=self.config.words_per_minute,
            pitch=self.config.pitch,
            pitch_range=self.config.pitch_range,
            volume=self.config.volume,
        )
        write_pcm16_wav(path, result.pcm, result.sample_rate)
        return result

    async def speak(self, request: VoiceRequest, ctx: StageContext) -> VoiceResult:
        path = request.out_dir / f"voice_{request.scene_index:02d}.wav"
        result = await asyncio.to_thread(self._synthesize, request, path)
        wanted = request.voice or self.config.voice
        if result.voice != wanted:
            log.warning("job %s: offline voice %r unavailable, spoke with %r",
                        ctx.job_id, wanted, result.voice)
        ctx.report(1.0, f"spoken offline ({result.voice})")
        return VoiceResult(
            path=path,
            duration_s=result.duration_s,
            words=tuple(WordTiming(w, start, end) for w, start, end in result.words),
        )
