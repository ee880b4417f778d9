"""Size-budget arithmetic."""

from __future__ import annotations

import pytest

from agent.engine.render.budget import (
    MIN_AUDIO_KBPS,
    fit_resolution,
    plan_bitrate,
    retry_plan,
)
from agent.engine.render.errors import BudgetTooSmall

MIB = 2**20


def test_cap_is_budget_minus_audio_with_headroom():
    plan = plan_bitrate(10 * MIB, 60.0, 128, 1080, 1920, 30)
    assert plan.video_kbps == pytest.approx(10 * MIB * 8 * 0.95 / 60 / 1000 - 128)
    assert plan.audio_kbps == 128
    assert (plan.width, plan.height) == (1080, 1920)  # 60 s fits Discord's 10 MiB at full size


def test_tight_budget_spends_less_on_audio_first():
    plan = plan_bitrate(1 * MIB, 30.0, 128, 360, 640, 30)
    assert plan.audio_kbps == MIN_AUDIO_KBPS
    assert plan.video_kbps == pytest.approx(1 * MIB * 8 * 0.95 / 30 / 1000 - MIN_AUDIO_KBPS)


def test_absurd_budget_is_a_typed_error():
    with pytest.raises(BudgetTooSmall):
        plan_bitrate(50_000, 60.0, 128, 1080, 1920, 30)


def test_starved_picture_gets_a_smaller_even_resolution():
    w, h = fit_resolution(1080, 1920, 30, 300)
    assert (w, h) < (1080, 1920) and w % 2 == 0 and h % 2 == 0
    assert w / h == pytest.approx(1080 / 1920, rel=0.02)
    assert fit_resolution(1080, 1920, 30, 5000) == (1080, 1920)


def test_retry_lowers_the_cap_by_the_miss():
    first = plan_bitrate(4 * MIB, 30.0, 128, 720, 1280, 30)
    second = retry_plan(first, 4 * MIB, int(5 * MIB), 30.0, 30)
    assert second.video_kbps < first.video_kbps * 0.8
    assert second.audio_kbps == first.audio_kbps


def test_retry_that_would_starve_raises():
    first = plan_bitrate(400_000, 10.0, 64, 360, 640, 30)
    with pytest.raises(BudgetTooSmall):
        retry_plan(first, 400_000, 4_000_000, 10.0, 30)
