"""OpenAI against a fake /v1: script, images, speech, Sora; its error envelope and 429 retry-after."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import wave

import pytest
from aiohttp import web

from agent.engine.cascade import Cascade
from agent.engine.health import HealthBoard
from agent.settings import CascadeSettings
from agent.engine.validation import validate_image, validate_voice
from providers.base import ClipRequest, ImageRequest, ScriptRequest, Stage, Tier, VoiceRequest
from providers.errors import AllProvidersFailed, AuthFailed, BadOutput, RateLimited, Unavailable
from providers.openai import OpenAIClipMaker, OpenAIConfig, OpenAIImageMaker, OpenAIScriptWriter, OpenAIVoice
from tests.providers.cloud.cloud_fakes import (
    SCRIPT,
    chat_answer,
    fixture,
    json_response,
    mp4_bytes,
    png_bytes,
    wav_bytes,
)
from tests.support.waiting import wait_until

KEY = "sk-test-SECRET-0123456789"
def config(cloud, **kw):
    return OpenAIConfig(api_key=KEY, base_url=cloud.url("/v1"), clip_poll_s=0.01, **kw)


def script_request():
    return ScriptRequest(topic="cats in space", length="short", min_scenes=4, max_scenes=5, target_seconds=25)


def image_request(tmp_path, w=540, h=960, i=0):
    return ImageRequest(prompt="a red fox in snow", style="cinematic", negative="text", width=w, height=h,
                        seed=7 + i, scene_index=i, scene_count=4, out_dir=tmp_path)


def clip_request(tmp_path, seconds=6.5):
    return ClipRequest(prompt="a cat plays piano", style="cinematic", negative="", width=720, height=1280,
                       seconds=seconds, fps=30, seed=1, scene_index=0, scene_count=4, out_dir=tmp_path)


def test_configured_only_with_a_key():
    assert not OpenAIConfig().configured()
    assert OpenAIConfig(api_key="sk-x123").configured()
    assert OpenAIConfig(api_key="sk-x123").secrets() == ("sk-x123",)


async def test_script_asks_json_schema_with_bearer_key(cloud, deps, ctx):
    cloud.enqueue("POST", "/v1/chat/completions", chat_answer(json.dumps(SCRIPT)))
    writer = OpenAIScriptWriter(config(cloud), deps)
    script = await writer.write_script(script_request(), ctx)
    assert script.title == "Cats in Space" and len(script.scenes) == 4
    seen = cloud.calls("POST", "/v1/chat/completions")[0]
    assert seen.headers["Authorization"] == f"Bearer {KEY}"
    body = seen.json()
    assert body["model"] == "gpt-4o"
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"]["required"] == ["title", "scenes"]
    assert writer.tier is Tier.CLOUD_PREMIUM


async def test_script_refusal_and_cut_off_answers_are_bad_output(cloud, deps, ctx):
    cloud.enqueue("POST", "/v1/chat/completions", chat_answer(None, refusal="I can't help with that."))
    writer = OpenAIScriptWriter(config(cloud), deps)
    with pytest.raises(BadOutput, match="content policy"):
        await writer.write_script(script_request(), ctx)
    cloud.enqueue("POST", "/v1/chat/completions", chat_answer("not json at all"))
    with pytest.raises(BadOutput, match="JSON"):
        await writer.write_script(script_request(), ctx)


async def test_429_retry_after_sets_the_cooldown(cloud, deps, ctx, clock):
    cloud.enqueue("POST", "/v1/chat/completions",
                  json_response(fixture("openai_error_rate_limit.json"), 429, {"retry-after": "20"}))
    writer = OpenAIScriptWriter(config(cloud), deps)
    with pytest.raises(RateLimited) as info:
        await writer.write_script(script_request(), ctx)
    assert info.value.retry_after_s == 20.0
    board = HealthBoard(CascadeSettings(), clock)
    assert board.record_failure("openai", "script", info.value) == 20.0
    assert board.get("openai", "script").cooldown_reason == "rate_limited"


async def test_bad_key_is_auth_failed_and_never_leaks(cloud, deps, clock, caplog):
    def echo_key(seen):  # a hostile server that echoes the key back in its error
        body = fixture("openai_error_invalid_api_key.json")
        body["error"]["message"] = f"Incorrect API key provided: {seen.headers['Authorization'][7:]}."
        return json_response(body, 401)

    cloud.default("POST", "/v1/chat/completions", echo_key)
    writer = OpenAIScriptWriter(config(cloud), deps)
    board = HealthBoard(CascadeSettings(), clock)
    attempts = []
    cascade = Cascade(stage=Stage.SCRIPT, providers=[writer], health=board, clock=clock, timeout_s=5,
                      job_id="j1", record=attempts.append, secrets=writer.secrets())
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AllProvidersFailed):
        await cascade.run("script", lambda p: p.write_script(script_request(), __import__("providers.base").base.StageContext("j1")))
    assert attempts[0].outcome == "auth_failed"
    assert KEY not in attempts[0].message and "***" in attempts[0].message
    assert KEY not in caplog.text and "Incorrect API key" in caplog.text
    assert board.get("openai", "script").remaining_s(clock()) == CascadeSettings().auth_cooldown_s
    # the provider's own exception is scrubbed too, before any cascade sees it
    with pytest.raises(AuthFailed) as info:
        await writer.write_script(script_request(), __import__("providers.base").base.StageContext("j2"))
    assert KEY not in str(info.value)


@pytest.mark.parametrize(
    ("model", "size", "has_format"),
    [("dall-e-3", "1024x1792", True), ("gpt-image-1", "1024x1536", False)],
)
async def test_images_b64_per_model(cloud, deps, ctx, tmp_path, model, size, has_format):
    answer = fixture("openai_images_dalle3_b64.json" if has_format else "openai_images_b64.json")
    answer["data"][0]["b64_json"] = base64.b64encode(png_bytes()).decode()
    cloud.enqueue("POST", "/v1/images/generations", json_response(answer))
    maker = OpenAIImageMaker(config(cloud, image_model=model), deps)
    result = await maker.make_image(image_request(tmp_path), ctx)
    await validate_image(result)
    assert (result.width, result.height) == (256, 448)
    body = cloud.calls("POST", "/v1/images/generations")[0].json()
    assert body["model"] == model and body["n"] == 1 and body["size"] == size
    assert ("response_format" in body) == has_format
    if has_format:
        assert body["response_format"] == "b64_json"


async def test_image_sizes_follow_the_aspect():
    from providers.openai.images import image_size

    assert image_size("dall-e-3", 1920, 1080) == "1792x1024"
    assert image_size("dall-e-3", 1080, 1080) == "1024x1024"
    assert image_size("gpt-image-1", 1920, 1080) == "1536x1024"


async def test_content_policy_refusal_is_bad_output_not_an_outage(cloud, deps, ctx, tmp_path, clock):
    cloud.enqueue("POST", "/v1/images/generations", json_response(fixture("openai_error_content_policy.json"), 400))
    maker = OpenAIImageMaker(config(cloud), deps)
    with pytest.raises(BadOutput, match="content policy") as info:
        await maker.make_image(image_request(tmp_path), ctx)
    board = HealthBoard(CascadeSettings(), clock)
    assert board.record_failure("openai", "image", info.value) == 0.0  # one refusal: no cooldown


async def test_speech_asks_wav_and_converts_a_streamed_wav(cloud, deps, ctx, tmp_path):
    cloud.enqueue("POST", "/v1/audio/speech",
                  web.Response(body=wav_bytes(1.5, streamed_header=True), content_type="audio/wav"))
    voice = OpenAIVoice(config(cloud), deps)
    text = "Cats are floating in space today."
    result = await voice.speak(VoiceRequest(text=text, voice="en-us", scene_index=2, out_dir=tmp_path), ctx)
    body = cloud.calls("POST", "/v1/audio/speech")[0].json()
    assert body["response_format"] == "wav" and body["voice"] == "coral"  # unknown voice -> default
    assert body["model"] == "gpt-4o-mini-tts" and "instructions" in body
    with wave.open(str(result.path), "rb") as w:
        assert (w.getsampwidth(), w.getnchannels()) == (2, 1)
    assert result.duration_s == pytest.approx(1.5, abs=0.1)
    await validate_voice(result, text)


async def test_speech_keeps_a_clean_wav_and_an_openai_voice(cloud, deps, ctx, tmp_path):
    cloud.enqueue("POST", "/v1/audio/speech", web.Response(body=wav_bytes(1.0), content_type="audio/wav"))
    result = await OpenAIVoice(config(cloud, voice_model="tts-1"), deps).speak(
        VoiceRequest(text="Hello there friend.", voice="Nova", scene_index=0, out_dir=tmp_path), ctx)
    body = cloud.calls("POST", "/v1/audio/speech")[0].json()
    assert body["voice"] == "nova" and "instructions" not in body
    assert result.path.read_bytes() == wav_bytes(1.0)


def _video(name, status=None, progress=None):
    body = fixture(name)
    if status:
        body["status"] = status
    if progress is not None:
        body["progress"] = progress
    return body


async def test_sora_create_poll_download(cloud, deps, ctx, tmp_path):
    vid = fixture("openai_video_create.json")["id"]
    hint = {"openai-poll-after-ms": "5"}
    cloud.enqueue("POST", "/v1/videos", json_response(_video("openai_video_create.json"), headers=hint))
    cloud.enqueue("GET", f"/v1/videos/{vid}",
                  json_response(_video("openai_video_status.json"), headers=hint),
                  json_response(_video("openai_video_status.json", progress=80), headers=hint),
                  json_response(_video("openai_video_completed.json")))
    cloud.enqueue("GET", f"/v1/videos/{vid}/content", web.Response(body=mp4_bytes(), content_type="video/mp4"))
    result = await OpenAIClipMaker(config(cloud), deps).make_clip(clip_request(tmp_path), ctx)
    create = cloud.calls("POST", "/v1/videos")[0]
    assert create.headers["Content-Type"].startswith("multipart/form-data")
    assert create.form == {"prompt": "a cat plays piano. cinematic", "model": "sora-2", "seconds": "8",
                           "size": "720x1280"}
    assert cloud.calls("GET", f"/v1/videos/{vid}/content")[0].query == {"variant": "video"}
    assert result.path.read_bytes() == mp4_bytes()
    assert result.seconds == 8.0 and (result.width, result.height) == (1280, 720)  # as the API reports
    assert [round(f, 2) for f, _ in ctx.reports] == [0.0, 0.33, 0.8]
    assert not cloud.calls("DELETE")


async def test_sora_failed_status_is_a_failure_even_as_http_200(cloud, deps, ctx, tmp_path):
    vid = fixture("openai_video_create.json")["id"]
    cloud.enqueue("POST", "/v1/videos", json_response(_video("openai_video_create.json")))
    cloud.enqueue("GET", f"/v1/videos/{vid}", json_response(_video("openai_video_failed.json")))
    cloud.default("DELETE", f"/v1/videos/{vid}", json_response(fixture("openai_video_delete.json")))
    maker = OpenAIClipMaker(config(cloud), deps)
    with pytest.raises(BadOutput, match="moderation"):
        await maker.make_clip(clip_request(tmp_path), ctx)
    failed = _video("openai_video_failed.json")
    failed["error"] = {"code": "internal_error", "message": "boom"}
    cloud.enqueue("POST", "/v1/videos", json_response(_video("openai_video_create.json")))
    cloud.enqueue("GET", f"/v1/videos/{vid}", json_response(failed))
    with pytest.raises(Unavailable, match="internal_error"):
        await maker.make_clip(clip_request(tmp_path), ctx)
    assert not cloud.calls("GET", f"/v1/videos/{vid}/content")


async def test_sora_cancelled_job_deletes_the_video(cloud, deps, ctx, tmp_path):
    vid = fixture("openai_video_create.json")["id"]
    cloud.enqueue("POST", "/v1/videos", json_response(_video("openai_video_create.json")))
    cloud.default("GET", f"/v1/videos/{vid}", json_response(_video("openai_video_status.json"),
                                                            headers={"openai-poll-after-ms": "5"}))
    cloud.default("DELETE", f"/v1/videos/{vid}", json_response(fixture("openai_video_delete.json")))
    task = asyncio.create_task(OpenAIClipMaker(config(cloud), deps).make_clip(clip_request(tmp_path), ctx))
    await wait_until(lambda: len(cloud.calls("GET")) >= 2, interval_s=0.005)  # polling the job's status
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(cloud.calls("DELETE", f"/v1/videos/{vid}")) == 1


async def test_sora_seconds_are_strings_from_the_allowed_set():
    from providers.openai.videos import clip_seconds

    allowed = ("4", "8", "12")
    assert [clip_seconds(s, allowed) for s in (2.0, 4.0, 4.1, 11.9, 30.0)] == ["4", "4", "8", "12", "12"]


async def test_probe_lists_models_with_the_key(cloud, deps):
    cloud.default("GET", "/v1/models", json_response({"object": "list", "data": [
        {"id": "gpt-4o", "object": "model"}, {"id": "dall-e-3", "object": "model"}]}))
    info = await OpenAIScriptWriter(config(cloud), deps).probe()
    assert info["models"] == 2 and info["script_model_listed"] is True
    assert cloud.calls("GET", "/v1/models")[0].headers["Authorization"] == f"Bearer {KEY}"
    info = await OpenAIImageMaker(config(cloud), deps).probe()
    assert "sora-2" in info["missing_models"]
