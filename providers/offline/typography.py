"""Title-slide typography for offline art, with Pillow's built-in scalable font.

`ImageFont.load_default(size=...)` (Pillow >= 10.1 with FreeType) is Aileron Regular with a
small, mostly ASCII glyph set, so text is first folded to what the font can draw (accents
stripped, typographic dashes and quotes mapped, the rest dropped) rather than showing boxes.
Aileron has no bold: weight comes from a stroke in the fill colour. The block is a small tracked
caption, the key phrase in capitals, and a thin rule, with a soft shadow and a dark outline so it
reads over any background.
"""

from __future__ import annotations

import functools
import itertools
import unicodedata
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFilter, ImageFont

__all__ = ["TitleBlock", "draw_title_block", "fold_to_font"]

_FOLD = str.maketrans({
    "ß": "ss", "Ł": "L", "ł": "l", "Ø": "O", "ø": "o", "Æ": "AE", "æ": "ae", "Œ": "OE",
    "œ": "oe", "Đ": "D", "đ": "d", "Þ": "TH", "þ": "th", "ı": "i",
    "—": "-", "–": "-", "‒": "-", "“": '"', "”": '"', "„": '"', "‘": "'", "’": "'", "…": "...",
    "•": "·", "«": '"', "»": '"',
})
MAX_LINES = 3


@functools.lru_cache(maxsize=32)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


@functools.lru_cache(maxsize=512)
def _drawable(ch: str) -> bool:
    """True when the built-in font has a glyph for `ch` (not its "missing" box)."""
    font = _font(40)
    if ch.isspace():
        return True
    return _glyph_bytes(font, ch) != _glyph_bytes(font, "\uffff")


def _glyph_bytes(font: ImageFont.FreeTypeFont | ImageFont.ImageFont, ch: str) -> bytes:
    tile = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(tile).text((8, 0), ch, font=font, fill=255)
    return tile.tobytes()


def fold_to_font(text: str) -> str:
    """`text` reduced to characters the built-in font draws: "Élan — ünïcode 🚀" -> "Elan - unicode"."""
    text = unicodedata.normalize("NFKD", text.translate(_FOLD))
    kept = "".join(c for c in text if not unicodedata.combining(c) and _drawable(c))
    return " ".join(kept.split())


@dataclass(frozen=True)
class TitleBlock:
    phrase: str  # the key phrase, set large in capitals
    caption: str  # a small tracked line above it (the video's title)
    fill: tuple[int, int, int]  # the phrase's colour
    accent: tuple[int, int, int]  # the rule's colour
    caption_fill: tuple[int, int, int]  # the caption's colour
    shadow: tuple[int, int, int]  # outline and shadow colour


def _tracked_width(font: ImageFont.FreeTypeFont | ImageFont.ImageFont, text: str,
                   tracking: float) -> float:
    return sum(font.getlength(c) for c in text) + tracking * max(0, len(text) - 1)


def _draw_tracked(draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str,
                  font: ImageFont.FreeTypeFont | ImageFont.ImageFont, tracking: float,
                  stroke: int) -> None:
    x, y = xy
    for ch in text:
        draw.text((x, y), ch, font=font, fill=255, stroke_width=stroke, stroke_fill=255)
        x += font.getlength(ch) + tracking


def _splits(words: list[str], lines: int) -> list[list[str]]:
    """Every way to break `words` into `lines` lines, in order."""
    out = []
    for cuts in itertools.combinations(range(1, len(words)), lines - 1):
        bounds = (0, *cuts, len(words))
        out.append([" ".join(words[a:b]) for a, b in itertools.pairwise(bounds)])
    return out


def _layout(phrase: str, max_w: float, max_size: int, min_size: int) -> tuple[list[str], int]:
    """The line breaks and font size that set `phrase` largest within `max_w`."""
    words = phrase.split()
    best: tuple[float, list[str], int] = (-1.0, [phrase], min_size)
    for count in range(1, min(MAX_LINES, len(words)) + 1):
        for lines in _splits(words, count):
            probe = _font(100)
            widest = max(_tracked_width(probe, ln, 100 * 0.08) for ln in lines)
            size = int(min(max_size, max_size * 2.2 / (count + 1.2), 100 * max_w / widest))
            # Prefer fewer lines unless breaking buys a clearly larger size; among equals,
            # balanced lines ("LIFE CYCLE / OF A STAR", not "LIFE CYCLE OF / A STAR").
            widths = [_tracked_width(probe, ln, 8) for ln in lines]
            score = size * (1.0 - 0.12 * (count - 1)) + size * 0.08 * min(widths) / max(widths)
            if size >= min_size and score > best[0]:
                best = (score, lines, size)
    if best[0] < 0:  # one very long word: shrink to fit rather than overflow
        probe = _font(100)
        size = max(8, int(100 * max_w / _tracked_width(probe, phrase, 8)))
        best = (0, [phrase], size)
    return best[1], best[2]


def draw_title_block(img: Image.Image, block: TitleBlock, center_y: float) -> None:
    """Set `block` centred horizontally around `center_y` (a fraction of the height), in place."""
    width, height = img.size
    unit = min(width, height)
    phrase = fold_to_font(block.phrase).upper()
    caption = fold_to_font(block.caption).upper()
    if not phrase:
        phrase, caption = caption, ""
    if not phrase:
        return
    lines, size = _layout(phrase, width * 0.82, int(unit * 0.13), int(unit * 0.045))
    font = _font(size)
    tracking = size * 0.08
    line_h = size * 1.08
    cap_size = max(10, int(unit * 0.028))
    cap_font = _font(cap_size)
    cap_tracking = cap_size * 0.45
    cap_text = caption if _tracked_width(cap_font, caption, cap_tracking) < width * 0.8 else ""
    gap = cap_size * 1.6 if cap_text else 0
    rule_gap = size * 0.45
    block_h = (cap_size + gap if cap_text else 0) + line_h * len(lines) + rule_gap
    top = center_y * height - block_h / 2

    # Everything is drawn on the text's band only: full-frame masks and blurs cost more than
    # the rest of the image.
    band_top = max(0, int(top - size * 0.8))
    band_h = max(1, min(height, int(top + block_h + size * 0.8)) - band_top)
    size_band = (width, band_h)
    mask = Image.new("L", size_band, 0)  # the phrase, faux-bold
    outline = Image.new("L", size_band, 0)
    accent_mask = Image.new("L", size_band, 0)  # the rule
    caption_mask = Image.new("L", size_band, 0)
    md, od, ad = ImageDraw.Draw(mask), ImageDraw.Draw(outline), ImageDraw.Draw(accent_mask)
    weight = max(1, round(size * 0.022))
    y = top - band_top
    if cap_text:
        cw = _tracked_width(cap_font, cap_text, cap_tracking)
        _draw_tracked(ImageDraw.Draw(caption_mask), ((width - cw) / 2, y), cap_text, cap_font,
                      cap_tracking, 0)
        _draw_tracked(od, ((width - cw) / 2, y), cap_text, cap_font, cap_tracking, 2)
        y += cap_size + gap
    for line in lines:
        lw = _tracked_width(font, line, tracking)
        x = (width - lw) / 2
        _draw_tracked(md, (x, y - size * 0.12), line, font, tracking, weight)
        _draw_tracked(od, (x, y - size * 0.12), line, font, tracking,
                      weight + max(2, round(size * 0.035)))
        y += line_h
    rule_y = y + rule_gap * 0.45
    rule_w = min(width * 0.3, unit * 0.28)
    rule_h = max(2, unit // 360)
    ad.rectangle((width / 2 - rule_w / 2, rule_y, width / 2 + rule_w / 2, rule_y + rule_h), fill=255)
    od.rectangle((width / 2 - rule_w / 2 - 2, rule_y - 2, width / 2 + rule_w / 2 + 2,
                  rule_y + rule_h + 2), fill=255)

    offset = max(2, size // 18)
    shadow = Image.new("L", size_band, 0)
    shadow.paste(outline.filter(ImageFilter.GaussianBlur(max(2, size * 0.14))), (0, offset))
    crop = img.crop((0, band_top, width, band_top + band_h))
    dark = Image.new("RGB", size_band, block.shadow)
    crop.paste(dark, (0, 0), shadow.point(lambda v: int(v * 0.85)))
    crop.paste(dark, (0, 0), outline.point(lambda v: int(v * 0.55)))
    crop.paste(Image.new("RGB", size_band, block.accent), (0, 0), accent_mask)
    crop.paste(Image.new("RGB", size_band, block.caption_fill), (0, 0), caption_mask)
    crop.paste(Image.new("RGB", size_band, block.fill), (0, 0), mask)
    img.paste(crop, (0, band_top))
