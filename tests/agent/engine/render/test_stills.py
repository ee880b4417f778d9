"""Loading stills: EXIF rotation applied, big JPEGs decoded at reduced scale but never below what
the frame needs, and the same picture either way."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from agent.engine.render.motion import load_rgb, source_size
from agent.engine.render.yuv import cover_crop, cover_fit, rgb_to_yuv


def _photo(path: Path, size: tuple[int, int], orientation: int | None) -> np.ndarray:
    """A smooth picture with a red top-left quadrant, saved as JPEG (with an EXIF orientation)."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.stack([xx * 255 // w, yy * 255 // h, np.full_like(xx, 90)], axis=-1).astype(np.uint8)
    rgb[: h // 2, : w // 2] = (230, 20, 20)
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    Image.fromarray(rgb).save(path, quality=92, exif=exif)
    return rgb


@pytest.mark.parametrize("orientation", [None, 1, 6, 8, 3])
def test_a_big_jpeg_is_decoded_smaller_yet_covers_the_frame_and_shows_the_same_picture(tmp_path, orientation):
    path = tmp_path / "photo.jpg"
    _photo(path, (3200, 2400), orientation)
    cover = source_size(360, 640)  # 432 x 768, portrait
    reduced = load_rgb(path, cover)
    full = load_rgb(path)

    quarter = orientation in (6, 8)
    assert full.shape[:2] == ((3200, 2400) if quarter else (2400, 3200))
    assert reduced.shape[0] < full.shape[0] and reduced.shape[1] < full.shape[1]  # libjpeg scaled it
    scale = max(cover[0] / reduced.shape[1], cover[1] / reduced.shape[0])
    assert scale <= 1.0  # still covers the pre-scaled frame: no upscaling from a draft
    a, b = cover_fit(reduced, *cover).astype(int), cover_fit(full, *cover).astype(int)
    assert np.abs(a - b).mean() < 3  # the same picture, rotated the same way


def test_small_stills_and_other_formats_load_as_before(tmp_path):
    rgba = np.zeros((60, 40, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 255
    Image.fromarray(rgba).save(tmp_path / "s.png")
    got = load_rgb(tmp_path / "s.png", (400, 400))
    assert got.shape == (60, 40, 3) and (got[..., 0] == 200).all()


def test_a_cropped_view_converts_as_a_copy_does():
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 255, (300, 200, 3), np.uint8)
    view = cover_crop(rgb, 120, 200)
    assert not view.flags.c_contiguous  # a crop of the scaled picture, not a copy
    assert np.array_equal(rgb_to_yuv(view).buf, rgb_to_yuv(np.ascontiguousarray(view)).buf)
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    assert np.array_equal(rgb_to_yuv(rgba[..., :3]).buf, cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420))
