"""Runs, line breaking, measuring and drawing, for text in any script.

A line is split into runs of one face each (`runs`, logical order). Pillow draws each run with raqm,
which shapes it (Arabic joining, Devanagari conjuncts, Thai marks) and orders a right-to-left run
itself; `_visual` orders the runs of a line: for a right-to-left paragraph (its first strong
character is Hebrew or Arabic) the runs go right to left, with embedded left-to-right stretches kept
in reading order. Line breaks are UAX #14's (uniseg): between words, between CJK characters (never
before 。 or 」), and never inside a grapheme cluster; a unit wider than the line is cut between
clusters.
"""

from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass

from PIL import ImageDraw
from uniseg.graphemecluster import GCB, grapheme_cluster_break, grapheme_clusters
from uniseg.linebreak import line_break_units

from providers.typeset.fonts import EMOJI, REGULAR, SYMBOLS, Face, FontChain, coverage, glyph_face, pil_font

__all__ = ["Run", "runs", "base_direction", "drawable", "line_width", "wrap", "draw_line", "visual_runs",
           "widest_unit"]

_PICTURE_FACES = frozenset({EMOJI, SYMBOLS})  # their spaces are as wide as a pictograph
_RTL_CLASSES = frozenset({"R", "AL"})
_STRONG = frozenset({"L", "R", "AL"})
# Grapheme_Cluster_Break values UAX #29 breaks on both sides of, whatever the neighbours (GB4, GB5,
# GB999): every other rule (GB3 CR LF, Hangul jamo, Extend/ZWJ, SpacingMark, Prepend, the Indic
# conjunct rule, emoji ZWJ sequences, flags) needs a character outside this set
_ALONE = frozenset({GCB.OTHER, GCB.CONTROL, GCB.LF})


@dataclass(frozen=True)
class Run:
    text: str
    face: Face
    rtl: bool  # holds right-to-left letters
    strong: bool  # holds letters at all (not only spaces, digits, punctuation, emoji)


def base_direction(text: str) -> str:
    """"rtl" when the first strong character is Hebrew or Arabic, else "ltr" (UAX #9, P2-P3)."""
    for ch in text:
        kind = unicodedata.bidirectional(ch)
        if kind in _STRONG:
            return "rtl" if kind in _RTL_CLASSES else "ltr"
    return "ltr"


def _neutral(cluster: str) -> bool:
    return all(unicodedata.bidirectional(c) not in _STRONG for c in cluster)


@functools.lru_cache(maxsize=4096)
def _alone(ch: str) -> bool:
    return grapheme_cluster_break(ch) in _ALONE


def clusters(text: str) -> list[str]:
    """`text`'s grapheme clusters (UAX #29, uniseg's). uniseg walks a string at ~10 µs a character in
    pure Python, and layout measures every prefix of every line at every size it tries: text whose
    characters each stand alone (most Latin, Cyrillic, Greek, CJK, Arabic letters) takes a shortcut
    that gives the same answer from the same property table."""
    if all(map(_alone, text)):
        return list(text)
    return list(grapheme_clusters(text))


def runs(text: str, chain: FontChain) -> list[Run]:
    """`text` in runs of one face, in logical order; clusters no face has are left out."""
    out: list[tuple[list[str], Face]] = []
    for cluster in clusters(text):
        if out and _neutral(cluster) and out[-1][1] not in _PICTURE_FACES \
                and all(ord(c) in coverage(out[-1][1]) for c in cluster):
            out[-1][0].append(cluster)  # a space or a comma stays in the run it sits in
            continue
        found = glyph_face(cluster, chain)
        if found is None:
            if cluster.isspace() and out:
                out[-1][0].append(" ")
            continue
        face, shown = found
        if out and out[-1][1] == face:
            out[-1][0].append(shown)
        else:
            out.append(([shown], face))
    result = []
    for parts, face in out:
        joined = "".join(parts)
        result.append(Run(joined, face, any(unicodedata.bidirectional(c) in _RTL_CLASSES for c in joined),
                          not _neutral(joined)))
    return result


def drawable(text: str, chain: FontChain) -> str:
    """`text` without the clusters no face of `chain` has (what `draw_line` would show)."""
    return "".join(r.text for r in runs(text, chain))


def visual_runs(line: str, chain: FontChain) -> list[Run]:
    """The runs of `line` in the order they appear from left to right."""
    logical = runs(line, chain)
    rtl_base = base_direction(line) == "rtl"
    # group consecutive runs of one direction; neutral runs (spaces, emoji, digits) join the group
    # before them, or take the paragraph's direction at the start
    groups: list[tuple[bool, list[Run]]] = []
    for run in logical:
        rtl = run.rtl if run.strong else (groups[-1][0] if groups else rtl_base)
        if groups and groups[-1][0] == rtl:
            groups[-1][1].append(run)
        else:
            groups.append((rtl, [run]))
    ordered: list[Run] = []
    for rtl, members in (reversed(groups) if rtl_base else groups):
        ordered.extend(reversed(members) if rtl else members)
    return ordered


def _direction(run: Run) -> str:
    return "rtl" if run.rtl else "ltr"


def _run_width(run: Run, chain: FontChain, size: int, weight: int) -> float:
    return _measure(run.text, run.face, size, weight, _direction(run), chain.language)


@functools.lru_cache(maxsize=4096)
def _measure(text: str, face: Face, size: int, weight: int, direction: str, language: str) -> float:
    """A run's advance width. Shaping costs ~0.3 ms a call and layout asks again for what it has
    measured (wrap re-measures the line it just grew, a patch measures its lines before drawing them)."""
    font = pil_font(face, size, weight)
    return float(font.getlength(text, direction=direction, language=language))


def line_width(line: str, chain: FontChain, size: int, weight: int = REGULAR) -> float:
    """The width in pixels `draw_line` gives `line` (without its stroke)."""
    return sum(_run_width(r, chain, size, weight) for r in runs(line.strip(), chain))


def _split_clusters(unit: str, chain: FontChain, size: int, max_width: float, weight: int) -> list[str]:
    """A unit too wide for a line (a long word, a Thai phrase), cut between grapheme clusters."""
    pieces, current = [], ""
    for cluster in clusters(unit):
        if current and line_width(current + cluster, chain, size, weight) > max_width:
            pieces.append(current)
            current = cluster
        else:
            current += cluster
    return [*pieces, current] if current else pieces


def wrap(text: str, chain: FontChain, size: int, max_width: float, weight: int = REGULAR) -> list[str]:
    """`text` broken into lines no wider than `max_width` px at `size` (UAX #14 break points)."""
    lines: list[str] = []
    current = ""
    for unit in _units(" ".join(text.split()), chain.language):
        candidate = current + unit
        if not current or line_width(candidate, chain, size, weight) <= max_width:
            current = candidate
            if line_width(current, chain, size, weight) <= max_width:
                continue
            current = ""
            pieces = _split_clusters(unit, chain, size, max_width, weight)
            lines.extend(p.strip() for p in pieces[:-1])
            current = pieces[-1] if pieces else ""
            continue
        lines.append(current.strip())
        current = ""
        pieces = _split_clusters(unit, chain, size, max_width, weight) \
            if line_width(unit, chain, size, weight) > max_width else [unit]
        lines.extend(p.strip() for p in pieces[:-1])
        current = pieces[-1] if pieces else ""
    if current.strip():
        lines.append(current.strip())
    return [ln for ln in lines if ln] or []


@functools.lru_cache(maxsize=256)
def _units(text: str, language: str = "") -> tuple[str, ...]:
    """Where a line may break. Korean breaks between words, as it is written (UAX #14 would allow
    any syllable, which Korean typesetting does not). Cached: a title is wrapped at every size tried,
    and uniseg's line breaking is pure Python."""
    if not text:
        return ()
    if language.split("-")[0] == "ko":
        words = text.split(" ")
        return tuple(w + " " for w in words[:-1]) + tuple(words[-1:])
    return tuple(line_break_units(text))


def widest_unit(text: str, chain: FontChain, size: int, weight: int = REGULAR) -> float:
    """The widest stretch of `text` a line may not break inside: a line narrower than this must cut it."""
    return max((line_width(u, chain, size, weight) for u in _units(" ".join(text.split()), chain.language)),
               default=0.0)


def draw_line(
    draw: ImageDraw.ImageDraw,
    xy: tuple[float, float],
    line: str,
    chain: FontChain,
    size: int,
    *,
    weight: int = REGULAR,
    anchor: str = "center",  # "center": xy is the line's top centre; "left": its top left
    fill: int | tuple[int, ...] = 255,
    stroke_width: int = 0,
    stroke_fill: int | tuple[int, ...] | None = None,
) -> float:
    """Draw `line` with its top at xy[1]; returns its width. Runs share one baseline."""
    ordered = visual_runs(line.strip(), chain)
    widths = [_run_width(r, chain, size, weight) for r in ordered]
    total = sum(widths)
    x = xy[0] - total / 2 if anchor == "center" else xy[0]
    baseline = xy[1] + round(size * 1.0)
    for run, width in zip(ordered, widths, strict=True):
        font = pil_font(run.face, size, weight)
        draw.text((x, baseline), run.text, font=font, anchor="ls", fill=fill, direction=_direction(run),
                  language=chain.language, stroke_width=stroke_width,
                  stroke_fill=fill if stroke_fill is None else stroke_fill)
        x += width
    return total
