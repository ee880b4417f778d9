"""Runway against a fake developer API built from runwayml/sdk-python: text- and image-to-video tasks,
their states (PENDING, THROTTLED, RUNNING, SUCCEEDED, FAILED, CANCELLED), failure codes, HTTP errors
(rate limit, credits, a retired model) and a cancelled job deleting its task."""

from __future__ import annotations

import asyncio
import base64

import pytest
from aiohttp import web

from agent.engine.validation import validate_clip
from providers.base import ClipRequest, Tier
from providers.errors import AuthFailed, BadOutput, ModelRetired, PaymentRequired, RateLimited, Unavailable
from providers.runway import RunwayClipMaker, RunwayConfig
from tests.providers.cloud.cloud_fakes import json_response, png_bytes
from tests.support.waiting import wait_until

KEY = "key_runway_SECRET_0123456789"
T0 = "2026-11-30T08:00:00.000Z"


def maker(cloud, deps, **kw):
    return RunwayClipMaker(RunwayConfig(api_key=KEY, base_url=cloud.url("/rw"), poll_s=0.005, **kw), deps)


def clip_request(tmp_path, *, seconds=5.5, width=720, height=1280, image=None):
    return ClipRequest(prompt="a fox runs through snow", style="cinematic", negative="", width=width,
                       height=height, seconds=seconds, fps=30, seed=4294967300, scene_index=2, scene_count=4,
                       out_dir=tmp_path, image=image)


def task(task_id, status, **extra):
    return json_response({"id": task_id, "status": status, "createdAt": T0, **extra})


def script_task(cloud, clip_mp4, task_id="t-1", endpoint="text_to_video", final=None):
    cloud.enqueue("POST", f"/rw/v1/{endpoint}", json_response({"id": task_id}))
    cloud.enqueue("GET", f"/rw/v1/tasks/{task_id}", task(task_id, "PENDING"), task(task_id, "THROTTLED"),
                  task(task_id, "RUNNING", progress=0.5),
                  final or task(task_id, "SUCCEEDED", output=[cloud.url(f"/files/{task_id}.mp4")]))
    cloud.default("GET", f"/files/{task_id}.mp4", web.Response(body=clip_mp4, content_type="video/mp4"))
    cloud.default("DELETE", f"/rw/v1/tasks/{task_id}", web.Response(status=204))


async def test_text_to_video_task_polled_to_a_measured_clip(cloud, deps, ctx, tmp_path, clip_mp4):
    script_task(cloud, clip_mp4)
    clip_maker = maker(cloud, deps)
    assert clip_maker.tier is Tier.CLOUD_PREMIUM
    result = await clip_maker.make_clip(clip_request(tmp_path), ctx)
    await validate_clip(result)
    create = cloud.calls("POST", "/rw/v1/text_to_video")[0]
    assert create.headers["Authorization"] == f"Bearer {KEY}" and create.headers["X-Runway-Version"] == "2024-11-06"
    assert create.json() == {"model": "gen4.5", "promptText": "a fox runs through snow. cinematic",
                             "ratio": "720:1280", "duration": 6, "seed": 4}
    assert all(c.headers["X-Runway-Version"] == "2024-11-06" for c in cloud.calls("GET", "/rw/v1/tasks/t-1"))
    assert "Authorization" not in cloud.calls("GET", "/files/t-1.mp4")[0].headers  # the key stays home
    assert (result.width, result.height) == (320, 568) and result.seconds == pytest.approx(1.0, abs=0.15)
    assert any("running 50%" in m for _, m in ctx.reports) and not cloud.calls("DELETE")


async def test_image_to_video_when_a_still_is_given(cloud, deps, ctx, tmp_path, clip_mp4):
    still = tmp_path / "still.png"
    still.write_bytes(png_bytes(64, 112))
    script_task(cloud, clip_mp4, endpoint="image_to_video")
    await maker(cloud, deps).make_clip(clip_request(tmp_path, width=1920, height=1080, image=still), ctx)
    body = cloud.calls("POST", "/rw/v1/image_to_video")[0].json()
    assert body["model"] == "gen4_turbo" and body["ratio"] == "1280:720"
    assert body["promptImage"] == "data:image/png;base64," + base64.b64encode(png_bytes(64, 112)).decode()


@pytest.mark.parametrize(("code", "error", "words"), [
    ("SAFETY.INPUT.TEXT", BadOutput, "content policy"),
    ("INTERNAL.BAD_OUTPUT.CODE01", BadOutput, "INTERNAL.BAD_OUTPUT"),
    ("INTERNAL", Unavailable, "the task failed"),
])
async def test_failed_tasks_by_failure_code(cloud, deps, ctx, tmp_path, clip_mp4, code, error, words):
    script_task(cloud, clip_mp4, final=task("t-1", "FAILED", failure="An error occurred.", failureCode=code))
    with pytest.raises(error, match=words) as info:
        await maker(cloud, deps).make_clip(clip_request(tmp_path), ctx)
    assert info.value.status == 200  # a failure, though the poll answered 200
    assert not cloud.calls("GET", "/files/t-1.mp4")


async def test_a_task_the_service_cancelled_is_unavailable(cloud, deps, ctx, tmp_path, clip_mp4):
    script_task(cloud, clip_mp4, final=task("t-1", "CANCELLED"))
    with pytest.raises(Unavailable, match="cancelled"):
        await maker(cloud, deps).make_clip(clip_request(tmp_path), ctx)


async def test_a_cancelled_job_deletes_its_task(cloud, deps, ctx, tmp_path):
    cloud.enqueue("POST", "/rw/v1/text_to_video", json_response({"id": "t-9"}))
    cloud.default("GET", "/rw/v1/tasks/t-9", task("t-9", "RUNNING", progress=0.1))
    cloud.default("DELETE", "/rw/v1/tasks/t-9", web.Response(status=204))
    job = asyncio.create_task(maker(cloud, deps).make_clip(clip_request(tmp_path), ctx))
    await wait_until(lambda: len(cloud.calls("GET", "/rw/v1/tasks/t-9")) >= 2, interval_s=0.005)
    job.cancel()
    with pytest.raises(asyncio.CancelledError):
        await job
    assert len(cloud.calls("DELETE", "/rw/v1/tasks/t-9")) == 1


@pytest.mark.parametrize(("status", "body", "error"), [
    (429, {"error": "You have exceeded your daily task limit for this model."}, RateLimited),
    (400, {"error": "You do not have enough credits to run this task."}, PaymentRequired),
    (401, {"error": "Invalid API key."}, AuthFailed),
])
async def test_http_errors_by_kind(cloud, deps, ctx, tmp_path, status, body, error):
    cloud.default("POST", "/rw/v1/text_to_video", json_response(body, status))
    with pytest.raises(error):
        await maker(cloud, deps).make_clip(clip_request(tmp_path), ctx)


async def test_a_retired_model_is_misconfigured_and_never_called_again(cloud, deps, ctx, tmp_path):
    cloud.default("POST", "/rw/v1/text_to_video", json_response(
        {"error": "The model gen3a_turbo has been decommissioned and is no longer supported. Use gen4.5."}, 400))
    old = maker(cloud, deps, text_model="gen3a_turbo")
    with pytest.raises(ModelRetired, match="decommissioned") as info:
        await old.make_clip(clip_request(tmp_path), ctx)
    assert "[providers.runway]" in info.value.hint
    with pytest.raises(ModelRetired, match="not called again"):
        await maker(cloud, deps, text_model="gen3a_turbo").make_clip(clip_request(tmp_path), ctx)
    assert len(cloud.calls("POST", "/rw/v1/text_to_video")) == 1
    cloud.default("GET", "/rw/v1/organization", json_response({"creditBalance": 500, "tier": {}}))
    assert "gen3a_turbo is retired" in (await old.probe())["problem"]


async def test_probe_reads_the_organization_and_its_credits(cloud, deps):
    cloud.enqueue("GET", "/rw/v1/organization", json_response({"creditBalance": 1200, "tier": {"models": {}}}),
                  json_response({"creditBalance": 0, "tier": {"models": {}}}))
    assert (await maker(cloud, deps).probe()) == {"credits": 1200, "model": "gen4.5"}
    empty = await maker(cloud, deps).probe()
    assert empty["problem"] == "no credits left"
    assert not RunwayConfig().configured()
