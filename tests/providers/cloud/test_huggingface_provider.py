"""Hugging Face against a fake router and Hub: raw image bytes, 503 loading, 402 credits, and clips on
the fal queue with the provider's model id from the Hub's mapping, the job's aspect, and the size
and duration measured from the file."""

from __future__ import annotations

import pytest
from aiohttp import web

from agent.engine.health import HealthBoard
from agent.settings import CascadeSettings
from agent.engine.validation import validate_clip, validate_image
from providers.base import ClipRequest, ImageRequest
from providers.errors import BadOutput, Misconfigured, PaymentRequired, Unavailable
from providers.huggingface import HuggingFaceClipMaker, HuggingFaceConfig, HuggingFaceImageMaker
from tests.providers.cloud.cloud_fakes import fixture, json_response, png_bytes

TOKEN = "hf_test_SECRET_token"
MODEL_PATH = "/hf-inference/models/black-forest-labs/FLUX.1-schnell"


def config(cloud, **kw):
    return HuggingFaceConfig(token=TOKEN, router_url=cloud.base, hub_url=cloud.base, poll_s=0.01,
                             loading_wait_max_s=0.01, **kw)


def image_request(tmp_path, i=0):
    return ImageRequest(prompt="astronaut riding a horse", style="cinematic", negative="blurry", width=1080,
                        height=1920, seed=42 + i, scene_index=i, scene_count=4, out_dir=tmp_path)


async def test_image_is_raw_bytes_not_json(cloud, deps, ctx, tmp_path):
    cloud.enqueue("POST", MODEL_PATH, web.Response(body=png_bytes(576, 1024), content_type="image/jpeg"))
    result = await HuggingFaceImageMaker(config(cloud), deps).make_image(image_request(tmp_path), ctx)
    await validate_image(result)
    seen = cloud.calls("POST", MODEL_PATH)[0]
    assert seen.headers["Authorization"] == f"Bearer {TOKEN}" and seen.headers["Accept"] == "image/png"
    body = seen.json()
    assert set(body) == set(fixture("hf_text_to_image_request.json"))
    assert body["parameters"] == {"width": 576, "height": 1024, "seed": 42, "negative_prompt": "blurry"}
    assert result.path.suffix == ".png" and (result.width, result.height) == (576, 1024)


async def test_503_loading_waits_then_retries(cloud, deps, ctx, tmp_path):
    cloud.enqueue("POST", MODEL_PATH, json_response(fixture("hf_503_loading.json"), 503),
                  json_response(fixture("hf_503_loading.json"), 503),
                  web.Response(body=png_bytes(), content_type="image/png"))
    result = await HuggingFaceImageMaker(config(cloud), deps).make_image(image_request(tmp_path), ctx)
    assert result.path.is_file() and len(cloud.calls("POST", MODEL_PATH)) == 3
    assert any("loading" in m for _, m in ctx.reports)


async def test_503_loading_past_the_budget_is_unavailable(cloud, deps, ctx, tmp_path):
    cloud.default("POST", MODEL_PATH, json_response(fixture("hf_503_loading.json"), 503))
    maker = HuggingFaceImageMaker(config(cloud, loading_budget_s=0.03), deps)
    with pytest.raises(Unavailable, match="loading"):
        await maker.make_image(image_request(tmp_path), ctx)


async def test_credits_exhausted_is_payment_required_with_a_long_cooldown(cloud, deps, ctx, tmp_path, clock):
    cloud.default("POST", MODEL_PATH, json_response(fixture("hf_error_credits_exceeded.json"), 402))
    with pytest.raises(PaymentRequired) as info:
        await HuggingFaceImageMaker(config(cloud), deps).make_image(image_request(tmp_path), ctx)
    board = HealthBoard(CascadeSettings(), clock)
    assert board.record_failure("huggingface", "image", info.value) == CascadeSettings().payment_cooldown_s
    assert TOKEN not in str(info.value)


async def test_json_on_200_is_bad_output(cloud, deps, ctx, tmp_path):
    cloud.default("POST", MODEL_PATH, json_response({"error": "odd"}))
    with pytest.raises(BadOutput):
        await HuggingFaceImageMaker(config(cloud), deps).make_image(image_request(tmp_path), ctx)


HUB_MODEL = "/api/models/zai-org/CogVideoX-5b"


def hub_mapping(provider_id="fal-ai/cogvideox-5b", status="live", as_dict=False):
    """The Hub's model info with `expand[]=inferenceProviderMapping`: a list now, a dict before."""
    entry = {"provider": "fal-ai", "providerId": provider_id, "status": status, "task": "text-to-video"}
    if as_dict:
        entry = {"fal-ai": {k: v for k, v in entry.items() if k != "provider"}}  # type: ignore[assignment]
    return json_response({"_id": "x", "id": "zai-org/CogVideoX-5b",
                          "inferenceProviderMapping": entry if as_dict else [entry]})


def _queue(cloud, clip_mp4, final_status="COMPLETED", provider_id="fal-ai/cogvideox-5b"):
    submit = fixture("hf_fal_queue_submit_response.json")
    rid = submit["request_id"]
    app = "/".join(provider_id.split("/")[:2])  # fal's URLs name the app, not the whole model path
    for key, tail in (("response_url", ""), ("status_url", "/status"), ("cancel_url", "/cancel")):
        submit[key] = f"https://queue.fal.run/{app}/requests/{rid}{tail}"
    base = f"/fal-ai/{app}/requests/{rid}"
    result = fixture("hf_fal_text_to_video_result.json")
    result["video"]["url"] = cloud.url("/files/output.mp4")
    cloud.enqueue("POST", f"/fal-ai/{provider_id}", json_response(submit))
    cloud.enqueue("GET", f"{base}/status", json_response({"status": "IN_QUEUE", "queue_position": 2}),
                  json_response({"status": "IN_PROGRESS"}), json_response({"status": final_status}))
    cloud.enqueue("GET", base, json_response(result))
    cloud.enqueue("GET", "/files/output.mp4", web.Response(body=clip_mp4, content_type="video/mp4"))
    cloud.default("PUT", f"{base}/cancel", json_response({"status": "CANCELLATION_REQUESTED"}))
    return base


def clip_request(tmp_path, width=720, height=1280):
    return ClipRequest(prompt="a cat plays piano", style="cinematic", negative="", width=width, height=height,
                       seconds=5, fps=30, seed=3, scene_index=1, scene_count=4, out_dir=tmp_path)


async def test_clip_through_the_fal_queue(cloud, deps, ctx, tmp_path, clip_mp4):
    cloud.default("GET", HUB_MODEL, hub_mapping())
    base = _queue(cloud, clip_mp4)
    result = await HuggingFaceClipMaker(config(cloud), deps).make_clip(clip_request(tmp_path), ctx)
    await validate_clip(result)
    submit = cloud.calls("POST", "/fal-ai/fal-ai/cogvideox-5b")[0]
    assert submit.query == {"_subdomain": "queue"} and submit.json()["seed"] == 3
    assert all(c.query == {"_subdomain": "queue"} for c in cloud.calls("GET", f"{base}/status"))
    download = cloud.calls("GET", "/files/output.mp4")[0]
    assert "Authorization" not in download.headers  # the token never goes to the file host
    assert result.path.read_bytes() == clip_mp4 and not cloud.calls("PUT")


async def test_clip_sends_the_aspect_and_reports_what_came_back(cloud, deps, ctx, tmp_path, clip_mp4):
    cloud.default("GET", HUB_MODEL, hub_mapping())
    _queue(cloud, clip_mp4)
    result = await HuggingFaceClipMaker(config(cloud), deps).make_clip(clip_request(tmp_path), ctx)
    assert cloud.calls("POST", "/fal-ai/fal-ai/cogvideox-5b")[0].json()["video_size"] == "portrait_16_9"
    # the file is 320x568 and 1 s long: that is what is reported, not the 720x1280 asked nor a constant 6 s
    assert (result.width, result.height) == (320, 568) and result.seconds == pytest.approx(1.0, abs=0.15)
    _queue(cloud, clip_mp4)
    await HuggingFaceClipMaker(config(cloud, clip_aspect_param="aspect_ratio"), deps).make_clip(
        clip_request(tmp_path, 1920, 1080), ctx)
    assert cloud.calls("POST", "/fal-ai/fal-ai/cogvideox-5b")[1].json()["aspect_ratio"] == "16:9"


async def test_clip_model_id_comes_from_the_hub_mapping(cloud, deps, ctx, tmp_path, clip_mp4):
    cloud.default("GET", HUB_MODEL, hub_mapping("fal-ai/cogvideox-5b-v2", as_dict=True))
    _queue(cloud, clip_mp4, provider_id="fal-ai/cogvideox-5b-v2")
    maker = HuggingFaceClipMaker(config(cloud), deps)
    await maker.make_clip(clip_request(tmp_path), ctx)
    hub = cloud.calls("GET", HUB_MODEL)[0]
    assert hub.query == {"expand[]": "inferenceProviderMapping"} and hub.headers["Authorization"] == f"Bearer {TOKEN}"
    assert len(cloud.calls("POST", "/fal-ai/fal-ai/cogvideox-5b-v2")) == 1
    _queue(cloud, clip_mp4, provider_id="fal-ai/cogvideox-5b-v2")
    await maker.make_clip(clip_request(tmp_path), ctx)
    assert len(cloud.calls("GET", HUB_MODEL)) == 1  # looked up once


async def test_clip_model_not_served_by_the_provider_is_misconfigured(cloud, deps, ctx, tmp_path):
    cloud.default("GET", HUB_MODEL, hub_mapping(status="error"))
    with pytest.raises(Misconfigured, match="status 'error' by fal-ai") as info:
        await HuggingFaceClipMaker(config(cloud), deps).make_clip(clip_request(tmp_path), ctx)
    assert "clip_model" in info.value.hint and not cloud.calls("POST")


async def test_clip_queue_failure_cancels_the_request(cloud, deps, ctx, tmp_path, clip_mp4):
    cloud.default("GET", HUB_MODEL, hub_mapping())
    base = _queue(cloud, clip_mp4, final_status="FAILED")
    with pytest.raises(Unavailable, match="FAILED"):
        await HuggingFaceClipMaker(config(cloud), deps).make_clip(clip_request(tmp_path), ctx)
    assert len(cloud.calls("PUT", f"{base}/cancel")) == 1


async def test_probe_is_whoami(cloud, deps):
    cloud.default("GET", "/api/whoami-v2", json_response({"name": "operator", "type": "user"}))
    assert await HuggingFaceImageMaker(config(cloud), deps).probe() == {"user": "operator"}
    assert not HuggingFaceConfig().configured()


async def test_a_token_straddling_the_message_cut_leaves_nothing_of_itself(cloud, deps, ctx, tmp_path):
    # the message is cut to 300 characters: scrubbing after the cut used to keep "hf_test_S..."
    echoed = "y" * 290 + f" token {TOKEN} is not allowed here"
    cloud.default("POST", MODEL_PATH, json_response({"error": echoed}, 400))
    with pytest.raises(BadOutput) as info:
        await HuggingFaceImageMaker(config(cloud), deps).make_image(image_request(tmp_path), ctx)
    assert "hf_test" not in info.value.message and "***" in info.value.message
