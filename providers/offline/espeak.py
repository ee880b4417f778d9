"""A ctypes binding to libespeak-ng from the `espeakng-loader` wheel: text to int16 samples and
word timings.

libespeak-ng keeps global state (one voice, one callback, one set of parameters), so this module
owns a single process-wide `Espeak` behind one lock: initialised lazily on first use, never
torn down (the library is built to live as long as the process), and used by one synthesis at
a time. The ctypes callback object is kept on the instance so it is never garbage-collected while
the library holds its address.

Native code is not trusted with our input: `espeak_SetVoiceByName` crashes the process on some
names ("!v/m1", 64 "+", "en+" and 37 more characters). So a requested name never reaches it: the
`VoiceAllowList` (`voice_names`) maps it to an identifier the library listed itself, or refuses it.
Even so, the whole module runs in a child process (`providers.offline.worker`): the `*_in_child`
functions at the bottom are what the parent sends it, so a crash costs one call, not the agent.

Structures follow espeak-ng's `speak_lib.h` (API revision 12).
"""

from __future__ import annotations

import ctypes
import logging
import re
import string
import threading
from dataclasses import dataclass

import espeakng_loader

from providers.errors import BadOutput, Misconfigured
from providers.offline.voice_names import MAX_VOICE_CHARS, VoiceAllowList, VoiceInfo, VoiceLists

__all__ = [
    "Espeak", "Synthesis", "VoiceInfo", "VoiceLists", "SpeechParams", "get_espeak", "list_voices",
    "synthesize_in_child", "voice_lists_in_child", "engine_info_in_child", "MAX_VOICE_CHARS",
]

log = logging.getLogger(__name__)

# speak_lib.h constants
AUDIO_OUTPUT_SYNCHRONOUS = 2
INITIALIZE_DONT_EXIT = 0x8000
CHARS_UTF8 = 1
POS_CHARACTER = 1
EE_OK = 0
EVENT_LIST_TERMINATED, EVENT_WORD, EVENT_SENTENCE, EVENT_END, EVENT_MSG_TERMINATED = 0, 1, 2, 5, 6
RATE, VOLUME, PITCH, RANGE = 1, 2, 3, 4
BUFFER_MS = 200  # audio handed to the callback per call
_TOKEN = re.compile(r"\S+")
_PUNCT = string.punctuation + "“”‘’«»…—–·"


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    """espeak_EVENT."""

    _fields_ = [
        ("type", ctypes.c_int),  # espeak_EVENT_TYPE
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),  # 1-based, in characters of the text given
        ("length", ctypes.c_int),  # word length in characters (WORD events)
        ("audio_position", ctypes.c_int),  # milliseconds into the output
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


class _Voice(ctypes.Structure):
    """espeak_VOICE."""

    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),  # (priority byte, language, NUL) entries, ending with a 0 byte
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


@dataclass(frozen=True)
class SpeechParams:
    rate_wpm: int
    pitch: int
    pitch_range: int
    volume: int


@dataclass(frozen=True)
class Synthesis:
    pcm: bytes  # 16-bit signed little-endian mono
    sample_rate: int
    words: tuple[tuple[str, float, float], ...]  # (word, start_s, end_s)
    voice: str  # the voice actually used (after any fallback)

    @property
    def duration_s(self) -> float:
        return len(self.pcm) / 2 / self.sample_rate


class _Capture:
    """What one synthesis collects from the callback."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.events: list[tuple[int, int, int, int]] = []  # (type, text_pos, length, audio_ms)


class Espeak:
    """The loaded library. Use `get_espeak()`; every method takes the lock."""

    def __init__(self) -> None:
        self._lock = threading.RLock()  # reentrant: voice lookup lists voices under it
        try:
            lib = ctypes.CDLL(espeakng_loader.get_library_path())
            data_path = espeakng_loader.get_data_path()
        except (OSError, RuntimeError) as exc:
            raise Misconfigured(f"cannot load libespeak-ng: {exc}", provider="offline",
                                hint="reinstall the espeakng-loader package") from exc
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                     ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_ListVoices.argtypes = [ctypes.POINTER(_Voice)]
        lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_Voice))
        lib.espeak_Info.argtypes = [ctypes.c_void_p]
        lib.espeak_Info.restype = ctypes.c_char_p
        rate = lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, BUFFER_MS, data_path.encode(),
                                     INITIALIZE_DONT_EXIT)
        if rate <= 0:
            raise Misconfigured("espeak_Initialize failed", provider="offline",
                                hint=f"check the eSpeak NG data at {data_path}")
        self._lib = lib
        self.sample_rate = rate
        self.version = (lib.espeak_Info(None) or b"?").decode()
        self._capture: _Capture | None = None
        self._callback = _SynthCallback(self._on_synth)  # held: the library keeps its address
        lib.espeak_SetSynthCallback(self._callback)
        self._voice_names: tuple[VoiceInfo, ...] | None = None
        self._variant_names: tuple[VoiceInfo, ...] | None = None
        self._allowed: VoiceAllowList | None = None

    def _on_synth(self, wav, count: int, events) -> int:
        capture = self._capture
        if capture is None:
            return 1  # nobody is listening: abort
        try:
            if wav and count > 0:
                capture.chunks.append(ctypes.string_at(wav, count * 2))
            i = 0
            while events[i].type != EVENT_LIST_TERMINATED:
                ev = events[i]
                capture.events.append((ev.type, ev.text_position, ev.length, ev.audio_position))
                i += 1
        except Exception:  # an exception must never unwind into C
            log.exception("espeak callback failed")
            return 1
        return 0

    def allow_list(self) -> VoiceAllowList:
        """The names this library lists, and the identifier to hand it for each."""
        with self._lock:
            if self._allowed is None:
                self._allowed = VoiceAllowList(self.voices(), self.variants())
            return self._allowed

    def resolve(self, name: str) -> str | None:
        """What to give `espeak_SetVoiceByName` for `name`; None when the library does not list it."""
        return self.allow_list().resolve(name)

    def voice_lists(self) -> VoiceLists:
        return self.allow_list().lists()

    def _set_voice(self, name: str) -> bool:
        """Select a voice by language ("en-gb"), identifier or name, optionally "+variant"; False
        when the library does not list it. Only `resolve()`'s answer reaches native code."""
        spec = self.resolve(name)
        if spec is None:
            return False
        return bool(self._lib.espeak_SetVoiceByName(spec.encode("utf-8")) == EE_OK)

    def synthesize(self, text: str, voices: tuple[str, ...], *, rate_wpm: int, pitch: int,
                   pitch_range: int, volume: int) -> Synthesis:
        """Speak `text` with the first voice of `voices` that exists (a warning for each miss)."""
        clean = text.replace("\0", " ").strip()
        if not clean:
            raise BadOutput("nothing to say: the narration is empty", provider="offline")
        with self._lock:
            used = ""
            for candidate in voices:
                if self._set_voice(candidate):
                    used = candidate
                    break
                log.debug("espeak voice %r not listed, trying the next fallback", candidate[:MAX_VOICE_CHARS])
            if not used:
                tried = tuple(v[:MAX_VOICE_CHARS] for v in voices)
                raise Misconfigured(f"no eSpeak voice among {tried!r}", provider="offline",
                                    hint="set [providers.offline] voice to an eSpeak voice such as en-us")
            for param, value, lo, hi in ((RATE, rate_wpm, 80, 450), (PITCH, pitch, 0, 100),
                                         (RANGE, pitch_range, 0, 100), (VOLUME, volume, 0, 200)):
                self._lib.espeak_SetParameter(param, max(lo, min(hi, int(value))), 0)
            data = clean.encode("utf-8")
            self._capture = capture = _Capture()
            try:
                err = self._lib.espeak_Synth(data, len(data) + 1, 0, POS_CHARACTER, 0, CHARS_UTF8,
                                             None, None)
            finally:
                self._capture = None
        if err != EE_OK:
            raise BadOutput(f"espeak_Synth failed with code {err}", provider="offline")
        pcm = b"".join(capture.chunks)
        if not pcm:
            raise BadOutput("eSpeak produced no audio", provider="offline")
        duration_s = len(pcm) / 2 / self.sample_rate
        return Synthesis(pcm, self.sample_rate, _word_timings(clean, capture.events, duration_s), used)

    def voices(self) -> tuple[VoiceInfo, ...]:
        """Every voice of the bundled data (variants excluded)."""
        with self._lock:
            if self._voice_names is None:
                self._voice_names = self._list(None)
            return self._voice_names

    def variants(self) -> tuple[VoiceInfo, ...]:
        """Every voice variant ("!v/f3"): pitch and timbre applied over a voice with "+f3"."""
        with self._lock:
            if self._variant_names is None:
                language = ctypes.create_string_buffer(b"variant")  # alive for the whole call
                spec = _Voice()
                spec.languages = ctypes.addressof(language)
                self._variant_names = self._list(spec)
            return self._variant_names

    def _list(self, spec: _Voice | None) -> tuple[VoiceInfo, ...]:
        listing = self._lib.espeak_ListVoices(ctypes.byref(spec) if spec is not None else None)
        found = []
        i = 0
        while listing and listing[i]:
            v = listing[i].contents
            languages = _languages(v.languages)
            found.append(VoiceInfo(
                name=(v.name or b"").decode("utf-8", "replace"),
                language=languages[0][1] if languages else "",
                identifier=(v.identifier or b"").decode("utf-8", "replace"),
                languages=languages,
            ))
            i += 1
        return tuple(found)


def _languages(address: int | None) -> tuple[tuple[int, str], ...]:
    """espeak_VOICE.languages: entries of (priority byte, language, NUL), ended by a 0 byte."""
    out: list[tuple[int, str]] = []
    while address and len(out) < 32:
        priority = ctypes.string_at(address, 1)[0]
        if priority == 0:
            break
        language = ctypes.string_at(address + 1)  # up to its NUL
        out.append((priority, language.decode("utf-8", "replace")))
        address += 2 + len(language)
    return tuple(out)


def _event_spans(events: list[tuple[int, int, int, int]],
                 duration_s: float) -> list[tuple[int, float, float]]:
    """WORD events -> (0-based text position, start, end): a word ends where the next word
    starts, or at the end of its clause or sentence, or at the end of the audio."""
    spans = []
    for i, (kind, pos, length, ms) in enumerate(events):
        if kind != EVENT_WORD or length <= 0:
            continue
        start = min(ms / 1000, duration_s)
        end = duration_s
        for kind2, _, _, ms2 in events[i + 1 :]:
            if kind2 in (EVENT_WORD, EVENT_END, EVENT_MSG_TERMINATED) and ms2 / 1000 > start:
                end = min(ms2 / 1000, duration_s)
                break
        spans.append((pos - 1, start, end))
    return spans


def _word_timings(text: str, events: list[tuple[int, int, int, int]],
                  duration_s: float) -> tuple[tuple[str, float, float], ...]:
    """One (word, start, end) per word of `text`, from eSpeak's WORD events.

    eSpeak's events do not map one to one onto words: "25" gives two ("twenty", "five"), and
    unstressed words are folded into a neighbour ("of a star" gives events for "of" and "star").
    So each word with an event anchors a group, words without one join the group before them,
    and a group's time is shared among its words by length."""
    spans = _event_spans(events, duration_s)
    groups: list[tuple[list[str], float, float]] = []  # (words, start, end)
    pending: list[str] = []  # words before the first anchor
    k = 0
    for match in _TOKEN.finditer(text):
        word = match.group().strip(_PUNCT)
        if not word:
            continue
        anchored = []
        while k < len(spans) and spans[k][0] < match.end():
            if spans[k][0] >= match.start():
                anchored.append(spans[k])
            k += 1
        if anchored:
            groups.append(([*pending, word], anchored[0][1], anchored[-1][2]))
            pending = []
        elif groups:
            groups[-1][0].append(word)
        elif any(c.isalnum() for c in word):
            pending.append(word)
    if pending and not groups:
        groups.append((pending, 0.0, duration_s))
    out: list[tuple[str, float, float]] = []
    for words, start, end in groups:
        start = max(start, out[-1][2] if out else 0.0)  # never overlap the previous word
        end = max(start, end)
        weights = [len(w) + 1 for w in words]
        t = start
        for w, weight in zip(words, weights, strict=True):
            step = (end - start) * weight / sum(weights)
            out.append((w, round(t, 4), round(t + step, 4)))
            t += step
    return tuple(out)


_engine: Espeak | None = None
_engine_lock = threading.Lock()


def get_espeak() -> Espeak:
    """The process's one engine, created on first use. Blocking: call it off the event loop."""
    global _engine
    with _engine_lock:
        if _engine is None:
            _engine = Espeak()
        return _engine


def list_voices() -> tuple[VoiceInfo, ...]:
    """Every voice the bundled eSpeak NG data provides. Blocking, native: call it in the child."""
    return get_espeak().voices()


# ---------------------------------------------------------------------------- run in the child
# What the offline voice sends its child process (providers.offline.worker): module-level, so
# they pickle by name.


def synthesize_in_child(text: str, voices: tuple[str, ...], params: SpeechParams) -> Synthesis:
    return get_espeak().synthesize(text, voices, rate_wpm=params.rate_wpm, pitch=params.pitch,
                                   pitch_range=params.pitch_range, volume=params.volume)


def voice_lists_in_child() -> VoiceLists:
    return get_espeak().voice_lists()


def engine_info_in_child() -> tuple[str, int]:
    engine = get_espeak()
    return engine.version, engine.sample_rate
