"""Subtitle chunking and timing (pure): narration -> cues of at most 2 lines of ~42 columns.

Widths are display columns: a CJK character or a fullwidth sign counts two, a combining mark none.
The "words" are the narration's space-separated words, except in scripts written without spaces
(Chinese, Japanese, Thai): there they are UAX #14 line-break units (uniseg: a character, or a
character with the punctuation that may not start a line), joined without spaces, and a unit wider
than a line is cut between grapheme clusters, never inside one.

Timing follows the voice's word timings when the scene has them (a timed word that holds several
units, as eSpeak gives for unspaced text, shares its time among them by width); otherwise each cue
gets the share of the scene audio that its columns have of the narration. Cues are scene-relative;
the caller shifts them to the scene's start.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from uniseg.graphemecluster import grapheme_clusters
from uniseg.linebreak import line_break_units

from providers.base import WordTiming

__all__ = ["Cue", "MAX_LINE_CHARS", "MAX_LINES", "chunk_words", "balance_lines", "scene_cues", "split_words",
           "columns"]

MAX_LINE_CHARS = 42
MAX_LINES = 2
_SENTENCE_END = re.compile(r"[.!?…。！？]['\"”’)」』]*$")
_GLUE = "\u2060"  # a word joiner: marks a piece of a word cut in two
_UNSPACED_SCRIPTS = ((0x0E00, 0x0EFF), (0x1000, 0x109F), (0x1780, 0x17FF))  # Thai, Lao, Myanmar, Khmer
LINGER_S = 0.6  # how long a cue may stay after its last word when a pause follows


@dataclass(frozen=True)
class Cue:
    start_s: float
    end_s: float
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return _join(self.lines)  # lines hold no joiners: see balance_lines


def _wide(ch: str) -> bool:
    """A CJK character or fullwidth sign (not an emoji): lines break between them, no spaces."""
    return unicodedata.east_asian_width(ch) in ("W", "F") and unicodedata.category(ch) != "So"


def _unspaced(ch: str) -> bool:
    return _wide(ch) or any(lo <= ord(ch) <= hi for lo, hi in _UNSPACED_SCRIPTS)


def columns(text: str) -> int:
    """Display width: wide (CJK) characters count 2, combining marks and joiners 0."""
    width = 0
    for ch in text:
        if unicodedata.category(ch) in ("Mn", "Me", "Cf"):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


def _join(words: Sequence[str]) -> str:
    """Words joined by spaces, except where the text had none (CJK, or a word cut in two)."""
    out = ""
    for w in words:
        if out and not (out.endswith(_GLUE) or _wide(out[-1]) or _wide(w[0])):
            out += " "
        out += w
    return out


def _shown(words: Sequence[str]) -> str:
    return _join(words).replace(_GLUE, "")


def _width(words: Sequence[str]) -> int:
    return columns(_join(words))


def split_words(text: str, max_chars: int = MAX_LINE_CHARS) -> list[str]:
    """The subtitle words of `text`: its space-separated words, with words of unspaced scripts
    (CJK; Thai, Lao, Khmer, Myanmar when wider than a line) cut into line-break units, and a unit
    wider than `max_chars` cut between grapheme clusters. A piece that continues without a space
    ends with a word joiner (dropped when shown)."""
    out: list[str] = []
    for token in text.split():
        if not any(_wide(c) for c in token) and not (
                columns(token) > max_chars and any(_unspaced(c) for c in token)):
            out.append(token)
            continue
        pieces: list[str] = []
        for unit in line_break_units(token):
            unit = unit.strip()
            if columns(unit) <= max_chars:
                pieces += [unit] if unit else []
                continue
            piece = ""
            for cluster in grapheme_clusters(unit):
                if piece and columns(piece + cluster) > max_chars:
                    pieces.append(piece)
                    piece = ""
                piece += cluster
            pieces += [piece] if piece else []
        # pieces of one word join without a space (CJK pieces do anyway)
        out += [p if p == pieces[-1] or _wide(p[-1]) else p + _GLUE for p in pieces[:-1]] + pieces[-1:]
    return out


def balance_lines(words: Sequence[str], max_chars: int = MAX_LINE_CHARS) -> tuple[str, ...]:
    """Split words into 1 or 2 lines, as even as possible (a bottom-heavy pyramid reads best)."""
    if _width(words) <= max_chars or len(words) < 2:
        return (_shown(words),)
    candidates = [
        (abs(_width(words[:i]) - _width(words[i:])), _width(words[:i]) > _width(words[i:]), i)
        for i in range(1, len(words))
        if _width(words[:i]) <= max_chars and _width(words[i:]) <= max_chars
    ]
    # prefer even lines, then a shorter top line; an over-long word just gets a line to itself
    split = min(candidates)[2] if candidates else max(1, len(words) - 1)
    return (_shown(words[:split]), _shown(words[split:]))


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
        joinable = _width(chunks[-1]) < max_chars // 2 and columns(chunks[-1][-1]) <= max_chars
    return chunks


def _sentences(words: Sequence[str]) -> list[list[str]]:
    out: list[list[str]] = [[]]
    for word in words:
        out[-1].append(word)
        if _SENTENCE_END.search(word):
            out.append([])
    return [s for s in out if s]


def _split_even(words: Sequence[str], max_chars: int, max_lines: int) -> list[list[str]]:
    if any(columns(w) > max_chars for w in words):  # isolate unbreakable tokens, split the rest
        parts: list[list[str]] = []
        run: list[str] = []
        for w in words:
            if columns(w) > max_chars:
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
    lines, line = 1, []  # type: ignore[var-annotated]
    for w in words:
        if not line or _width([*line, w]) <= max_chars:
            line.append(w)
        else:
            lines, line = lines + 1, [w]
    return lines <= max_lines


def _expand(words: Sequence[WordTiming], max_chars: int) -> list[WordTiming]:
    """Timed words that hold several subtitle words (unspaced text) split, their time shared by width."""
    out: list[WordTiming] = []
    for w in words:
        pieces = split_words(w.word, max_chars)
        if len(pieces) <= 1:
            out.append(w)
            continue
        total, t = sum(max(1, columns(p)) for p in pieces), w.start_s
        for p in pieces:
            step = (w.end_s - w.start_s) * max(1, columns(p)) / total
            out.append(WordTiming(p, t, t + step))
            t += step
    return out


def _aligned_words(narration: str, words: Sequence[WordTiming], max_chars: int) -> tuple[list[str], list[WordTiming]]:
    """Display text per timed word: the narration's tokens (with punctuation) when they line up."""
    tokens = split_words(narration, max_chars)
    if len(tokens) == len(words):
        return tokens, list(words)
    expanded = _expand(words, max_chars)
    if len(tokens) == len(expanded):
        return tokens, expanded
    return [w.word for w in expanded], expanded


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
        display, timed = _aligned_words(narration, timed, max_chars)
        return _timed_cues(display, timed, audio_s, max_chars, max_lines)
    tokens = split_words(narration, max_chars)
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
