"""Typography for the title card and subtitle patches, in every script (`providers.typeset`:
bundled Noto fonts with a per-character fallback chain, raqm shaping, right-to-left lines, line
breaks between CJK characters and never inside a grapheme cluster).

Everything here runs once per video (title) or once per cue (subtitles), never per frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from agent.engine.render.yuv import YuvPatch, cover_fit
from providers.typeset import FontChain, draw_line, font_chain, line_width, widest_unit, wrap
from providers.typeset.fonts import BOLD

TITLE_MAX_LINES = 4
SUBTITLE_WEIGHT = 600

__all__ = ["SafeArea", "safe_area", "title_card", "title_lines", "SubtitleStyle", "subtitle_style", "subtitle_patch"]


@dataclass(frozen=True)
class SafeArea:
    """Pixels to keep clear of app UI on each edge of the frame."""

    left: int
    right: int
    top: int
    bottom: int


def safe_area(width: int, height: int) -> SafeArea:
    """Portrait apps (Shorts, Reels, TikTok) overlay captions and buttons on the bottom ~18 % and
    the right edge; landscape players only a thin control bar."""
    if height > width:
        return SafeArea(
            left=round(width * 0.08), right=round(width * 0.12),
            top=round(height * 0.1), bottom=round(height * 0.18),
        )
    return SafeArea(
        left=round(width * 0.06), right=round(width * 0.06),
        top=round(height * 0.06), bottom=round(height * 0.1),
    )


def title_lines(title: str, width: int, height: int, language: str = "en") -> tuple[list[str], int]:
    """The title's lines and font size: the largest size at which it takes at most
    TITLE_MAX_LINES lines, none wider than the safe area (less the outline)."""
    area = safe_area(width, height)
    usable = width - area.left - area.right
    chain = font_chain(language)
    size = max(12, round(min(width, height) * 0.095))
    while True:
        margin = 2 * max(1, size // 40) + size * 0.03  # the outline and the drop shadow
        lines = wrap(title.strip(), chain, size, usable - margin, BOLD) or [" "]
        fits = (len(lines) <= TITLE_MAX_LINES and round(size * 1.3) * len(lines) <= height - area.top - area.bottom
                and widest_unit(title, chain, size, BOLD) <= usable - margin)  # no word cut in two
        if fits or size <= 12:
            return _balanced(title, chain, size, usable - margin, lines), size
        size = max(12, round(size * 0.9))


def _balanced(title: str, chain: FontChain, size: int, max_width: float, lines: list[str]) -> list[str]:
    """The same number of lines, as even as they come: no lone word or character on the last line."""
    if len(lines) < 2:
        return lines
    total = sum(line_width(ln, chain, size, BOLD) for ln in lines)
    width = total / len(lines)
    while width < max_width:
        even = wrap(title.strip(), chain, size, width, BOLD)
        if len(even) == len(lines):
            return even
        width += max_width * 0.03
    return lines


def title_card(title: str, width: int, height: int, background: np.ndarray | None,
               language: str = "en") -> np.ndarray:
    """The opening card: the first scene blurred and darkened, the title large and centred."""
    if background is not None:
        # blurred at a quarter size and scaled up: the same look for 1/16 of the work
        small = Image.fromarray(cover_fit(background, max(2, width // 4), max(2, height // 4)))
        small = small.filter(ImageFilter.GaussianBlur(radius=max(1, width // 160)))
        base = small.resize((width, height), Image.Resampling.BICUBIC)
        base = Image.blend(base, Image.new("RGB", base.size, (8, 10, 18)), 0.55)
    else:
        ramp = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
        top, bottom = np.array([22, 28, 48], np.float32), np.array([6, 8, 14], np.float32)
        base = Image.fromarray(np.broadcast_to(top * (1 - ramp) + bottom * ramp, (height, width, 3)).astype(np.uint8))
    area = safe_area(width, height)
    usable = width - area.left - area.right
    lines, size = title_lines(title, width, height, language)
    chain = font_chain(language)
    draw = ImageDraw.Draw(base)
    line_h = round(size * 1.3)
    block_h = line_h * len(lines)
    cx = area.left + usable / 2
    y = (height - block_h) / 2 - height * 0.04
    bar_w, bar_h = round(usable * 0.18), max(2, round(size * 0.08))
    draw.rectangle((cx - bar_w / 2, y - size * 0.7, cx + bar_w / 2, y - size * 0.7 + bar_h), fill=(255, 196, 64))
    for line in lines:
        draw_line(draw, (cx + size * 0.03, y + size * 0.05), line, chain, size, weight=BOLD, fill=(0, 0, 0))
        draw_line(draw, (cx, y), line, chain, size, weight=BOLD, fill=(255, 255, 255),
                  stroke_width=max(1, size // 40))
        y += line_h
    return np.asarray(base)


@dataclass(frozen=True)
class SubtitleStyle:
    font_size: int
    max_width: int  # pixels a line may use
    centre_x: int
    bottom_y: int  # the patch's bottom edge
    language: str = "en"


def subtitle_style(width: int, height: int, longest_lines: list[str], language: str = "en") -> SubtitleStyle:
    """One font size for the whole video, shrunk only if a line would leave the safe area."""
    area = safe_area(width, height)
    usable = width - area.left - area.right
    size = max(10, round(min(width, height) * 0.05))
    while size > 10 and lines_too_wide(longest_lines, size, usable - _box_padding(size), language):
        size -= 1
    return SubtitleStyle(size, usable, area.left + usable // 2, height - area.bottom, language)


def _box_padding(size: int) -> int:
    return 2 * round(size * 0.6) + 2 * max(1, size // 16)  # the box's padding and the outline


def lines_too_wide(lines: list[str], size: int, width: int, language: str = "en") -> bool:
    chain = font_chain(language)
    return any(line_width(line, chain, size, SUBTITLE_WEIGHT) > width for line in lines)


def subtitle_patch(lines: tuple[str, ...], style: SubtitleStyle, frame_w: int) -> YuvPatch:
    """Semi-transparent rounded box + outlined white text, as a small I420 patch with alpha."""
    size, chain = style.font_size, font_chain(style.language)
    pad_y = round(size * 0.35)
    line_h = round(size * 1.4)  # room for Thai and Devanagari marks above and below
    text_w = max(line_width(line, chain, size, SUBTITLE_WEIGHT) for line in lines)
    w = min(frame_w, int(text_w) + _box_padding(size))
    h = line_h * len(lines) + 2 * pad_y
    w, h = w + w % 2, h + h % 2
    img = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    draw.rounded_rectangle((0, 0, w - 1, h - 1), radius=round(size * 0.35), fill=(0, 0, 0, 140))
    for i, line in enumerate(lines):
        draw_line(draw, (w / 2, pad_y + i * line_h + (line_h - size * 1.25) / 2), line, chain, size,
                  weight=SUBTITLE_WEIGHT, fill=(255, 255, 255, 255), stroke_width=max(1, size // 16),
                  stroke_fill=(0, 0, 0, 255))
    x = max(0, style.centre_x - w // 2)
    x -= x % 2
    y = style.bottom_y - h
    y -= y % 2
    return YuvPatch.from_rgba(np.asarray(img), x, y)
