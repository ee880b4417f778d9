"""fal.ai against a fake queue built from fal_client and fal's queue docs: Pika by default and any other
model by its id, the queue states, a model's failure, 422 content-policy refusals, a locked account
(exhausted balance), a retired model, and a cancelled job cancelling its request."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from providers.base import ClipRequest
from providers.errors import AuthFailed, BadOutput, ModelRetired, PaymentRequired, Unavailable
from providers.fal import FalClipMaker, FalConfig
from tests.providers.cloud.cloud_fakes import json_response
from tests.support.waiting import wait_until

KEY = "fal-key-id:SECRET0123456789"
PIKA = "fal-ai/pika/v2.2/text-to-video"
RID = "764cabcf-b745-4b3e-ae38-1200304cf45b"


def maker(cloud, deps, **kw):
    return FalClipMaker(FalConfig(api_key=KEY, queue_url=cloud.url("/q"), api_url=cloud.url("/api/v1"),
                                  poll_s=0.005, **kw), deps)


def clip_request(tmp_path, seconds=6.0, width=720, height=1280):
    return ClipRequest(prompt="a paper boat on a river", style="film", negative="blurry", width=width,
                       height=height, seconds=seconds, fps=30, seed=3000000000, scene_index=1, scene_count=4,
                       out_dir=tmp_path)


def queue(cloud, model=PIKA, statuses=None, result=None, clip=b""):
    """The queue's answers for one request; URLs name the app (owner/alias), as fal's do."""
    app = "/".join(model.split("/")[:2])
    base = f"/q/{app}/requests/{RID}"
    cloud.enqueue("POST", f"/q/{model}", json_response({
        "request_id": RID, "response_url": cloud.url(base), "status_url": cloud.url(f"{base}/status"),
        "cancel_url": cloud.url(f"{base}/cancel"), "queue_position": 0}))
    for answer in statuses or [{"status": "IN_QUEUE", "queue_position": 1}, {"status": "IN_PROGRESS", "logs": None},
                               {"status": "COMPLETED", "logs": None, "metrics": {"inference_time": 40.1}}]:
        cloud.enqueue("GET", f"{base}/status", json_response(answer))
    cloud.enqueue("GET", base, result or json_response({"video": {"url": cloud.url("/media/v.mp4"),
                                                                  "content_type": "video/mp4"}}))
    cloud.default("GET", "/media/v.mp4", web.Response(body=clip, content_type="video/mp4"))
    cloud.default("PUT", f"{base}/cancel", json_response({"status": "CANCELLATION_REQUESTED"}, 202))
    return base


async def test_pika_through_the_queue_to_a_measured_clip(cloud, deps, ctx, tmp_path, clip_mp4):
    base = queue(cloud, clip=clip_mp4)
    result = await maker(cloud, deps).make_clip(clip_request(tmp_path), ctx)
    submit = cloud.calls("POST", f"/q/{PIKA}")[0]
    assert submit.headers["Authorization"] == f"Key {KEY}"
    assert submit.json() == {"prompt": "a paper boat on a river. film", "seed": 852516352, "negative_prompt": "blurry",
                             "aspect_ratio": "9:16", "duration": 10, "resolution": "720p"}
    assert all(c.headers["Authorization"] == f"Key {KEY}" for c in cloud.calls("GET", f"{base}/status"))
    assert "Authorization" not in cloud.calls("GET", "/media/v.mp4")[0].headers
    assert (result.width, result.height) == (320, 568) and result.seconds == pytest.approx(1.0, abs=0.15)
    assert any("in queue (position 1)" in m for _, m in ctx.reports) and not cloud.calls("PUT")


async def test_any_model_by_id_with_its_own_input_names(cloud, deps, ctx, tmp_path, clip_mp4):
    kling = "fal-ai/kling-video/v2.1/standard/text-to-video"
    queue(cloud, model=kling, clip=clip_mp4)
    await maker(cloud, deps, model=kling, duration_as_string=True, resolution="",
                aspect_param="video_size").make_clip(clip_request(tmp_path, seconds=4, width=1920, height=1080), ctx)
    body = cloud.calls("POST", f"/q/{kling}")[0].json()
    assert body["duration"] == "5" and body["video_size"] == "landscape_16_9" and "resolution" not in body


async def test_a_completed_request_with_an_error_is_a_failure(cloud, deps, ctx, tmp_path):
    queue(cloud, statuses=[{"status": "COMPLETED", "logs": None, "error": "Generated video flagged as NSFW",
                            "error_type": "content_policy_violation"}])
    with pytest.raises(BadOutput, match="content policy"):
        await maker(cloud, deps).make_clip(clip_request(tmp_path), ctx)
    queue(cloud, statuses=[{"status": "COMPLETED", "logs": None, "error": "Runner crashed",
                            "error_type": "runner_error"}])
    with pytest.raises(Unavailable, match="runner_error"):
        await maker(cloud, deps).make_clip(clip_request(tmp_path), ctx)


async def test_a_422_content_policy_result_is_bad_output(cloud, deps, ctx, tmp_path):
    queue(cloud, result=json_response({"detail": [{
        "loc": ["body", "prompt"], "msg": "The content was flagged by a content checker.",
        "type": "content_policy_violation", "url": "https://docs.fal.ai/errors#content_policy_violation",
        "input": "a paper boat on a river. film"}]}, 422))
    with pytest.raises(BadOutput, match="refused by the content policy: The content was flagged"):
        await maker(cloud, deps).make_clip(clip_request(tmp_path), ctx)


async def test_exhausted_balance_is_payment_required_and_a_bad_key_auth_failed(cloud, deps, ctx, tmp_path):
    cloud.enqueue("POST", f"/q/{PIKA}", json_response({"detail": (
        "User is locked. Reason: Exhausted balance. Top up your balance at fal.ai/dashboard/billing.")}, 403),
        json_response({"detail": "Unauthorized"}, 401))
    with pytest.raises(PaymentRequired, match="Exhausted balance"):
        await maker(cloud, deps).make_clip(clip_request(tmp_path), ctx)
    with pytest.raises(AuthFailed):
        await maker(cloud, deps).make_clip(clip_request(tmp_path), ctx)


async def test_a_retired_model_is_misconfigured_and_never_called_again(cloud, deps, ctx, tmp_path):
    old = "fal-ai/pika/v1.5/text-to-video"
    cloud.default("POST", f"/q/{old}", json_response(
        {"detail": f"Application '{old}' has been decommissioned and is no longer supported."}, 404))
    with pytest.raises(ModelRetired) as info:
        await maker(cloud, deps, model=old).make_clip(clip_request(tmp_path), ctx)
    assert "[providers.fal]" in info.value.hint
    with pytest.raises(ModelRetired, match="not called again"):
        await maker(cloud, deps, model=old).make_clip(clip_request(tmp_path), ctx)
    assert len(cloud.calls("POST")) == 1


async def test_a_cancelled_job_cancels_its_request(cloud, deps, ctx, tmp_path):
    base = queue(cloud, statuses=[])
    cloud.default("GET", f"{base}/status", json_response({"status": "IN_PROGRESS", "logs": None}))
    job = asyncio.create_task(maker(cloud, deps).make_clip(clip_request(tmp_path), ctx))
    await wait_until(lambda: len(cloud.calls("GET", f"{base}/status")) >= 2, interval_s=0.005)
    job.cancel()
    with pytest.raises(asyncio.CancelledError):
        await job
    assert len(cloud.calls("PUT", f"{base}/cancel")) == 1


async def test_probe_looks_the_model_up(cloud, deps):
    cloud.enqueue("GET", "/api/v1/models",
                  json_response({"models": [{"endpoint_id": PIKA, "metadata": {"status": "active"}}],
                                 "has_more": False}),
                  json_response({"models": [{"endpoint_id": PIKA, "metadata": {"status": "deprecated"}}]}),
                  json_response({"models": [], "has_more": False}))
    assert await maker(cloud, deps).probe() == {"model": PIKA}
    seen = cloud.calls("GET", "/api/v1/models")[0]
    assert seen.query == {"endpoint_id": PIKA} and seen.headers["Authorization"] == f"Key {KEY}"
    assert (await maker(cloud, deps).probe())["warnings"] == [f"{PIKA} is deprecated on fal.ai"]
    assert "does not list" in (await maker(cloud, deps).probe())["problem"]
