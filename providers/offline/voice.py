"""The offline narrator: eSpeak NG (see `espeak`) to a 16-bit mono WAV with word timings.

The voice is the request's, else the configured one, when it speaks the job's language; otherwise
eSpeak's voice for that language (the wheel has over a hundred), keeping a "+variant" the request
asked for ("en-us+f3" for a Japanese job speaks "ja+f3"). A name eSpeak does not list (a cloud
provider's voice, a typo) falls back to the configured voice and then to plain "en", with a
warning, because the offline provider must always produce narration. Words in a script the
language's voice cannot read (a Hebrew topic inside an English storyboard) are spoken by that
script's voice, and the pieces joined. `speaks(language)` says
whether eSpeak has a voice for a language (the pipeline skips a provider that has not). The names it offers
(`voices()`) are eSpeak's own: every language it lists ("en-us", "fr"), identifier ("gmw/en-US")
or voice name, optionally with "+" and one of its variants ("en-us+f3").

eSpeak runs in a child process (`worker.NativeWorker`) that this provider owns: started on first
use, reused for every call, closed by `aclose()`. A crash in native code costs one scene (a
`BadOutput` the cascade records before it moves on) and the next call starts a fresh child; a call
that hangs is killed after `synth_timeout_s` (`Unavailable`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, ClassVar

from providers.audio import write_pcm16_wav
from providers.base import (
    ProviderDeps,
    Stage,
    StageContext,
    VoiceCatalog,
    VoiceRequest,
    VoiceResult,
    WordTiming,
)
from providers.errors import BadOutput, Unavailable
from providers.offline import espeak
from providers.language import letter_scripts, script_of
from providers.offline.base import OfflineBase
from providers.offline.config import OfflineConfig
from providers.offline.espeak import SpeechParams, Synthesis, VoiceLists
from providers.offline.worker import NativeWorker, WorkerCrashed, WorkerError

__all__ = ["OfflineVoice"]

log = logging.getLogger(__name__)

LAST_RESORT_VOICE = "en"
ESPEAK_CODES = {"zh": ("cmn", "zh"), "no": ("nb", "no")}  # languages eSpeak files under another code
# eSpeak's Japanese voice speaks ~6.5 morae a second at the configured rate, slow beside its English;
# natural Japanese runs 7-8.
RATE_FACTOR = {"ja": 1.15}
# The voice that reads words of a script inside narration in another language ("חייו של כוכב" in an
# English storyboard): eSpeak's English voice would spell them out letter by letter, a minute long.
SCRIPT_VOICES = {
    "HEBREW": "he", "ARABIC": "ar", "CYRILLIC": "ru", "GREEK": "el", "HANGUL": "ko", "HIRAGANA": "ja",
    "KATAKANA": "ja", "CJK": "cmn", "DEVANAGARI": "hi", "THAI": "th", "GEORGIAN": "ka", "ARMENIAN": "hy",
    "BENGALI": "bn", "TAMIL": "ta", "TELUGU": "te", "KANNADA": "kn", "MALAYALAM": "ml", "GUJARATI": "gu",
    "GURMUKHI": "pa", "ETHIOPIC": "am", "KHMER": "km", "LAO": "lo", "MYANMAR": "my", "SINHALA": "si",
}
EXAMPLE_VOICES = ("en-us", "en-gb", "en-us+f3", "fr-fr", "de", "es")  # shown when a name is refused


class OfflineVoice(OfflineBase):
    """Narrates with the bundled eSpeak NG, in a child process. Always available, never calls out."""

    stages: ClassVar[frozenset[Stage]] = frozenset({Stage.VOICE})
    # what runs in the child for one scene; a module-level function (it is sent by name)
    synthesize_in_child = staticmethod(espeak.synthesize_in_child)

    def __init__(self, config: OfflineConfig, deps: ProviderDeps) -> None:
        super().__init__(config, deps)
        self._worker = NativeWorker("espeak")
        self._catalog: VoiceCatalog | None = None

    async def _in_child(self, fn: Any, *args: Any) -> Any:
        """Run `fn(*args)` in the child, off the event loop. WorkerError subclasses pass through."""
        return await asyncio.to_thread(self._worker.call, fn, *args, timeout_s=self.config.synth_timeout_s)

    async def probe(self) -> dict[str, Any]:
        try:
            version, rate = await self._in_child(espeak.engine_info_in_child)
        except WorkerError as exc:
            raise Unavailable(f"eSpeak NG does not start: {exc}", provider=self.name) from None
        return {"version": version, "sample_rate": rate, "voice": self.config.voice}

    async def voices(self) -> VoiceCatalog:
        """eSpeak's own voices and variants, as the library lists them (asked once, in the child)."""
        if self._catalog is None:
            try:
                lists: VoiceLists = await self._in_child(espeak.voice_lists_in_child)
            except WorkerError as exc:
                raise Unavailable(f"cannot list the eSpeak voices: {exc}", provider=self.name) from None
            preferred = (self.config.voice, *EXAMPLE_VOICES)
            catalog = VoiceCatalog(lists.voices, (), lists.variants)
            examples = tuple(dict.fromkeys(v for v in preferred if v and catalog.offers(v)))
            self._catalog = VoiceCatalog(lists.voices, examples, lists.variants)
        return self._catalog

    def _voices(self, requested: str, language: str = "en") -> tuple[str, ...]:
        """The voices to try, best first: the requested or configured voice when it speaks
        `language`, else the language's own voice (with the requested variant)."""
        chosen = [v.strip() for v in (requested, self.config.voice) if v.strip()]
        lang = _language_codes(language)
        if lang[0] != "en":
            variant = next((v.partition("+")[2] for v in chosen if "+" in v), "")
            own = [f"{code}+{variant}" if variant else code for code in lang] + list(lang)
            chosen = [v for v in chosen if _voice_language(v) in lang] + own
        chain = (*chosen, LAST_RESORT_VOICE)
        return tuple(dict.fromkeys(v for v in chain if v))  # ordered, without repeats

    async def speaks(self, language: str) -> bool:
        """True when eSpeak has a voice for `language` (or one of its codes)."""
        catalog = await self.voices()
        return any(catalog.offers(code) for code in _language_codes(language))

    async def speak(self, request: VoiceRequest, ctx: StageContext) -> VoiceResult:
        path = request.out_dir / f"voice_{request.scene_index:02d}.wav"
        try:
            result = await self._synthesize(request)
        except WorkerCrashed as exc:
            # one scene lost, not the agent: the cascade records it and moves on; a fresh child
            # serves the next call
            log.error("job %s: the eSpeak child process crashed on scene %d (%s); the scene falls back",
                      ctx.job_id, request.scene_index + 1, exc)
            raise BadOutput(f"eSpeak crashed on this narration ({exc})", provider=self.name) from None
        except WorkerError as exc:  # it hung (and was killed), or the provider is closed
            raise Unavailable(str(exc), provider=self.name) from None
        await asyncio.to_thread(write_pcm16_wav, path, result.pcm, result.sample_rate)
        wanted = self._voices(request.voice, request.language)[0]
        if result.voice != wanted:
            log.warning("job %s: offline voice %r unavailable, spoke with %r",
                        ctx.job_id, wanted[:64], result.voice)
        ctx.report(1.0, f"spoken offline ({result.voice})")
        spoke = request.language if _voice_language(result.voice) in _language_codes(request.language) \
            else _voice_language(result.voice)
        return VoiceResult(
            path=path,
            duration_s=result.duration_s,
            words=tuple(WordTiming(w, start, end) for w, start, end in result.words),
            language=spoke,
        )

    async def _synthesize(self, request: VoiceRequest) -> Synthesis:
        """The narration, each run of words in a script the language's voice cannot read spoken by
        that script's voice, the pieces joined (timings shifted)."""
        c = self.config
        pieces: list[Synthesis] = []
        for text, language in _segments(request.text, request.language):
            rate = round(c.words_per_minute * RATE_FACTOR.get(_language_codes(language)[-1], 1.0))
            params = SpeechParams(rate, c.pitch, c.pitch_range, c.volume)
            pieces.append(await self._in_child(
                self.synthesize_in_child, text, self._voices(request.voice, language), params))
        if len(pieces) == 1:
            return pieces[0]
        words, offset = [], 0.0
        for piece in pieces:
            words += [(w, round(start + offset, 4), round(end + offset, 4)) for w, start, end in piece.words]
            offset += piece.duration_s
        main = next((p for p, (_, lang) in zip(pieces, _segments(request.text, request.language), strict=True)
                     if lang == request.language), pieces[0])
        return Synthesis(b"".join(p.pcm for p in pieces), pieces[0].sample_rate, tuple(words), main.voice)

    async def aclose(self) -> None:
        """Stop the child process (the runtime calls this at shutdown)."""
        await asyncio.to_thread(self._worker.close)


def _language_codes(language: str) -> tuple[str, ...]:
    """eSpeak's names for a language, most specific first: "pt-BR" -> ("pt-br", "pt")."""
    tag = (language or "en").strip().lower().replace("_", "-")
    primary = tag.split("-")[0]
    return tuple(dict.fromkeys((tag, *ESPEAK_CODES.get(primary, (primary,)))))


def _voice_language(voice: str) -> str:
    """The language a voice spec names: "en-us+f3" -> "en", "gmw/en-US" -> "en"."""
    return voice.strip().lower().partition("+")[0].rpartition("/")[2].split("-")[0]



def _segments(text: str, language: str) -> list[tuple[str, str]]:
    """`text` in runs of (words, language): words whose letters are all in a script `language` is
    not written in, and that one eSpeak voice reads, go to that voice; the rest to `language`'s."""
    own = script_of(language)
    runs: list[tuple[str, str]] = []
    for token in text.split() or [text]:
        scripts = letter_scripts(token)
        speaker = language
        if scripts and not scripts & own:
            voices = {SCRIPT_VOICES.get(s) for s in scripts}
            if len(voices) == 1 and None not in voices:
                speaker = str(voices.pop())
        if runs and runs[-1][1] == speaker:
            runs[-1] = (f"{runs[-1][0]} {token}", speaker)
        else:
            runs.append((token, speaker))
    return runs
