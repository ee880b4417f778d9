"""Offline scene art: a designed title slide per scene, drawn with Pillow and numpy.

Each image is a graded sky, one composition from `motifs` (chosen so consecutive scenes differ),
bloom, a vignette that also darkens the subtitle band, film grain, and the scene's key phrase set
as a title block in the upper middle. Everything follows from the request: the palette from the
topic, the composition from the topic and scene index, the details from the seed, so the same
request gives the same PNG. Shapes are drawn at half size and scaled up (they are soft anyway);
fine lines, stars and type are drawn at full size. A 1080x1920 frame takes well under a second.
The provider class is `providers.offline.images.OfflineImageMaker`, which imports this module (and
with it Pillow and numpy) when it first draws.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
from PIL import Image, ImageChops, ImageFilter

from providers.base import ImageRequest
from providers.errors import BadOutput
from providers.media import atomic_file
from providers.offline.motifs import MOTIFS, TEXT_Y, Layers, Palette, palette_for
from providers.offline.topic import stable_seed
from providers.offline.typography import TitleBlock, draw_title_block

__all__ = ["render_scene_art", "write_png_atomic"]

SOFT_SCALE = 2  # soft layers are drawn at 1/SOFT_SCALE of the output size
MAX_SIDE = 4096  # refuse absurd sizes rather than allocate gigabytes
PNG_COMPRESS_LEVEL = 1  # grain defeats compression: higher levels cost 2-4x the time for ~3%
GRAIN_TILE = 512


def _sky(size: tuple[int, int], pal: Palette, rng: random.Random) -> np.ndarray:
    """The background as float32 RGB in 0..1: a vertical grade with a soft off-centre glow."""
    w, h = size
    y = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    top, low, deep = (np.asarray(c, dtype=np.float32) / 255 for c in (pal.sky_top, pal.sky_low, pal.deep))
    horizon = rng.uniform(0.55, 0.68)
    upper = top + (low - top) * np.clip(y / horizon, 0, 1) ** 1.6
    sky = np.where(y < horizon, upper, low + (deep - low) * np.clip((y - horizon) / (1 - horizon), 0, 1))
    sky = np.broadcast_to(sky, (h, w, 3)).copy()
    gx, gy = rng.uniform(0.2, 0.8) * w, rng.uniform(0.15, 0.4) * h
    xs = np.arange(w, dtype=np.float32)[None, :]
    ys = np.arange(h, dtype=np.float32)[:, None]
    glow = np.exp(-(((xs - gx) ** 2 + (ys - gy) ** 2) / (2 * (0.45 * min(w, h)) ** 2)))
    sky += glow[:, :, None] * (np.asarray(pal.mid, dtype=np.float32) / 255) * 0.35
    return sky


def _shade(size: tuple[int, int]) -> Image.Image:
    """The vignette, a darker subtitle band and a quiet patch behind the title, as an RGB
    multiplier. It is smooth, so it is computed small and scaled up."""
    w, h = max(4, size[0] // 8), max(4, size[1] // 8)
    ys = np.linspace(-1.0, 1.0, h, dtype=np.float32)[:, None]
    xs = np.linspace(-1.0, 1.0, w, dtype=np.float32)[None, :]
    aspect = size[0] / size[1]
    shade = 1.0 - 0.42 * np.clip((xs * aspect) ** 2 * 0.5 + ys**2 * 0.5, 0, 1.4) ** 1.5
    v = (ys + 1) / 2  # 0 top .. 1 bottom
    shade = shade * (1.0 - 0.45 * np.clip((v - 0.7) / 0.3, 0, 1) ** 1.2)  # subtitle band
    text_patch = np.exp(-(((v - TEXT_Y) / 0.11) ** 2)) * np.exp(-((xs / 0.9) ** 2))
    shade = shade * (1.0 - 0.28 * text_patch)
    small = Image.fromarray((np.clip(shade, 0, 1) * 255 + 0.5).astype(np.uint8))
    return small.resize(size, Image.Resampling.BILINEAR).convert("RGB")


def _add_grain(img: Image.Image, strength: float, seed: int) -> Image.Image:
    """Monochrome film grain. A random tile is repeated: at this amplitude no eye finds the seam,
    and it costs a fraction of a full-frame draw."""
    if strength <= 0:
        return img
    tile = np.random.default_rng(seed).standard_normal((GRAIN_TILE, GRAIN_TILE), dtype=np.float32)
    tile = np.round(tile * strength * 255).astype(np.int16)
    w, h = img.size
    reps = (-(-h // GRAIN_TILE), -(-w // GRAIN_TILE))
    noise = np.tile(tile, reps)[:h, :w, None]
    arr = np.asarray(img, dtype=np.int16) + noise
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def render_scene_art(request: ImageRequest, grain: float = 0.035) -> Image.Image:
    """The finished RGB image for one scene. Pure and deterministic."""
    width, height = request.width, request.height
    if not (16 <= width <= MAX_SIDE and 16 <= height <= MAX_SIDE):
        raise BadOutput(f"cannot draw a {width}x{height} image", provider="offline")
    theme = request.topic or request.title or request.prompt
    theme_seed = stable_seed("offline-art", theme.casefold())
    pal = palette_for(theme_seed, request.scene_index)
    order = list(range(len(MOTIFS)))
    random.Random(theme_seed).shuffle(order)
    motif = MOTIFS[order[request.scene_index % len(order)]]
    rng = random.Random(stable_seed("offline-art", request.seed, request.scene_index, theme))

    soft_size = (max(8, width // SOFT_SCALE), max(8, height // SOFT_SCALE))
    layers = Layers(
        soft=Image.new("RGBA", soft_size, (0, 0, 0, 0)),
        crisp=Image.new("RGBA", (width, height), (0, 0, 0, 0)),
        glow=Image.new("RGBA", soft_size, (0, 0, 0, 0)),
        pal=pal,
        rng=rng,
    )
    sky = _sky(soft_size, pal, rng)
    motif(layers)

    base = Image.fromarray(np.clip(sky * 255, 0, 255).astype(np.uint8)).convert("RGBA")
    base.alpha_composite(layers.soft.filter(ImageFilter.GaussianBlur(0.8)))
    bloom = layers.glow.filter(ImageFilter.GaussianBlur(min(soft_size) * 0.06))
    arr = np.asarray(base.convert("RGB"), dtype=np.float32) / 255
    b = np.asarray(bloom, dtype=np.float32) / 255
    arr = 1 - (1 - arr) * (1 - b[:, :, :3] * b[:, :, 3:4])  # screen blend: light adds, never clips
    full = Image.fromarray((arr * 255 + 0.5).astype(np.uint8)).resize(
        (width, height), Image.Resampling.BICUBIC
    )
    full = full.convert("RGBA")
    full.alpha_composite(layers.crisp)
    img = ImageChops.multiply(full.convert("RGB"), _shade((width, height)))
    img = _add_grain(img, grain, rng.getrandbits(32))

    phrase = request.key_phrase or request.title
    caption = request.title if request.title and request.title != phrase else ""
    draw_title_block(
        img,
        TitleBlock(phrase=phrase, caption=caption, fill=pal.ink, accent=pal.accent,
                   caption_fill=pal.highlight, shadow=pal.shade),
        TEXT_Y,
        request.language,
    )
    return img


def write_png_atomic(img: Image.Image, path: Path) -> None:
    """Write `img` as a PNG to `path`, atomically."""
    with atomic_file(path) as fh:
        img.save(fh, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
