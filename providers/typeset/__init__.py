"""Text that renders in every script: bundled Noto fonts, a per-character fallback chain, line
breaking that respects grapheme clusters and scripts without spaces, and right-to-left lines.

    chain = font_chain("ja")                     # the fonts to try, in order, for a language
    lines = wrap(text, chain, size, max_width)   # UAX #14 line breaks, measured in pixels
    draw_line(draw, (x, y), line, chain, size)   # runs of one font each, shaped by raqm

Shared by the renderer (title card, subtitles) and the offline art (its title block), which is why
it lives under providers/ (the lowest layer both may import). Pillow, fontTools and uniseg load with
it: import it where text is drawn, not in light modules.
"""

from providers.typeset.fonts import Face, FontChain, font_chain, glyph_face
from providers.typeset.layout import (
    Run,
    base_direction,
    draw_line,
    drawable,
    line_width,
    runs,
    visual_runs,
    widest_unit,
    wrap,
)

__all__ = [
    "Face", "FontChain", "font_chain", "glyph_face", "Run", "runs", "base_direction", "draw_line",
    "drawable", "line_width", "wrap", "visual_runs", "widest_unit",
]
