"""What we accept: from users (the topic) and from providers (scripts, images, audio, clips).

User input errors are `InvalidInput` (the CLI exits 2 with its message; the agent answers 400).
Provider outputs that fail are `BadOutput`, which the cascade turns into a fallback to the next
provider for that item. Heavy checks (decoding images and audio) run off the event loop, and
Pillow and numpy are imported by them, not with this module: the API imports it for `clean_topic`.
"""

from __future__ import annotations

import asyncio
import unicodedata
import wave
from pathlib import Path

from providers.base import ClipResult, ImageResult, Script, ScriptRequest, VoiceResult
from providers.errors import BadOutput
from providers.language import name as language_name
from providers.language import written_in

__all__ = [
    "InvalidInput",
    "MAX_TOPIC_CHARS",
    "BIDI_CONTROLS",
    "clean_topic",
    "validate_script",
    "validate_image",
    "validate_voice",
    "validate_clip",
]

MAX_TOPIC_CHARS = 300
MAX_NARRATION_CHARS = 600


class InvalidInput(ValueError):
    """A user's request is not acceptable. The message says why, in words a user can act on."""

    def __init__(self, message: str, *, field: str = "topic") -> None:
        super().__init__(message)
        self.field = field


# Bidirectional controls (embeddings, overrides, isolates, marks): invisible, yet they reorder what
# follows, so "Cats \u202egnp.exe" shows as "Cats exe.png". They never belong in a title.
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Letters and symbols that draw nothing (Hangul fillers, the blank braille pattern, Khmer inherent
# vowels): the usual way to make a "blank" name that passes a whitespace check.
_BLANK = frozenset("\u115f\u1160\u17b4\u17b5\u2800\u3164\uffa0")
# Categories that show nothing on their own: format (ZWSP, ZWJ, word joiner, BOM...), separators,
# and combining marks, which only decorate the character before them.
_INVISIBLE_CATEGORIES = frozenset({"Cf", "Zs", "Zl", "Zp", "Mn", "Me", "Mc"})


def _visible(ch: str) -> bool:
    return ch not in _BLANK and unicodedata.category(ch) not in _INVISIBLE_CATEGORIES


def clean_topic(topic: str) -> str:
    """Return the topic, trimmed, or raise InvalidInput saying what is wrong with it.

    Shared by the API (which the bots use) and the CLI. Zero-width joiners and non-joiners stay
    allowed beside visible text: emoji sequences and Indic and Persian spelling need them."""
    if not isinstance(topic, str):
        raise InvalidInput("the topic must be text")
    # printable text has no control, format (the direction controls) or surrogate character
    for ch in () if topic.isprintable() else topic:
        category = unicodedata.category(ch)
        if category == "Cc":
            raise InvalidInput("the topic must not contain control characters (such as newlines or tabs)")
        if category == "Cs":  # a lone surrogate: an undecodable byte on the command line, or bad JSON
            raise InvalidInput("the topic is not valid text (it has a lone surrogate or an undecodable byte)")
        if ch in BIDI_CONTROLS:
            raise InvalidInput(
                f"the topic must not contain text-direction controls (it has U+{ord(ch):04X}): they make the "
                "title read differently from what it says")
    stripped = " ".join(topic.split())
    if not stripped:
        raise InvalidInput("the topic is empty: say what the video should be about")
    if not any(_visible(ch) for ch in stripped):
        raise InvalidInput("the topic has no visible characters: say what the video should be about")
    if len(stripped) > MAX_TOPIC_CHARS:
        raise InvalidInput(
            f"the topic is {len(stripped)} characters long; the limit is {MAX_TOPIC_CHARS}"
        )
    return stripped


# ---------------------------------------------------------------------------- providers' output


async def validate_script(script: Script, request: ScriptRequest) -> None:
    if not isinstance(script, Script):
        raise BadOutput(f"expected a Script, got {type(script).__name__}")
    if not script.title.strip():
        raise BadOutput("the script has no title")
    n = len(script.scenes)
    if not request.min_scenes <= n <= request.max_scenes:
        raise BadOutput(
            f"the script has {n} scenes; {request.length} needs {request.min_scenes}-{request.max_scenes}"
        )
    for i, scene in enumerate(script.scenes, 1):
        if not scene.narration.strip():
            raise BadOutput(f"scene {i} has no narration")
        if not scene.visual.strip():
            raise BadOutput(f"scene {i} has no visual description")
        if len(scene.narration) > MAX_NARRATION_CHARS:
            raise BadOutput(f"scene {i} narration is {len(scene.narration)} characters long")
    # in the language asked for (or the one the writer declares it fell back to, with a note)
    expected = script.language or request.language
    narration = " ".join(scene.narration for scene in script.scenes)
    if not await asyncio.to_thread(written_in, narration, expected):  # the model loads once, off the loop
        raise BadOutput(f"the narration is not in {language_name(expected)} ({expected})")


def _check_image(path: Path) -> None:
    from PIL import Image, ImageStat

    if not path.is_file() or path.stat().st_size < 1024:
        raise BadOutput(f"image {path.name} is missing or too small to be real")
    try:
        with Image.open(path) as img:
            img.verify()
        with Image.open(path) as img:
            img.load()
            if img.width < 64 or img.height < 64:
                raise BadOutput(f"image is only {img.width}x{img.height}")
            stat = ImageStat.Stat(img.convert("L").resize((64, 64)))
    except BadOutput:
        raise
    except Exception as exc:
        raise BadOutput(f"image does not decode: {exc}") from None
    if stat.stddev[0] < 2.0:
        raise BadOutput("image is a flat colour (a blank or placeholder)")


async def validate_image(result: ImageResult) -> None:
    await asyncio.to_thread(_check_image, result.path)


def _check_voice(path: Path, text: str) -> float:
    import numpy as np

    try:
        with wave.open(str(path), "rb") as w:
            frames = w.readframes(w.getnframes())
            width = w.getsampwidth()
            duration = w.getnframes() / float(w.getframerate())
    except Exception as exc:
        raise BadOutput(f"audio is not a readable WAV: {exc}") from None
    words = max(1, len(text.split()))
    if duration < max(0.3, 0.12 * words):
        raise BadOutput(f"audio is {duration:.2f}s long, too short for {words} words")
    if duration > 2.5 * words + 8:
        raise BadOutput(f"audio is {duration:.1f}s long, too long for {words} words")
    if width != 2:
        raise BadOutput(f"audio must be 16-bit PCM, got {8 * width}-bit")
    samples = np.frombuffer(frames, dtype="<i2").astype(np.float32)
    if samples.size == 0 or float(np.sqrt(np.mean(samples * samples))) < 0.002 * 32768:
        raise BadOutput("audio is silent")
    return duration


async def validate_voice(result: VoiceResult, text: str) -> None:
    await asyncio.to_thread(_check_voice, result.path, text)


def _file_of_at_least(path: Path, min_bytes: int) -> bool:
    return path.is_file() and path.stat().st_size >= min_bytes


async def validate_clip(result: ClipResult) -> None:
    path = result.path
    if not await asyncio.to_thread(_file_of_at_least, path, 1024):
        raise BadOutput("clip file is missing or empty")
    if result.seconds <= 0.2:
        raise BadOutput(f"clip is only {result.seconds:.2f}s long")
