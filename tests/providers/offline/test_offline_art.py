"""Offline scene art: the right size, real pictures, different per scene, deterministic, fast."""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from providers.base import ImageRequest, ProviderDeps, StageContext
from providers.errors import BadOutput
from providers.offline import OfflineConfig, OfflineImageMaker
from providers.offline.art import render_scene_art
from providers.offline.typography import fold_to_font

TOPIC = "the life cycle of a star"


def image_request(out_dir: Path, index: int = 0, *, width: int = 360, height: int = 640,
                  **kw: object) -> ImageRequest:
    fields: dict[str, object] = dict(
        prompt="a star being born", style="cinematic", negative="", width=width, height=height,
        seed=1000 + index, scene_index=index, scene_count=6, out_dir=out_dir,
        title="The Life Cycle of a Star", key_phrase="Small Changes, Big Effects", topic=TOPIC,
    )
    fields.update(kw)
    return ImageRequest(**fields)  # type: ignore[arg-type]


@pytest.fixture
def maker() -> OfflineImageMaker:
    return OfflineImageMaker(OfflineConfig(), ProviderDeps(None, time.monotonic, Path(".")))


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"), dtype=np.float32)


@pytest.mark.parametrize("size", [(360, 640), (640, 360), (300, 300)])
async def test_writes_a_png_of_the_requested_size(maker: OfflineImageMaker, tmp_path: Path,
                                                  size: tuple[int, int]) -> None:
    result = await maker.make_image(image_request(tmp_path, 3, width=size[0], height=size[1]),
                                    StageContext("j"))
    assert result.path == tmp_path / "scene_03.png"
    assert (result.width, result.height) == size
    with Image.open(result.path) as img:
        assert img.format == "PNG" and img.size == size
    assert await asyncio.to_thread(os.listdir, tmp_path) == ["scene_03.png"]  # no temp files left


async def test_scenes_differ_and_are_not_blank(maker: OfflineImageMaker, tmp_path: Path) -> None:
    results = await asyncio.gather(*(
        maker.make_image(image_request(tmp_path, i, key_phrase=f"Phrase Number {i}"), StageContext("j"))
        for i in range(6)
    ))
    images = [pixels(r.path) for r in results]
    for img in images:
        assert img.std() > 12  # a picture, not a flat fill
        assert img.mean() > 12  # not black
    for i, a in enumerate(images):
        for b in images[i + 1 :]:
            assert np.abs(a - b).mean() > 6


def test_deterministic_and_seed_sensitive(tmp_path: Path) -> None:
    a = np.asarray(render_scene_art(image_request(tmp_path, 2)))
    b = np.asarray(render_scene_art(image_request(tmp_path, 2)))
    assert np.array_equal(a, b)
    c = np.asarray(render_scene_art(image_request(tmp_path, 2, seed=77)))
    assert not np.array_equal(a, c)
    other_topic = np.asarray(render_scene_art(image_request(tmp_path, 2, topic="coral reefs")))
    assert np.abs(a.astype(float) - other_topic).mean() > 4


def test_the_title_is_in_the_upper_middle_and_subtitle_band_is_calm(tmp_path: Path) -> None:
    req = image_request(tmp_path, 1, width=540, height=960)
    with_text = np.asarray(render_scene_art(req), dtype=np.float32)
    without = np.asarray(render_scene_art(replace(req, key_phrase="", title="")), dtype=np.float32)
    diff = np.abs(with_text - without).mean(axis=(1, 2))  # per row
    rows = np.nonzero(diff > 2)[0]
    assert rows.size, "no text drawn"
    assert rows.min() > 0.12 * req.height and rows.max() < 0.6 * req.height
    bottom = with_text[int(0.8 * req.height):].mean()
    assert bottom < with_text[: int(0.6 * req.height)].mean() + 5  # darker band for subtitles


@pytest.mark.parametrize("phrase", ["", "🚀🚀", "Ünïcödé — “quotes” {braces}", "x" * 120,
                                    "one two three four five six seven eight nine ten"])
def test_any_key_phrase_draws(tmp_path: Path, phrase: str) -> None:
    img = render_scene_art(image_request(tmp_path, 4, key_phrase=phrase, title=phrase))
    assert img.size == (360, 640)


def test_fold_to_font_keeps_every_script_and_emoji() -> None:
    assert fold_to_font("Élan — “hi” 🚀 Straße") == "Élan — “hi” 🚀 Straße"
    assert fold_to_font("中文") == "中文"
    assert fold_to_font("a\u0378b") == "ab"  # an unassigned code point: no font has it, it is left out


def test_absurd_sizes_are_refused(tmp_path: Path) -> None:
    with pytest.raises(BadOutput):
        render_scene_art(image_request(tmp_path, width=100_000, height=10))


def test_full_resolution_scenes_render(tmp_path: Path) -> None:
    """Full 1080x1920 art renders for several scenes (speed is a benchmark's job, not a test's)."""
    req = image_request(tmp_path, 0, width=1080, height=1920)
    for i in range(3):
        img = render_scene_art(replace(req, scene_index=i, seed=i))
        assert img.size == (1080, 1920)
