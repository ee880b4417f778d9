"""Subtitle chunking and timing (pure): narration -> cues of at most 2 lines of ~42 characters.

Timing follows the voice's word timings when the scene has them; otherwise each cue gets the share
of the scene audio that its characters have of the narration. Cues are scene-relative; the caller
shifts them to the scene's start.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from providers.base import WordTiming

__all__ = ["Cue", "MAX_LINE_CHARS", "MAX_LINES", "chunk_words", "balance_lines", "scene_cues"]

MAX_LINE_CHARS = 42
MAX_LINES = 2
_SENTENCE_END = re.compile(r"[.!?…]['\"”’)]*$")
LINGER_S = 0.6  # how long a cue may stay after its last word when a pause follows


@dataclass(frozen=True)
class Cue:
    start_s: float
    end_s: float
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return " ".join(self.lines)


def _width(words: Sequence[str]) -> int:
    return sum(len(w) for w in words) + max(0, len(words) - 1)


def balance_lines(words: Sequence[str], max_chars: int = MAX_LINE_CHARS) -> tuple[str, ...]:
    """Split words into 1 or 2 lines, as even as possible (a bottom-heavy pyramid reads best)."""
    if _width(words) <= max_chars or len(words) < 2:
        return (" ".join(words),)
    candidates = [
        (abs(_width(words[:i]) - _width(words[i:])), _width(words[:i]) > _width(words[i:]), i)
        for i in range(1, len(words))
        if _width(words[:i]) <= max_chars and _width(words[i:]) <= max_chars
    ]
    # prefer even lines, then a shorter top line; an over-long word just gets a line to itself
    split = min(candidates)[2] if candidates else max(1, len(words) - 1)
    return (" ".join(words[:split]), " ".join(words[split:]))


def chunk_words(
    words: Sequence[str], max_chars: int = MAX_LINE_CHARS, max_lines: int = MAX_LINES
) -> list[list[str]]:
    """Chunks of whole words that fit `max_lines` lines, each within one sentence where possible.

    A sentence too long for one chunk is cut into the fewest chunks of even length (no one-word
    orphan at its end); a short sentence may share a chunk with the next. A word longer than a
    line gets a chunk of its own (never dropped, never split).
    """
    chunks: list[list[str]] = []
    joinable = False  # the last chunk is a short complete sentence
    for sentence in _sentences(words):
        for part in _split_even(sentence, max_chars, max_lines):
            if joinable and _fits([*chunks[-1], *part], max_chars, max_lines):
                chunks[-1] = [*chunks[-1], *part]
            else:
                chunks.append(part)
            joinable = False
        joinable = _width(chunks[-1]) < max_chars // 2 and len(chunks[-1][-1]) <= max_chars
    return chunks


def _sentences(words: Sequence[str]) -> list[list[str]]:
    out: list[list[str]] = [[]]
    for word in words:
        out[-1].append(word)
        if _SENTENCE_END.search(word):
            out.append([])
    return [s for s in out if s]


def _split_even(words: Sequence[str], max_chars: int, max_lines: int) -> list[list[str]]:
    if any(len(w) > max_chars for w in words):  # isolate unbreakable tokens, split the rest
        parts: list[list[str]] = []
        run: list[str] = []
        for w in words:
            if len(w) > max_chars:
                parts += _split_even(run, max_chars, max_lines) if run else []
                parts.append([w])
                run = []
            else:
                run.append(w)
        return parts + (_split_even(run, max_chars, max_lines) if run else [])
    total = _width(words)
    n = max(1, math.ceil(total / (max_chars * max_lines)))
    while True:
        limit = math.ceil(total / n) + max_chars // 4  # aim at even chunks, some slack
        chunks: list[list[str]] = []
        current: list[str] = []
        for w in words:
            grown = [*current, w]
            if current and (_width(grown) > limit or not _fits(grown, max_chars, max_lines)):
                chunks.append(current)
                current = [w]
            else:
                current = grown
        chunks.append(current)
        if len(chunks) <= n or n >= len(words):
            return chunks
        n += 1


def _fits(words: Sequence[str], max_chars: int, max_lines: int) -> bool:
    lines, width = 1, -1
    for w in words:
        if width + 1 + len(w) <= max_chars or width < 0:
            width = len(w) if width < 0 else width + 1 + len(w)
        else:
            lines, width = lines + 1, len(w)
    return lines <= max_lines


def _aligned_words(narration: str, words: Sequence[WordTiming]) -> list[str]:
    """Display text per timed word: the narration's tokens (with punctuation) when they line up."""
    tokens = narration.split()
    if len(tokens) == len(words):
        return tokens
    return [w.word for w in words]


def scene_cues(
    narration: str,
    audio_s: float,
    words: Sequence[WordTiming] | None = None,
    *,
    max_chars: int = MAX_LINE_CHARS,
    max_lines: int = MAX_LINES,
) -> list[Cue]:
    """Cues for one scene, relative to the start of its audio, covering [0, audio_s]."""
    timed = [w for w in (words or ()) if w.word.strip()]
    if timed:
        return _timed_cues(_aligned_words(narration, timed), timed, audio_s, max_chars, max_lines)
    tokens = narration.split()
    if not tokens or audio_s <= 0:
        return []
    chunks = chunk_words(tokens, max_chars, max_lines)
    total = sum(_width(c) for c in chunks)
    cues, acc = [], 0
    for chunk in chunks:
        start = audio_s * acc / total
        acc += _width(chunk)
        cues.append(Cue(start, audio_s * acc / total, balance_lines(chunk, max_chars)))
    return cues


def _timed_cues(
    display: list[str], timed: Sequence[WordTiming], audio_s: float, max_chars: int, max_lines: int
) -> list[Cue]:
    chunks = chunk_words(display, max_chars, max_lines)
    cues: list[Cue] = []
    i = 0
    spans = []
    for chunk in chunks:
        first, last = timed[i], timed[i + len(chunk) - 1]
        spans.append((first.start_s, last.end_s, chunk))
        i += len(chunk)
    end_of_audio = max(audio_s, timed[-1].end_s)
    for k, (start, last_end, chunk) in enumerate(spans):
        next_start = spans[k + 1][0] if k + 1 < len(spans) else end_of_audio
        end = min(next_start, last_end + LINGER_S) if k + 1 < len(spans) else end_of_audio
        start = 0.0 if k == 0 else start
        cues.append(Cue(max(0.0, start), max(end, start + 0.05), balance_lines(chunk, max_chars)))
    return cues
