"""Luma against a fake Dream Machine API built from lumalabs/lumaai-python: a video generation polled
through queued/dreaming to completed or failed, its HTTP errors (rate limit, credits, a retired
model) and a cancelled job deleting its generation."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from providers.base import ClipRequest
from providers.errors import BadOutput, ModelRetired, PaymentRequired, RateLimited, Unavailable
from providers.luma import LumaClipMaker, LumaConfig
from tests.providers.cloud.cloud_fakes import json_response
from tests.support.waiting import wait_until

KEY = "luma-SECRET-0123456789abcdef"
GEN = "3a8d1f0e-9b6c-4d2a-8f1e-0c9b8a7d6e5f"


def maker(cloud, deps, **kw):
    return LumaClipMaker(LumaConfig(api_key=KEY, base_url=cloud.url("/dm/v1"), poll_s=0.005, **kw), deps)


def clip_request(tmp_path, seconds=7.0, width=720, height=1280):
    return ClipRequest(prompt="waves on a rocky shore", style="golden hour", negative="", width=width,
                       height=height, seconds=seconds, fps=30, seed=1, scene_index=0, scene_count=3, out_dir=tmp_path)


def generation(state, **extra):
    return json_response({"id": GEN, "state": state, "generation_type": "video", "model": "ray-2",
                          "created_at": "2026-11-30T08:00:00Z", "failure_reason": None,
                          "assets": None, "request": {}, **extra})


async def test_generation_polled_to_a_measured_clip(cloud, deps, ctx, tmp_path, clip_mp4):
    cloud.enqueue("POST", "/dm/v1/generations/video", generation("queued"))
    cloud.enqueue("GET", f"/dm/v1/generations/{GEN}", generation("queued"), generation("dreaming"),
                  generation("completed", assets={"video": cloud.url("/cdn/out.mp4"), "image": None}))
    cloud.default("GET", "/cdn/out.mp4", web.Response(body=clip_mp4, content_type="video/mp4"))
    result = await maker(cloud, deps).make_clip(clip_request(tmp_path), ctx)
    create = cloud.calls("POST", "/dm/v1/generations/video")[0]
    assert create.headers["Authorization"] == f"Bearer {KEY}"
    assert create.json() == {"prompt": "waves on a rocky shore. golden hour", "model": "ray-2",
                             "aspect_ratio": "9:16", "duration": "9s", "resolution": "720p"}
    assert "Authorization" not in cloud.calls("GET", "/cdn/out.mp4")[0].headers
    assert (result.width, result.height) == (320, 568) and result.seconds == pytest.approx(1.0, abs=0.15)
    assert [m for _, m in ctx.reports] == ["luma queued", "luma dreaming"]


async def test_a_moderation_failure_is_bad_output_other_failures_are_the_service(cloud, deps, ctx, tmp_path):
    cloud.enqueue("POST", "/dm/v1/generations/video", generation("queued"), generation("queued"))
    cloud.enqueue("GET", f"/dm/v1/generations/{GEN}",
                  generation("failed", failure_reason="Prompt not allowed by content moderation"),
                  generation("failed", failure_reason="Internal server error"))
    with pytest.raises(BadOutput, match="content policy"):
        await maker(cloud, deps).make_clip(clip_request(tmp_path), ctx)
    with pytest.raises(Unavailable, match="Internal server error"):
        await maker(cloud, deps).make_clip(clip_request(tmp_path), ctx)


async def test_a_cancelled_job_deletes_its_generation(cloud, deps, ctx, tmp_path):
    cloud.enqueue("POST", "/dm/v1/generations/video", generation("queued"))
    cloud.default("GET", f"/dm/v1/generations/{GEN}", generation("dreaming"))
    cloud.default("DELETE", f"/dm/v1/generations/{GEN}", web.Response(status=204))
    job = asyncio.create_task(maker(cloud, deps).make_clip(clip_request(tmp_path), ctx))
    await wait_until(lambda: len(cloud.calls("GET")) >= 2, interval_s=0.005)
    job.cancel()
    with pytest.raises(asyncio.CancelledError):
        await job
    assert len(cloud.calls("DELETE", f"/dm/v1/generations/{GEN}")) == 1


@pytest.mark.parametrize(("status", "body", "error"), [
    (429, {"detail": "Too many requests, please slow down"}, RateLimited),
    (400, {"detail": "Insufficient credits to create this generation"}, PaymentRequired),
])
async def test_http_errors_by_kind(cloud, deps, ctx, tmp_path, status, body, error):
    cloud.default("POST", "/dm/v1/generations/video", json_response(body, status))
    with pytest.raises(error):
        await maker(cloud, deps).make_clip(clip_request(tmp_path), ctx)


async def test_a_retired_model_is_misconfigured_and_never_called_again(cloud, deps, ctx, tmp_path):
    cloud.default("POST", "/dm/v1/generations/video", json_response(
        {"detail": "Model ray-1-6 has been decommissioned and is no longer supported"}, 400))
    with pytest.raises(ModelRetired) as info:
        await maker(cloud, deps, model="ray-1-6").make_clip(clip_request(tmp_path), ctx)
    assert "[providers.luma]" in info.value.hint
    with pytest.raises(ModelRetired, match="not called again"):
        await maker(cloud, deps, model="ray-1-6").make_clip(clip_request(tmp_path), ctx)
    assert len(cloud.calls("POST")) == 1
    cloud.default("GET", "/dm/v1/credits", json_response({"credit_balance": 4200.0}))
    assert "ray-1-6 is retired" in (await maker(cloud, deps, model="ray-1-6").probe())["problem"]


async def test_probe_reads_the_credit_balance(cloud, deps):
    cloud.enqueue("GET", "/dm/v1/credits", json_response({"credit_balance": 4200.0}),
                  json_response({"credit_balance": 0.0}))
    assert await maker(cloud, deps).probe() == {"credits_usd_cents": 4200.0, "model": "ray-2"}
    assert (await maker(cloud, deps).probe())["problem"] == "no credits left"
