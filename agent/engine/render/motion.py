"""Ken Burns motion on a still: slow zoom and pan, sub-pixel smooth, in native code.

The still is cover-fitted once to ZOOM_HEADROOM x the output size and converted to I420. Each frame
is then one bilinear scale + shift per plane (Y, U, V): no integer crops (which jitter), no RGB
round trip. The exact map is a cv2.warpAffine; `scale_shift` gets the same result about 3x faster
with cv2.resize (see there), which matters because this runs for every pixel of every frame next to
x264 on the same two cores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps

from agent.engine.render.errors import InputError
from agent.engine.render.yuv import Yuv420, cover_crop, rgb_to_yuv

__all__ = ["ZOOM_HEADROOM", "KenBurns", "ken_burns_for", "load_rgb", "source_size", "StillSource"]

ZOOM_HEADROOM = 1.2  # the pre-scaled source is this much larger than the frame
_ZOOM_OUT, _ZOOM_IN = 1.02, 1.15  # zoom range, within the headroom
_EXIF_ORIENTATION = 0x0112
_QUARTER_TURNS = frozenset({5, 6, 7, 8})  # EXIF orientations shown rotated by 90 degrees
MAX_SHIFT_ERROR_PX = 0.1  # scale_shift's offset error bound, in source pixels (warpAffine: 1/32)
_PAD = 80  # px of repeated edge around each pre-scaled plane: more than _resize_origin's ROI overshoot
# pan paths in fractions of the available slack: (start x, start y) -> (end x, end y)
_PANS = (
    ((0.2, 0.5), (0.8, 0.5)),
    ((0.8, 0.4), (0.2, 0.6)),
    ((0.5, 0.15), (0.5, 0.85)),
    ((0.5, 0.85), (0.5, 0.15)),
    ((0.2, 0.2), (0.8, 0.8)),
    ((0.8, 0.8), (0.2, 0.2)),
    ((0.8, 0.2), (0.2, 0.8)),
    ((0.2, 0.8), (0.8, 0.2)),
)


@dataclass(frozen=True)
class KenBurns:
    zoom_from: float
    zoom_to: float
    pan_from: tuple[float, float]
    pan_to: tuple[float, float]


def ken_burns_for(scene_index: int) -> KenBurns:
    """Deterministic motion per scene: zoom in/out alternates, the pan path cycles through 8."""
    zoom_in = scene_index % 2 == 0
    start, end = _PANS[(scene_index * 3) % len(_PANS)]
    return KenBurns(
        zoom_from=_ZOOM_OUT if zoom_in else _ZOOM_IN,
        zoom_to=_ZOOM_IN if zoom_in else _ZOOM_OUT,
        pan_from=start,
        pan_to=end,
    )


def load_rgb(path: Path, cover: tuple[int, int] | None = None) -> np.ndarray:
    """Decode a still of any format/size to RGB (EXIF rotation applied); InputError if unreadable.

    With `cover` (width, height, as shown), a JPEG larger than needed to cover that is decoded at
    1/2, 1/4 or 1/8 scale by libjpeg itself (Pillow's `draft`), never below what covering it needs:
    a 12 MP photo then costs a fraction of a full decode's time and memory. Copies only once (the
    array); rotation and mode conversion only when the file asks for them.
    """
    try:
        with Image.open(path) as img:
            if cover is not None and img.format == "JPEG":
                w, h = img.size
                shown = (h, w) if img.getexif().get(_EXIF_ORIENTATION, 1) in _QUARTER_TURNS else (w, h)
                scale = max(cover[0] / shown[0], cover[1] / shown[1])
                if scale < 0.5:
                    img.draft("RGB", (math.ceil(w * scale), math.ceil(h * scale)))
            ImageOps.exif_transpose(img, in_place=True)
            return np.asarray(img if img.mode == "RGB" else img.convert("RGB"))
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read image {path}: {exc}") from exc


def _ease(x: float) -> float:
    """Mostly linear with softened ends, so the move never starts or stops with a jerk."""
    x = min(1.0, max(0.0, x))
    return 0.7 * x + 0.3 * (0.5 - 0.5 * math.cos(math.pi * x))


def _resize_origin(a: float, s: float, n: int, src_len: int) -> tuple[float, int, int, int] | None:
    """(error, k, x0, roi_len) placing cv2.resize output pixel k at source position `a`.

    cv2.resize with an explicit fx maps output j of an ROI starting at integer x0 to source
    x0 + (j + 0.5)·s − 0.5, exactly, for any float s. Output pixel x + k lands on a + s·x when
    x0 = a − (k + 0.5)·s + 0.5; as k steps, x0's fractional part steps by frac(s), so some small k
    puts x0 within frac(s)/2 of an integer: sub-pixel placement from an integer ROI.
    """
    step = abs(s - round(s))
    best = None
    for k in range(min(64, math.ceil(1.0 / max(step, 1e-3))) + 1):
        x0_exact = a - (k + 0.5) * s + 0.5
        x0 = round(x0_exact)
        roi_len = math.ceil((k + n) * s) + 2
        if x0 < 0 or x0 + roi_len > src_len:
            continue
        err = abs(x0 - x0_exact)
        if best is None or err < best[0]:
            best = (err, k, x0, roi_len)
    return best


def scale_shift(src: np.ndarray, dst: np.ndarray, s: float, ax: float, ay: float,
                scratch: np.ndarray, m: np.ndarray) -> None:
    """dst[y, x] = src[ay + s·y, ax + s·x], bilinear; fast path via cv2.resize, else warpAffine.

    `scratch` (a little larger than dst) receives the resize output, so no frame-sized array is
    allocated per frame; `m` is a reusable 2x3 matrix for the fallback.
    """
    h, w = dst.shape
    px = _resize_origin(ax, s, w, src.shape[1])
    py = _resize_origin(ay, s, h, src.shape[0])
    if px and py and px[0] <= MAX_SHIFT_ERROR_PX and py[0] <= MAX_SHIFT_ERROR_PX:
        _, kx, x0, rx = px
        _, ky, y0, ry = py
        ow, oh = round(rx / s), round(ry / s)  # the size cv2.resize picks for fx = fy = 1/s
        target = scratch[:oh, :ow] if oh <= scratch.shape[0] and ow <= scratch.shape[1] else None
        scaled = cv2.resize(src[y0 : y0 + ry, x0 : x0 + rx], None, dst=target, fx=1.0 / s, fy=1.0 / s,
                            interpolation=cv2.INTER_LINEAR)
        np.copyto(dst, scaled[ky : ky + h, kx : kx + w])
        return
    m[0, 0] = m[1, 1] = s
    m[0, 2], m[1, 2] = ax, ay
    cv2.warpAffine(src, m, (w, h), dst=dst, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                   borderMode=cv2.BORDER_REPLICATE)


def source_size(width: int, height: int) -> tuple[int, int]:
    """The pre-scaled still's size for a width x height video (what `load_rgb` may decode down to)."""
    return round(width * ZOOM_HEADROOM / 2) * 2, round(height * ZOOM_HEADROOM / 2) * 2


class StillSource:
    """Draws a still with Ken Burns motion at any time within its segment."""

    def __init__(self, rgb: np.ndarray, width: int, height: int, motion: KenBurns, duration_s: float):
        sw, sh = source_size(width, height)
        # each plane with a border of its edge pixels repeated: cv2.resize's ROI (see _resize_origin)
        # may then reach past the picture near its edges, where the pan starts and ends, instead of
        # falling back to warpAffine (3x the cost) for ~1 plane in 8
        self._planes = tuple(cv2.copyMakeBorder(p, _PAD, _PAD, _PAD, _PAD, cv2.BORDER_REPLICATE)
                             for p in rgb_to_yuv(cover_crop(rgb, sw, sh)).planes())
        self._w, self._h, self._sw, self._sh = width, height, sw, sh
        self._motion, self._duration_s = motion, max(duration_s, 1e-3)
        self._m = np.zeros((2, 3), np.float64)
        margin = 80  # resize overshoot: k < 64 output pixels plus rounding
        self._scratch = np.empty((height + margin, width + margin), np.uint8)

    def transform(self, t_s: float) -> tuple[float, float, float]:
        """(scale in source px per output px, source centre x, y) at time t_s."""
        m, f = self._motion, _ease(t_s / self._duration_s)
        zoom = math.exp(math.log(m.zoom_from) + (math.log(m.zoom_to) - math.log(m.zoom_from)) * f)
        scale = (self._sw / self._w) / zoom
        view_w, view_h = self._w * scale, self._h * scale
        px = m.pan_from[0] + (m.pan_to[0] - m.pan_from[0]) * f
        py = m.pan_from[1] + (m.pan_to[1] - m.pan_from[1]) * f
        cx = view_w / 2 + px * (self._sw - view_w)
        cy = view_h / 2 + py * (self._sh - view_h)
        return scale, cx, cy

    def draw(self, t_s: float, frame_index: int, out: Yuv420) -> None:
        scale, cx, cy = self.transform(t_s)
        for plane_src, plane_dst, k in zip(self._planes, out.planes(), (1, 2, 2), strict=True):
            # pixel centres: dst u -> src cx + scale*(u - w/2), in this plane's units (+ the border)
            ax = cx / k + scale * (0.5 - self._w / k / 2) - 0.5 + _PAD
            ay = cy / k + scale * (0.5 - self._h / k / 2) - 0.5 + _PAD
            scale_shift(plane_src, plane_dst, scale, ax, ay, self._scratch, self._m)

    def close(self) -> None:
        pass
