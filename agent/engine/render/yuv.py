"""I420 frame buffers and the few pixel operations the renderer needs on them.

Frames stay in the encoder's own format (yuv420p, BT.601 limited range, as cv2's RGB2YUV_I420
produces) from the first warp to the pipe, so ffmpeg never runs swscale. Each plane is a view of one
contiguous buffer that is written to ffmpeg's stdin as is.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["Yuv420", "YuvPatch", "rgb_to_yuv", "cover_crop", "cover_fit"]


class Yuv420:
    """One frame: `buf` (h*3/2 x w bytes) with `y`, `u`, `v` plane views into it."""

    def __init__(self, width: int, height: int, buf: np.ndarray | None = None) -> None:
        if width % 2 or height % 2:
            raise ValueError("I420 needs even dimensions")
        self.width, self.height = width, height
        self.buf = np.empty((height * 3 // 2, width), np.uint8) if buf is None else buf
        flat = self.buf.reshape(-1)  # a view: the buffer is contiguous
        luma, chroma = width * height, (width // 2) * (height // 2)
        self.y = flat[:luma].reshape(height, width)
        self.u = flat[luma : luma + chroma].reshape(height // 2, width // 2)
        self.v = flat[luma + chroma :].reshape(height // 2, width // 2)

    @property
    def nbytes(self) -> int:
        return self.buf.nbytes

    def planes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.y, self.u, self.v


def rgb_to_yuv(rgb: np.ndarray) -> Yuv420:
    """RGB (even size) -> a new I420 frame. Rows may be strided (a crop): OpenCV reads them in place."""
    h, w = rgb.shape[:2]
    if rgb.strides[1:] != (3, 1):  # pixels not packed (an RGBA array's RGB view): OpenCV needs a copy
        rgb = np.ascontiguousarray(rgb)
    return Yuv420(w, h, cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420))


def cover_crop(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale to cover width x height (aspect kept), then centre-crop: any input size or aspect. The
    crop is a view into the scaled picture (rows strided), for a caller that converts it anyway."""
    h, w = rgb.shape[:2]
    scale = max(width / w, height / h)
    sw, sh = max(width, round(w * scale)), max(height, round(h * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    scaled = cv2.resize(rgb, (sw, sh), interpolation=interp)
    x0, y0 = (sw - width) // 2, (sh - height) // 2
    return scaled[y0 : y0 + height, x0 : x0 + width]


def cover_fit(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """`cover_crop`, as a contiguous array."""
    return np.ascontiguousarray(cover_crop(rgb, width, height))


@dataclass(frozen=True)
class YuvPatch:
    """A pre-converted RGBA overlay at (x, y) (even), alpha-blended per plane over the patch only."""

    x: int
    y: int
    planes: tuple[np.ndarray, np.ndarray, np.ndarray]
    alphas: tuple[np.ndarray, np.ndarray]  # float32 weights, luma size and chroma size
    inverse: tuple[np.ndarray, np.ndarray]  # 1 - alpha

    @classmethod
    def from_rgba(cls, rgba: np.ndarray, x: int, y: int) -> YuvPatch:
        h, w = rgba.shape[:2]
        if w % 2 or h % 2 or x % 2 or y % 2:
            raise ValueError("patch size and position must be even")
        frame = rgb_to_yuv(rgba[..., :3])
        a = rgba[..., 3].astype(np.float32) / 255.0
        a_c = cv2.resize(a, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
        planes = (frame.y.copy(), frame.u.copy(), frame.v.copy())
        return cls(x, y, planes, (a, a_c), (1.0 - a, 1.0 - a_c))

    def blend_onto(self, frame: Yuv420) -> None:
        """Blend into `frame` in place, touching only the patch rectangle of each plane."""
        for i, plane in enumerate(frame.planes()):
            scale = 1 if i == 0 else 2
            src = self.planes[i]
            h, w = src.shape
            x, y = self.x // scale, self.y // scale
            region = plane[y : y + h, x : x + w]
            a, inv = (self.alphas[0], self.inverse[0]) if i == 0 else (self.alphas[1], self.inverse[1])
            cv2.blendLinear(src, region, a, inv, dst=region)  # in place: no allocation per frame
