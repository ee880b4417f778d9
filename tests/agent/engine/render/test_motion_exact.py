"""Ken Burns frames: the fast cv2.resize path draws what the exact map (a warpAffine of the
pre-scaled still) draws, for every scene's pan and zoom over the whole scene, edges included, and
never falls back to the 3x slower warpAffine (near the edges, where the pans start and end)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from agent.engine.render import motion
from agent.engine.render.motion import StillSource, ken_burns_for, source_size
from agent.engine.render.yuv import Yuv420, cover_crop, rgb_to_yuv

W, H, FPS, SCENE_S = 216, 384, 30, 3.0


def _smooth_still() -> np.ndarray:
    """A photo-like still: gradients and soft waves, so a 0.1 px placement error stays below 2 levels."""
    yy, xx = np.mgrid[0:700, 0:500].astype(np.float32)
    r = 128 + 100 * np.sin(xx / 37) * np.cos(yy / 53)
    g = 255 * yy / 700
    b = 128 + 90 * np.sin((xx + yy) / 61)
    return np.clip(np.dstack([r, g, b]), 0, 255).astype(np.uint8)


def _exact(planes, out: Yuv420, src: StillSource, t: float) -> None:
    scale, cx, cy = src.transform(t)
    for p, d, k in zip(planes, out.planes(), (1, 2, 2), strict=True):
        m = np.array([[scale, 0, cx / k + scale * (0.5 - W / k / 2) - 0.5],
                      [0, scale, cy / k + scale * (0.5 - H / k / 2) - 0.5]])
        cv2.warpAffine(p, m, (d.shape[1], d.shape[0]), dst=d, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                       borderMode=cv2.BORDER_REPLICATE)


@pytest.mark.parametrize("scene", range(8))
def test_every_frame_is_the_exact_map_drawn_fast(scene, monkeypatch):
    rgb = _smooth_still()
    src = StillSource(rgb, W, H, ken_burns_for(scene), SCENE_S)
    planes = rgb_to_yuv(cover_crop(rgb, *source_size(W, H))).planes()
    warps = []
    real_warp = cv2.warpAffine
    monkeypatch.setattr(motion.cv2, "warpAffine", lambda *a, **k: warps.append(1) or real_warp(*a, **k))
    fast, exact = Yuv420(W, H), Yuv420(W, H)
    worst = 0
    for n in range(int(SCENE_S * FPS) + 1):
        src.draw(n / FPS, n, fast)
        _exact(planes, exact, src, n / FPS)
        worst = max(worst, int(np.abs(fast.buf.astype(int) - exact.buf).max()))
    assert worst <= 2
    assert len(warps) == (int(SCENE_S * FPS) + 1) * 3  # only the reference's: the renderer never fell back
