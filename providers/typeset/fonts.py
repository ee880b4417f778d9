"""The bundled fonts and the per-language fallback chain.

The faces come from two wheels (no apt step): `manimgx-fonts` (Noto Sans for Latin with every
accent, Greek and Cyrillic; Noto Sans Arabic, Hebrew, Devanagari, Thai and a dozen more scripts;
Noto Sans Symbols; Noto Emoji, monochrome) and `manimgx-fonts-cjk` (one variable Noto Sans CJK
collection: Japanese, Korean, Simplified and Traditional Chinese, Hong Kong faces). All are
variable fonts on one weight axis, so one file per script serves regular and bold.

A `FontChain` is the faces to try, in order, for one language: the language's own script first
(so Japanese punctuation and Han forms come from the Japanese face), then Latin, the other
scripts, symbols and emoji. `glyph_face` picks, per grapheme cluster, the first face whose cmap
(read once per face with fontTools) has every character of it; a cluster no face has is dropped
by the layout, never drawn as the missing-glyph box.
"""

from __future__ import annotations

import functools
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import manimgx_fonts
import manimgx_fonts_cjk
from fontTools.ttLib import TTFont
from PIL import ImageFont

__all__ = ["Face", "FontChain", "font_chain", "glyph_face", "pil_font", "coverage", "IGNORABLE",
           "REGULAR", "BOLD"]

REGULAR, BOLD = 400, 700
_NOTO = Path(manimgx_fonts.__file__).parent
_CJK = Path(manimgx_fonts_cjk.__file__).parent / "NotoSansCJK-VF.otf.ttc"
# Characters that only modify their neighbours (joiners, variation selectors, emoji tags): a face
# need not map them for the cluster to draw (raqm handles them or they vanish harmlessly).
IGNORABLE = frozenset(
    [0x200C, 0x200D, 0xFE0E, 0xFE0F, 0x20E3, *range(0xE0020, 0xE0080), *range(0xFE00, 0xFE10)]
)


@dataclass(frozen=True)
class Face:
    name: str
    path: str
    index: int = 0  # the face within a collection (.ttc)


def _noto(stem: str) -> Face:
    return Face(stem, str(_NOTO / f"{stem}[wght].ttf"))


LATIN = _noto("NotoSans")  # Latin (every accent), Greek, Cyrillic
ARABIC, HEBREW = _noto("NotoSansArabic"), _noto("NotoSansHebrew")
DEVANAGARI, THAI = _noto("NotoSansDevanagari"), _noto("NotoSansThai")
SYMBOLS, EMOJI = _noto("NotoSansSymbols"), _noto("NotoEmoji")
OTHER_SCRIPTS = tuple(_noto(f"NotoSans{s}") for s in (
    "Armenian", "Bengali", "Ethiopic", "Georgian", "Gujarati", "Gurmukhi", "Kannada", "Khmer", "Lao",
    "Malayalam", "Myanmar", "Oriya", "Sinhala", "Tamil", "Telugu"))
CJK = {region: Face(f"NotoSansCJK-{region}", str(_CJK), i)
       for i, region in enumerate(("JP", "KR", "SC", "TC", "HK"))}

# the face a language's own script is set in first (its punctuation, its regional Han forms)
_PRIMARY: dict[str, Face] = {
    "ja": CJK["JP"], "ko": CJK["KR"], "zh": CJK["SC"], "zh-tw": CJK["TC"], "zh-hant": CJK["TC"],
    "zh-hk": CJK["HK"], "ar": ARABIC, "fa": ARABIC, "ur": ARABIC, "ps": ARABIC, "he": HEBREW, "yi": HEBREW,
    "hi": DEVANAGARI, "mr": DEVANAGARI, "ne": DEVANAGARI, "sa": DEVANAGARI, "th": THAI,
}


@dataclass(frozen=True)
class FontChain:
    language: str  # BCP 47, lower case ("ja", "zh-tw"); raqm gets it for language-specific forms
    faces: tuple[Face, ...]


@functools.lru_cache(maxsize=64)
def font_chain(language: str) -> FontChain:
    """The faces to try, in order, for text in `language` (unknown languages get the default order)."""
    lang = (language or "en").strip().lower().replace("_", "-")
    primary = _PRIMARY.get(lang) or _PRIMARY.get(lang.split("-")[0])
    cjk = primary if primary is not None and primary.path == str(_CJK) else CJK["JP"]
    order = (primary, LATIN, ARABIC, HEBREW, DEVANAGARI, THAI, *OTHER_SCRIPTS, cjk, SYMBOLS, EMOJI)
    return FontChain(lang, tuple(dict.fromkeys(f for f in order if f is not None)))


_cmap_lock = threading.Lock()


@functools.cache
def coverage(face: Face) -> frozenset[int]:
    """The code points `face` maps (its best cmap). Read once: ~1 s for the CJK face, ms for others."""
    with _cmap_lock:
        font = TTFont(face.path, fontNumber=face.index, lazy=True)
        try:
            return frozenset(font.getBestCmap() or {})
        finally:
            font.close()


def _needed(cluster: str) -> list[int]:
    return [ord(c) for c in cluster if ord(c) not in IGNORABLE and not unicodedata.category(c).startswith("C")]


def glyph_face(cluster: str, chain: FontChain) -> tuple[Face, str] | None:
    """The first face of `chain` that draws `cluster`, and the text to draw with it: the whole
    cluster when a face has all of it, else (an emoji sequence no face has whole: a flag, a
    family) its first character alone. None when no face has it: the caller leaves it out."""
    needed = _needed(cluster)
    if not needed:
        return None
    for face in chain.faces:
        if all(cp in coverage(face) for cp in needed):
            return face, cluster
    first = chr(needed[0])
    for face in chain.faces:
        if needed[0] in coverage(face):
            return face, first
    return None


_local = threading.local()  # FreeType faces are not shared between threads: one cache per thread


def pil_font(face: Face, size: int, weight: int = REGULAR) -> ImageFont.FreeTypeFont:
    """`face` at `size` px and `weight` (100-900), laid out by raqm (shaping, bidi, language forms)."""
    cache: dict[tuple[Face, int, int], ImageFont.FreeTypeFont] = _local.__dict__.setdefault("fonts", {})
    key = (face, max(1, size), weight)
    if key not in cache:
        if len(cache) > 96:  # sizes shrink step by step while a layout searches: keep the cache small
            cache.clear()
        cache[key] = _open(face, max(1, size), weight)
    return cache[key]


def _open(face: Face, size: int, weight: int) -> ImageFont.FreeTypeFont:
    font = ImageFont.truetype(face.path, size, index=face.index, layout_engine=ImageFont.Layout.RAQM)
    try:
        font.set_variation_by_axes([weight])
    except OSError:  # not a variable font: its one weight
        pass
    return font
