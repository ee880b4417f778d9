"""Functions the tests send to the eSpeak child process (by name, so they live in a module).

They run the real binding inside the child: a regression that lets a poison name reach native code
crashes that child (the test fails with WorkerCrashed), never the test process.
"""

from __future__ import annotations

import time
from typing import Any

from providers.errors import Misconfigured
from providers.offline.espeak import SpeechParams, Synthesis, get_espeak, synthesize_in_child

CRASH_MARKER = "CRASH-THE-SYNTHESISER"
PARAMS = SpeechParams(rate_wpm=165, pitch=45, pitch_range=60, volume=100)


class _RecordingLibrary:
    """The loaded library, with every name given to espeak_SetVoiceByName written down."""

    def __init__(self, lib: Any) -> None:
        self._lib = lib
        self.names: list[bytes] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._lib, name)

    def espeak_SetVoiceByName(self, name: bytes) -> int:  # noqa: N802 - the C name
        self.names.append(name)
        return int(self._lib.espeak_SetVoiceByName(name))


def set_voice_calls(requests: list[str]) -> list[tuple[str, list[bytes], str]]:
    """For each requested name (with "en-us" as the fallback): what native code received, and
    which voice spoke."""
    engine = get_espeak()
    real = engine._lib
    recorder = _RecordingLibrary(real)
    engine._lib = recorder
    out = []
    try:
        for name in requests:
            recorder.names = []
            result = engine.synthesize("Hello there.", (name, "en-us"), rate_wpm=165, pitch=45, pitch_range=60,
                                       volume=100)
            out.append((name, list(recorder.names), result.voice))
    finally:
        engine._lib = real
    return out


def resolve_all(names: list[str]) -> list[str | None]:
    engine = get_espeak()
    return [engine.resolve(name) for name in names]


def crash_on_marker(text: str, voices: tuple[str, ...], params: SpeechParams) -> Synthesis:
    """The real synthesis, except that a narration holding CRASH_MARKER crashes the child the way
    the issue's poison names did: the raw native call, unchecked (glibc aborts: buffer overflow)."""
    if CRASH_MARKER in text:
        get_espeak()._lib.espeak_SetVoiceByName(b"+" * 64)
    return synthesize_in_child(text, voices, params)


def hang(text: str, voices: tuple[str, ...], params: SpeechParams) -> Synthesis:
    time.sleep(60)
    raise AssertionError("not reached")


def misconfigured() -> None:
    raise Misconfigured("no such voice file", provider="offline", hint="set [providers.offline] voice")
