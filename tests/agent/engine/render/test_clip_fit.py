"""A clip fitted to its scene: trimmed when longer, extended without a freeze when shorter."""

from __future__ import annotations

import numpy as np
import pytest

from agent.engine.render.clips import ClipSource
from agent.engine.render.ffmpeg import ProcessSet
from agent.engine.render.yuv import Yuv420

W, H, FPS = 160, 96, 10


def frames(path, seconds, extend):
    procs = ProcessSet()
    source = ClipSource(path, W, H, FPS, seconds, procs, extend)
    out = Yuv420(W, H)
    got = []
    try:
        for n in range(round(seconds * FPS)):
            source.draw(n / FPS, n, out)
            got.append(out.buf.copy())
    finally:
        source.close()
    return got


def diff(a, b) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def test_short_clip_is_held_with_a_push_in_not_frozen(media):
    clip = media("clip", "short.mp4", 0.6, "320x240", 25)  # 6 frames at 10 fps, for a 3 s scene
    got = frames(clip, 3.0, "push-in")
    played = 6
    assert all(diff(got[i], got[i + 1]) > 0 for i in range(played - 1))  # the clip itself plays
    hold = got[played + 3:]
    assert all(diff(a, b) > 0 for a, b in zip(hold, hold[1:], strict=False))  # no two frames alike: no freeze
    assert diff(got[played - 1], got[played]) < 0.5  # the push-in starts from the last frame, no jump
    assert diff(got[played - 1], got[-1]) > diff(got[played - 1], got[played + 1])  # and keeps moving in


def test_short_clip_ping_pongs_when_configured(media):
    clip = media("clip", "pp.mp4", 0.6, "320x240", 25)
    got = frames(clip, 2.0, "ping-pong")
    last = 5  # the clip's last frame; then it plays backwards from the one before it
    for k in (1, 2, 3):
        assert diff(got[last + k], got[last - k]) == 0.0, k  # the same frames, backwards
    assert all(diff(a, b) > 0.5 for a, b in zip(got, got[1:], strict=False))  # always moving, never held
    assert diff(got[2 * last + 1], got[1]) == 0.0  # and forwards again


@pytest.mark.parametrize("extend", ["push-in", "ping-pong"])
def test_long_clip_is_trimmed_to_its_scene(media, extend):
    clip = media("clip", "long.mp4", 3.0, "320x240", 25)
    got = frames(clip, 1.0, extend)
    assert len(got) == 10 and all(diff(a, b) > 0 for a, b in zip(got, got[1:], strict=False))
