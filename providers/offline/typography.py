"""Title-slide typography for offline art, in every script (`providers.typeset`: bundled Noto fonts,
a fallback chain per character, raqm shaping and right-to-left lines).

The block is a small tracked caption, the key phrase (in capitals where the script has them), and
a thin rule, with a soft shadow and a dark outline so it reads over any background. Letter-spacing
("tracking") is applied only to plain left-to-right text in the Latin face: spacing the letters of
Arabic or Devanagari apart would break their joins, and CJK is set solid.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFilter
from uniseg.linebreak import line_break_units

from providers.typeset import FontChain, draw_line, drawable, font_chain, line_width, runs
from providers.typeset.fonts import BOLD, LATIN, REGULAR, pil_font

__all__ = ["TitleBlock", "draw_title_block", "fold_to_font"]

MAX_LINES = 3


def fold_to_font(text: str, language: str = "en") -> str:
    """`text` without what no bundled font draws (control characters, unassigned code points),
    spaces collapsed: "Élan — ünïcode 🚀" keeps every character."""
    return " ".join(drawable(text, font_chain(language)).split())


def _trackable(text: str, chain: FontChain) -> bool:
    return all(r.face == LATIN and not r.rtl for r in runs(text, chain))


def _tracked_width(text: str, chain: FontChain, size: int, tracking: float, weight: int) -> float:
    if tracking and _trackable(text, chain):
        font = pil_font(LATIN, size, weight)
        return sum(font.getlength(c) for c in text) + tracking * max(0, len(text) - 1)
    return line_width(text, chain, size, weight)


def _draw_tracked(draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, chain: FontChain,
                  size: int, tracking: float, stroke: int, weight: int) -> None:
    x, y = xy
    if tracking and _trackable(text, chain):
        font = pil_font(LATIN, size, weight)
        for ch in text:
            draw.text((x, y + size), ch, font=font, anchor="ls", fill=255, stroke_width=stroke, stroke_fill=255)
            x += font.getlength(ch) + tracking
        return
    draw_line(draw, (x, y), text, chain, size, weight=weight, anchor="left", fill=255, stroke_width=stroke)


@dataclass(frozen=True)
class TitleBlock:
    phrase: str  # the key phrase, set large in capitals
    caption: str  # a small tracked line above it (the video's title)
    fill: tuple[int, int, int]  # the phrase's colour
    accent: tuple[int, int, int]  # the rule's colour
    caption_fill: tuple[int, int, int]  # the caption's colour
    shadow: tuple[int, int, int]  # outline and shadow colour


def _splits(units: list[str], lines: int) -> list[list[str]]:
    """Every way to break `units` (line-break units, with their trailing spaces) into `lines` lines."""
    out = []
    for cuts in itertools.combinations(range(1, len(units)), lines - 1):
        bounds = (0, *cuts, len(units))
        out.append(["".join(units[a:b]).strip() for a, b in itertools.pairwise(bounds)])
    return out


def _layout(phrase: str, chain: FontChain, max_w: float, max_size: int, min_size: int) -> tuple[list[str], int]:
    """The line breaks and font size that set `phrase` largest within `max_w`."""
    units = list(line_break_units(phrase))
    if len(units) > 12:  # a long unspaced phrase: break it in 12 near-even stretches, not every character
        step = -(-len(units) // 12)
        units = ["".join(units[i:i + step]) for i in range(0, len(units), step)]
    best: tuple[float, list[str], int] = (-1.0, [phrase], min_size)
    for count in range(1, min(MAX_LINES, len(units)) + 1):
        for lines in _splits(units, count):
            widths = [_tracked_width(ln, chain, 100, 8, BOLD) for ln in lines]
            widest = max(max(widths), 1.0)
            size = int(min(max_size, max_size * 2.2 / (count + 1.2), 100 * max_w / widest))
            # Prefer fewer lines unless breaking buys a clearly larger size; among equals,
            # balanced lines ("LIFE CYCLE / OF A STAR", not "LIFE CYCLE OF / A STAR").
            score = size * (1.0 - 0.12 * (count - 1)) + size * 0.08 * min(widths) / max(widths)
            if size >= min_size and score > best[0]:
                best = (score, lines, size)
    if best[0] < 0:  # one very long word: shrink to fit rather than overflow
        size = max(8, int(100 * max_w / max(1.0, _tracked_width(phrase, chain, 100, 8, BOLD))))
        best = (0, [phrase], size)
    return best[1], best[2]


def draw_title_block(img: Image.Image, block: TitleBlock, center_y: float, language: str = "en") -> None:
    """Set `block` centred horizontally around `center_y` (a fraction of the height), in place."""
    width, height = img.size
    unit = min(width, height)
    chain = font_chain(language)
    phrase = fold_to_font(block.phrase, language).upper()
    caption = fold_to_font(block.caption, language).upper()
    if not phrase:
        phrase, caption = caption, ""
    if not phrase:
        return
    lines, size = _layout(phrase, chain, width * 0.82, int(unit * 0.13), int(unit * 0.045))
    tracking = size * 0.08
    line_h = size * 1.25
    cap_size = max(10, int(unit * 0.028))
    cap_tracking = cap_size * 0.45
    cap_text = caption if _tracked_width(caption, chain, cap_size, cap_tracking, REGULAR) < width * 0.8 else ""
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
        cw = _tracked_width(cap_text, chain, cap_size, cap_tracking, REGULAR)
        _draw_tracked(ImageDraw.Draw(caption_mask), ((width - cw) / 2, y), cap_text, chain, cap_size,
                      cap_tracking, 0, REGULAR)
        _draw_tracked(od, ((width - cw) / 2, y), cap_text, chain, cap_size, cap_tracking, 2, REGULAR)
        y += cap_size + gap
    for line in lines:
        lw = _tracked_width(line, chain, size, tracking, BOLD)
        x = (width - lw) / 2
        _draw_tracked(md, (x, y - size * 0.12), line, chain, size, tracking, weight, BOLD)
        _draw_tracked(od, (x, y - size * 0.12), line, chain, size, tracking,
                      weight + max(2, round(size * 0.035)), BOLD)
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
