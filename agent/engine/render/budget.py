"""Size-budget arithmetic (pure): from max_bytes to an x264 bitrate cap, and the retry plan.

The first encode is CRF capped by `-maxrate X -bufsize 2X`, where X leaves 5 % headroom for the
container and the audio. If the file still overshoots, `retry_plan` scales the cap by how much we
missed and, when that starves the picture, lowers the resolution instead of going blocky.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from agent.engine.render.errors import BudgetTooSmall

__all__ = [
    "HEADROOM",
    "MIN_VIDEO_KBPS",
    "MIN_BITS_PER_PIXEL",
    "BitratePlan",
    "plan_bitrate",
    "fit_resolution",
    "retry_plan",
]

HEADROOM = 0.95  # container overhead and VBV slack
MIN_VIDEO_KBPS = 96.0  # below this the picture is mush at any size we would ship
MIN_AUDIO_KBPS = 64  # narration stays intelligible; spent only when the budget is tight
# x264 veryfast on slow Ken Burns motion looks decent from ~0.02 bit/pixel; under ~0.012 it blocks
MIN_BITS_PER_PIXEL = 0.012
MIN_SCALE = 0.5  # never shrink below half the asked resolution


@dataclass(frozen=True)
class BitratePlan:
    video_kbps: float  # the -maxrate cap
    audio_kbps: int
    width: int
    height: int


def _even(x: float) -> int:
    return max(2, round(x / 2) * 2)


def fit_resolution(width: int, height: int, fps: float, video_kbps: float) -> tuple[int, int]:
    """The largest size (same aspect, even, at least half) that gets MIN_BITS_PER_PIXEL."""
    bpp = video_kbps * 1000 / (width * height * fps)
    if bpp >= MIN_BITS_PER_PIXEL:
        return width, height
    scale = max(MIN_SCALE, math.sqrt(bpp / MIN_BITS_PER_PIXEL))
    return _even(width * scale), _even(height * scale)


def plan_bitrate(
    max_bytes: int, duration_s: float, audio_kbps: int, width: int, height: int, fps: float
) -> BitratePlan:
    """Video kbit/s cap ≈ max_bytes·8·0.95/duration/1000 − audio kbit/s; BudgetTooSmall if < min.

    When the asked audio bitrate would starve the picture, the audio drops to MIN_AUDIO_KBPS first.
    """
    if duration_s <= 0:
        raise ValueError("duration_s must be positive")
    total_kbps = max_bytes * 8 * HEADROOM / duration_s / 1000
    video_kbps = total_kbps - audio_kbps
    if video_kbps < 4 * MIN_VIDEO_KBPS and audio_kbps > MIN_AUDIO_KBPS:
        audio_kbps = MIN_AUDIO_KBPS
        video_kbps = total_kbps - audio_kbps
    if video_kbps < MIN_VIDEO_KBPS:
        raise BudgetTooSmall(max_bytes, duration_s, video_kbps)
    w, h = fit_resolution(width, height, fps, video_kbps)
    return BitratePlan(video_kbps=video_kbps, audio_kbps=audio_kbps, width=w, height=h)


def retry_plan(
    first: BitratePlan, max_bytes: int, actual_bytes: int, duration_s: float, fps: float
) -> BitratePlan:
    """The second (last) attempt after `actual_bytes` overshot `max_bytes`.

    The audio is near constant-bitrate, so the whole miss is charged to the video, with 10 % more
    margin; the resolution is lowered when the new cap starves the picture.
    """
    audio_bytes = first.audio_kbps * 1000 / 8 * duration_s
    video_bytes = max(1.0, actual_bytes - audio_bytes)
    video_budget = max_bytes * HEADROOM - audio_bytes
    ratio = min(video_budget / video_bytes, 1.0) * 0.9
    video_kbps = first.video_kbps * ratio
    if video_kbps < MIN_VIDEO_KBPS:
        raise BudgetTooSmall(max_bytes, duration_s, video_kbps)
    w, h = fit_resolution(first.width, first.height, fps, video_kbps)
    return BitratePlan(video_kbps=video_kbps, audio_kbps=first.audio_kbps, width=w, height=h)
