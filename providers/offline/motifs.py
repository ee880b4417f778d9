"""Palettes and compositions for offline scene art.

A `Palette` comes from the topic, so every scene of a video shares one colour family; each scene
drifts its hues a little. A motif draws one composition (a setting sun over bands, orbits,
a starfield with nebulae, layered dunes, a sunburst, bokeh, Bauhaus shapes, ripples) onto two
layers: `soft` at reduced size, blurred into glows and forms, and `crisp` at full size for fine
detail. Coordinates are fractions of the frame, so any aspect ratio works; sizes are fractions of
its shorter side. The title sits around `TEXT_Y`; motifs keep their busiest parts away from it and
from the bottom quarter, which subtitles cover.
"""

from __future__ import annotations

import colorsys
import math
import random
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image, ImageDraw

__all__ = ["Palette", "palette_for", "Layers", "MOTIFS", "TEXT_Y"]

RGB = tuple[int, int, int]
TEXT_Y = 0.36  # the title block's centre, as a fraction of the height


def _hls(h: float, light: float, s: float) -> RGB:
    r, g, b = colorsys.hls_to_rgb(h % 1.0, min(1.0, max(0.0, light)), min(1.0, max(0.0, s)))
    return round(r * 255), round(g * 255), round(b * 255)


@dataclass(frozen=True)
class Palette:
    sky_top: RGB  # background, top of the frame
    sky_low: RGB  # background toward the horizon
    deep: RGB  # the darkest tone: foreground silhouettes, bottom of the frame
    mid: RGB  # forms
    accent: RGB  # glows, the sun, the rule under the title
    highlight: RGB  # sparks, rims
    ink: RGB  # the title's colour
    shade: RGB  # outlines and shadows


# (sky hue, accent hue) pairs from film grading: skies that stay rich when dark (olive and
# mustard turn to mud), each with an accent that glows against it.
_PAIRS = (
    (0.62, 0.09),  # navy and amber
    (0.50, 0.06),  # teal and orange
    (0.74, 0.13),  # violet and gold
    (0.85, 0.05),  # plum and coral
    (0.97, 0.12),  # wine and gold
    (0.04, 0.52),  # ember and cyan
    (0.57, 0.95),  # steel blue and rose
    (0.45, 0.10),  # pine and amber
    (0.68, 0.90),  # indigo and pink
    (0.78, 0.48),  # purple and aqua
    (0.60, 0.54),  # deep blue and ice
)


def palette_for(seed: int, scene_index: int) -> Palette:
    """A colour family from `seed` (the topic's), drifting a little with each scene."""
    rng = random.Random(seed)
    sky_h, accent_h = rng.choice(_PAIRS)
    drift = 0.02 * ((scene_index * 7) % 5 - 2)  # each scene leans a little warmer or cooler
    h = sky_h + rng.uniform(-0.02, 0.02) + drift
    accent_h += rng.uniform(-0.015, 0.015) + drift / 2
    sat = rng.uniform(0.5, 0.7)
    return Palette(
        sky_top=_hls(h + 0.03, rng.uniform(0.06, 0.1), sat),
        sky_low=_hls(h - 0.03, rng.uniform(0.2, 0.27), sat * 0.9),
        deep=_hls(h + 0.02, 0.03, sat * 0.6),
        mid=_hls(h - 0.05, 0.36, sat),
        accent=_hls(accent_h, 0.58, 0.92),
        highlight=_hls(accent_h + 0.02, 0.85, 0.9),
        ink=_hls(accent_h, 0.96, 0.45),
        shade=_hls(h, 0.03, 0.5),
    )


@dataclass
class Layers:
    """What a motif draws on. `soft` is RGBA at 1/`scale` size; `crisp` is RGBA at full size."""

    soft: Image.Image
    crisp: Image.Image
    glow: Image.Image  # RGBA at soft size, blurred hard and added on top: bloom
    pal: Palette
    rng: random.Random

    @property
    def unit_soft(self) -> float:
        return min(self.soft.size)

    @property
    def unit_crisp(self) -> float:
        return min(self.crisp.size)


def _rgba(c: RGB, a: float) -> tuple[int, int, int, int]:
    return c[0], c[1], c[2], max(0, min(255, round(a * 255)))


def _circle(draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float, fill=None, outline=None,
            width: int = 1) -> None:
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill, outline=outline, width=width)


def _stars(lay: Layers, count: int, y_max: float, bright: int) -> None:
    d = ImageDraw.Draw(lay.crisp)
    w, h = lay.crisp.size
    for i in range(count):
        x, y = lay.rng.random() * w, (lay.rng.random() ** 1.3) * h * y_max
        big = i < bright
        r = lay.unit_crisp * (0.004 if big else lay.rng.uniform(0.0008, 0.0022))
        a = lay.rng.uniform(0.35, 0.95)
        _circle(d, x, y, r, fill=_rgba(lay.pal.highlight, a))
        if big:  # a four-point flare
            arm = r * 6
            d.line((x - arm, y, x + arm, y), fill=_rgba(lay.pal.highlight, 0.5), width=1)
            d.line((x, y - arm, x, y + arm), fill=_rgba(lay.pal.highlight, 0.5), width=1)
            _circle(ImageDraw.Draw(lay.glow), x * lay.glow.size[0] / w, y * lay.glow.size[1] / h,
                    r * 4 * lay.glow.size[0] / w, fill=_rgba(lay.pal.accent, 0.6))


def _ridge(lay: Layers, base_y: float, amp: float, waves: float, color: RGB, alpha: float) -> None:
    """A silhouette of summed sines from `base_y` (fraction of height) down to the bottom."""
    d = ImageDraw.Draw(lay.soft)
    w, h = lay.soft.size
    phase = [lay.rng.random() * 6.28 for _ in range(3)]
    pts = []
    for i in range(0, w + 8, 4):
        t = i / w
        y = (math.sin(t * waves * 6.28 + phase[0]) * 0.6
             + math.sin(t * waves * 2.3 * 6.28 + phase[1]) * 0.3
             + math.sin(t * waves * 5.1 * 6.28 + phase[2]) * 0.1)
        pts.append((i, (base_y + amp * y) * h))
    d.polygon([*pts, (w, h), (0, h)], fill=_rgba(color, alpha))


def _mix(a: RGB, b: RGB, t: float) -> RGB:
    return tuple(round(x + (y - x) * t) for x, y in zip(a, b, strict=True))  # type: ignore[return-value]


def sun_over_bands(lay: Layers) -> None:
    """A big setting sun cut by horizontal bands, a ridge line in front."""
    w, h = lay.soft.size
    d = ImageDraw.Draw(lay.soft)
    cx, cy, r = w * lay.rng.uniform(0.4, 0.6), h * 0.65, lay.unit_soft * lay.rng.uniform(0.27, 0.33)
    r = min(r, cy - h * (TEXT_Y + 0.1))  # in landscape the disc would rise into the title
    steps = 24
    for i in range(steps):  # vertical gradient inside the disc, drawn as stacked slices
        t = i / steps
        y0, y1 = cy - r + 2 * r * t, cy - r + 2 * r * (t + 1 / steps)
        band = Image.new("L", lay.soft.size, 0)
        ImageDraw.Draw(band).ellipse((cx - r, cy - r, cx + r, cy + r), fill=255)
        ImageDraw.Draw(band).rectangle((0, 0, w, y0), fill=0)
        ImageDraw.Draw(band).rectangle((0, y1, w, h), fill=0)
        colour = _mix(lay.pal.highlight, lay.pal.accent, t)
        gap = t > 0.45 and i % 3 == 0  # the synthwave cuts in the lower half
        if not gap:
            lay.soft.paste(Image.new("RGBA", lay.soft.size, _rgba(colour, 1)), (0, 0), band)
    _circle(ImageDraw.Draw(lay.glow), cx, cy, r * 1.25, fill=_rgba(lay.pal.accent, 0.8))
    _ridge(lay, 0.75, 0.03, 1.4, lay.pal.mid, 0.9)
    _ridge(lay, 0.82, 0.025, 2.2, lay.pal.deep, 1.0)
    d.rectangle((0, 0.86 * h, w, h), fill=_rgba(lay.pal.deep, 1))
    _stars(lay, 90, 0.5, 3)


def orbits(lay: Layers) -> None:
    """A glowing body with tilted orbit rings and small moons."""
    w, h = lay.crisp.size
    cx, cy = w * lay.rng.uniform(0.35, 0.65), h * lay.rng.uniform(0.58, 0.66)
    u = lay.unit_crisp
    body = u * lay.rng.uniform(0.12, 0.17)
    sw, sh = lay.soft.size
    s = sw / w
    _circle(ImageDraw.Draw(lay.glow), cx * s, cy * s, body * 1.9 * s, fill=_rgba(lay.pal.accent, 0.9))
    d = ImageDraw.Draw(lay.soft)
    _circle(d, cx * s, cy * s, body * s, fill=_rgba(lay.pal.mid, 1))
    _circle(d, cx * s - body * s * 0.25, cy * s - body * s * 0.3, body * s * 0.7,
            fill=_rgba(lay.pal.accent, 0.55))
    c = ImageDraw.Draw(lay.crisp)
    tilt = lay.rng.uniform(0.28, 0.45)
    for k in range(5):
        rx = body * (1.8 + k * 0.75)
        ry = rx * tilt
        c.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), outline=_rgba(lay.pal.highlight, 0.5 - k * 0.07),
                  width=max(2, round(u * 0.0025)))
        ang = lay.rng.random() * 6.28
        _circle(c, cx + rx * math.cos(ang), cy + ry * math.sin(ang), u * 0.011,
                fill=_rgba(lay.pal.highlight, 0.95))
    _stars(lay, 140, 1.0, 4)


def nebula(lay: Layers) -> None:
    """A diagonal band of glowing gas under the title, in a dense starfield."""
    w, h = lay.soft.size
    g = ImageDraw.Draw(lay.glow)
    y0, y1 = lay.rng.uniform(0.72, 0.82), lay.rng.uniform(0.5, 0.6)
    if lay.rng.random() < 0.5:
        y0, y1 = y1, y0
    for i in range(46):
        t = lay.rng.random()
        x = w * t
        y = h * (y0 + (y1 - y0) * t + lay.rng.gauss(0, 0.045))
        r = lay.unit_soft * lay.rng.uniform(0.05, 0.13)
        colour = (lay.pal.accent, lay.pal.mid, lay.pal.highlight)[i % 3]
        _circle(g, x, y, r, fill=_rgba(colour, lay.rng.uniform(0.35, 0.7)))
    _stars(lay, 300, 1.0, 7)


def dunes(lay: Layers) -> None:
    """Layered hills fading into haze under a low moon."""
    w, h = lay.soft.size
    mx, my = w * lay.rng.uniform(0.25, 0.75), h * lay.rng.uniform(0.52, 0.6)
    mr = lay.unit_soft * lay.rng.uniform(0.07, 0.1)
    _circle(ImageDraw.Draw(lay.glow), mx, my, mr * 3, fill=_rgba(lay.pal.accent, 0.55))
    _circle(ImageDraw.Draw(lay.soft), mx, my, mr, fill=_rgba(lay.pal.highlight, 1))
    layers = 6
    for i in range(layers):
        t = i / (layers - 1)
        _ridge(lay, 0.6 + t * 0.24, 0.05 - t * 0.02, lay.rng.uniform(0.8, 1.8),
               _mix(_mix(lay.pal.sky_low, lay.pal.mid, 0.5), lay.pal.deep, t), 1.0)
    _stars(lay, 60, 0.45, 2)


def sunburst(lay: Layers) -> None:
    """Rays fanning from a bright point low in the frame."""
    w, h = lay.soft.size
    cx, cy = w * lay.rng.uniform(0.3, 0.7), h * 0.68
    ray = Image.new("RGBA", lay.soft.size, (0, 0, 0, 0))
    d = ImageDraw.Draw(ray)
    n = lay.rng.choice((14, 18, 24))
    reach = max(w, h) * 1.2
    spin = lay.rng.random() * 6.28
    for i in range(n):
        a0 = spin + i * 6.28 / n
        a1 = a0 + 6.28 / n * 0.45
        d.polygon([(cx, cy), (cx + reach * math.cos(a0), cy + reach * math.sin(a0)),
                   (cx + reach * math.cos(a1), cy + reach * math.sin(a1))],
                  fill=_rgba(lay.pal.mid, 0.32))
    lay.soft.alpha_composite(ray)
    g = ImageDraw.Draw(lay.glow)
    _circle(g, cx, cy, lay.unit_soft * 0.3, fill=_rgba(lay.pal.accent, 0.9))
    _circle(ImageDraw.Draw(lay.soft), cx, cy, lay.unit_soft * 0.09, fill=_rgba(lay.pal.highlight, 1))
    _ridge(lay, 0.82, 0.02, 1.0, lay.pal.deep, 1.0)


def bokeh(lay: Layers) -> None:
    """Out-of-focus discs of light above and below the title, large and small."""
    w, h = lay.soft.size
    d = ImageDraw.Draw(lay.soft)
    g = ImageDraw.Draw(lay.glow)
    white = (255, 255, 255)
    for i in range(30):
        big = i < 5
        band = (TEXT_Y + 0.2, 0.75) if big else (0.02, 0.17) if i % 3 == 0 else (TEXT_Y + 0.12, 0.8)
        x, y = w * lay.rng.random(), h * lay.rng.uniform(*band)
        r = lay.unit_soft * (lay.rng.uniform(0.08, 0.12) if big else lay.rng.uniform(0.012, 0.05))
        colour = (lay.pal.accent, lay.pal.highlight, lay.pal.mid)[i % 3]
        alpha = lay.rng.uniform(0.1, 0.2) if big else lay.rng.uniform(0.25, 0.55)
        _circle(d, x, y, r, fill=_rgba(colour, alpha),
                outline=_rgba(_mix(colour, white, 0.4), alpha + 0.15), width=max(1, round(r * 0.05)))
        if not big and i % 4 == 1:
            _circle(g, x, y, r * 1.6, fill=_rgba(lay.pal.accent, 0.5))
    _ridge(lay, 0.84, 0.015, 0.8, lay.pal.deep, 0.9)


def bauhaus(lay: Layers) -> None:
    """Flat poster geometry: a half disc, a quarter arc, bars and a dot."""
    w, h = lay.soft.size
    u = lay.unit_soft
    d = ImageDraw.Draw(lay.soft)
    cx = w * lay.rng.choice((0.3, 0.7))
    cy = h * 0.66
    r = min(u * 0.36, cy - h * (TEXT_Y + 0.08))
    d.pieslice((cx - r, cy - r, cx + r, cy + r), 180, 360, fill=_rgba(lay.pal.accent, 0.95))
    d.rectangle((0, cy, w, cy + u * 0.035), fill=_rgba(lay.pal.highlight, 0.9))
    qx = w - cx
    d.pieslice((qx - r * 0.8, cy + u * 0.05, qx + r * 0.8, cy + u * 0.05 + r * 1.6), 180, 270,
               fill=_rgba(lay.pal.mid, 0.95))
    for k in range(4):
        y = h * 0.1 + k * u * 0.05
        d.rectangle((w * 0.08, y, w * 0.08 + u * (0.4 - k * 0.08), y + u * 0.014),
                    fill=_rgba(lay.pal.mid, 0.7))
    _circle(d, w * 0.85, h * 0.12, u * 0.045, fill=_rgba(lay.pal.highlight, 0.95))
    _circle(ImageDraw.Draw(lay.glow), cx, cy - r * 0.35, r * 0.75, fill=_rgba(lay.pal.accent, 0.4))
    d.rectangle((0, cy + u * 0.035, w, h), fill=_rgba(lay.pal.deep, 0.85))


def ripples(lay: Layers) -> None:
    """Concentric rings spreading from a point, some broken into arcs."""
    w, h = lay.crisp.size
    u = lay.unit_crisp
    cx, cy = w * lay.rng.uniform(0.3, 0.7), h * lay.rng.uniform(0.6, 0.7)
    c = ImageDraw.Draw(lay.crisp)
    s = lay.soft.size[0] / w
    _circle(ImageDraw.Draw(lay.glow), cx * s, cy * s, u * 0.2 * s, fill=_rgba(lay.pal.accent, 0.9))
    _circle(ImageDraw.Draw(lay.soft), cx * s, cy * s, u * 0.03 * s, fill=_rgba(lay.pal.highlight, 1))
    for k in range(1, 11):
        r = u * 0.07 * k ** 1.15
        alpha = 0.6 * (1 - k / 12)
        width = max(2, round(u * 0.003 * (1.5 if k % 3 == 0 else 1)))
        box = (cx - r, cy - r * 0.55, cx + r, cy + r * 0.55)
        if k % 2:
            c.ellipse(box, outline=_rgba(lay.pal.highlight, alpha), width=width)
        else:
            start = lay.rng.uniform(0, 360)
            c.arc(box, start, start + lay.rng.uniform(120, 250), fill=_rgba(lay.pal.accent, alpha + 0.2),
                  width=width * 2)
    _stars(lay, 70, 0.4, 2)


MOTIFS: tuple[Callable[[Layers], None], ...] = (
    sun_over_bands, orbits, dunes, nebula, sunburst, ripples, bokeh, bauhaus,
)
