"""Inputs for renderer tests, made on the spot: WAVs with numpy + wave, stills with Pillow, clips
with ffmpeg's lavfi test source. Nothing is downloaded."""

from __future__ import annotations

import subprocess
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from agent.engine.render.ffmpeg import ffmpeg_exe


def write_wav(path: Path, seconds: float, *, freq: float = 220.0, rate: int = 22050,
              channels: int = 1, level: float = 0.3) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    tone = level * np.sin(2 * np.pi * freq * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    pcm = (np.repeat(tone[:, None], channels, axis=1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return path


def write_still(path: Path, size: tuple[int, int], seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", size, tuple(int(v) for v in rng.integers(0, 255, 3)))
    draw = ImageDraw.Draw(img)
    for _ in range(25):
        x, y, r = rng.integers(0, size[0]), rng.integers(0, size[1]), rng.integers(5, max(6, size[0] // 5))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
    img.save(path)
    return path


def write_clip(path: Path, seconds: float, size: str = "320x240", rate: int = 25) -> Path:
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", f"testsrc=size={size}:rate={rate}:duration={seconds}",
         "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-y", str(path)],
        check=True, stdin=subprocess.DEVNULL,
    )
    return path


@pytest.fixture
def media(tmp_path: Path) -> Callable[..., Path]:
    """media(kind, name, **kw) -> a file under tmp_path/in."""
    folder = tmp_path / "in"
    folder.mkdir()
    makers = {"wav": write_wav, "still": write_still, "clip": write_clip}

    def make(kind: str, name: str, *args: object, **kwargs: object) -> Path:
        return makers[kind](folder / name, *args, **kwargs)  # type: ignore[operator]

    return make
