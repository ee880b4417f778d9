"""OpenAI against a fake /v1: script, images, speech, Sora; its error envelope and 429 retry-after."""

from __future__ import annotations

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
from providers.base import ImageRequest, ScriptRequest, Stage, Tier, VoiceRequest
from providers.errors import AllProvidersFailed, AuthFailed, BadOutput, ModelRetired, RateLimited
from providers.openai import OpenAIConfig, OpenAIImageMaker, OpenAIScriptWriter, OpenAIVoice
from tests.providers.cloud.cloud_fakes import (
    SCRIPT,
    chat_answer,
    fixture,
    json_response,
    png_bytes,
    wav_bytes,
)

KEY = "sk-test-SECRET-0123456789"
def config(cloud, **kw):
    return OpenAIConfig(api_key=KEY, base_url=cloud.url("/v1"), **kw)


def script_request():
    return ScriptRequest(topic="cats in space", length="short", min_scenes=4, max_scenes=5, target_seconds=25)


def image_request(tmp_path, w=540, h=960, i=0):
    return ImageRequest(prompt="a red fox in snow", style="cinematic", negative="text", width=w, height=h,
                        seed=7 + i, scene_index=i, scene_count=4, out_dir=tmp_path)


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
    assert body["model"] == "gpt-5.4-mini"
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
    [("dall-e-3", "1024x1792", True), ("gpt-image-2", "1024x1536", False)],
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


def models_answer(*models):
    """GET /v1/models as OpenAI sends it: each model with its shutdown_date (null when none)."""
    return json_response({"object": "list", "data": [
        {"id": m, "object": "model", "created": 1700000000, "owned_by": "system", "shutdown_date": d}
        for m, d in models]})


async def test_probe_lists_models_with_the_key(cloud, deps):
    cloud.default("GET", "/v1/models", models_answer(("gpt-5.4-mini", None), ("gpt-image-2", None)))
    info = await OpenAIScriptWriter(config(cloud), deps).probe()
    assert info["models"] == 2 and info["missing_models"] == []
    assert cloud.calls("GET", "/v1/models")[0].headers["Authorization"] == f"Bearer {KEY}"
    info = await OpenAIVoice(config(cloud), deps).probe()
    assert info["missing_models"] == ["gpt-4o-mini-tts"]


async def test_chat_sends_max_completion_tokens_and_no_temperature(cloud, deps, ctx):
    cloud.default("POST", "/v1/chat/completions", chat_answer(json.dumps(SCRIPT)))
    await OpenAIScriptWriter(config(cloud), deps).write_script(script_request(), ctx)
    body = cloud.calls("POST", "/v1/chat/completions")[0].json()
    assert body["model"] == "gpt-5.4-mini"
    assert body["max_completion_tokens"] == 16000 and "max_tokens" not in body  # room for reasoning
    assert "temperature" not in body  # GPT-5.x answers 400 to any but its default
    schema = body["response_format"]["json_schema"]
    assert schema["strict"] is True and "minItems" not in json.dumps(schema["schema"])
    await OpenAIScriptWriter(config(cloud, temperature=0.7), deps).write_script(script_request(), ctx)
    assert cloud.calls("POST", "/v1/chat/completions")[1].json()["temperature"] == 0.7  # configured: sent


async def test_organization_and_project_headers_from_the_environment(cloud, deps, ctx):
    from agent.settings import settings_from_mapping

    env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": cloud.url("/v1"), "OPENAI_ORG_ID": "org-123",
           "OPENAI_PROJECT_ID": "proj_456"}
    cfg = settings_from_mapping({}, env).providers["openai"]
    cloud.default("POST", "/v1/chat/completions", chat_answer(json.dumps(SCRIPT)))
    cloud.default("GET", "/v1/models", models_answer(("gpt-5.4-mini", None)))
    await OpenAIScriptWriter(cfg, deps).write_script(script_request(), ctx)
    await OpenAIImageMaker(cfg, deps).probe()
    for seen in cloud.history:
        assert seen.headers["OpenAI-Organization"] == "org-123" and seen.headers["OpenAI-Project"] == "proj_456"
    cloud.history.clear()
    await OpenAIImageMaker(config(cloud), deps).probe()
    assert "OpenAI-Organization" not in cloud.history[0].headers  # unset: not sent


async def test_images_default_to_the_current_gpt_image_model(cloud, deps, ctx, tmp_path):
    answer = fixture("openai_images_b64.json")
    answer["data"][0]["b64_json"] = base64.b64encode(png_bytes()).decode()
    cloud.enqueue("POST", "/v1/images/generations", json_response(answer))
    await OpenAIImageMaker(config(cloud), deps).make_image(image_request(tmp_path), ctx)
    body = cloud.calls("POST", "/v1/images/generations")[0].json()
    assert body["model"] == "gpt-image-2" and body["size"] == "1024x1536" and "response_format" not in body


async def test_probe_shows_shutdown_dates_as_warnings_and_dead_models_as_problems(cloud, deps):
    import datetime as dt

    soon = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    gone = (dt.date.today() - dt.timedelta(days=3)).isoformat()
    cloud.default("GET", "/v1/models", models_answer(("gpt-4o-mini-tts", soon), ("gpt-4o", gone),
                                                     ("gpt-image-2", None)))
    voice = await OpenAIVoice(config(cloud), deps).probe()
    assert voice["warnings"] == [f"gpt-4o-mini-tts shuts down {soon}"] and "problem" not in voice
    script = await OpenAIScriptWriter(config(cloud, script_model="gpt-4o"), deps).probe()
    assert script["problem"] == f"gpt-4o shut down on {gone}"
    assert script["hint"] == 'set [providers.openai] script_model = "gpt-5.4-mini"'
    image = await OpenAIImageMaker(config(cloud, image_model="dall-e-3"), deps).probe()
    assert image["problem"] == "dall-e-3 has been shut down"  # known dead though no longer listed
    assert image["hint"] == 'set [providers.openai] image_model = "gpt-image-2"'
    ok = await OpenAIImageMaker(config(cloud), deps).probe()
    assert "problem" not in ok and "warnings" not in ok


async def test_a_dead_model_is_a_configuration_error_and_never_called_again(cloud, deps, ctx, clock, tmp_path):
    cloud.default("POST", "/v1/chat/completions", json_response({"error": {
        "message": "The model `gpt-4o` has been decommissioned and is no longer supported.",
        "type": "invalid_request_error", "param": "model", "code": "model_decommissioned"}}, 400))
    writer = OpenAIScriptWriter(config(cloud, script_model="gpt-4o"), deps)
    with pytest.raises(ModelRetired) as info:
        await writer.write_script(script_request(), ctx)
    assert "gpt-4o" in info.value.hint and "[providers.openai]" in info.value.hint
    board = HealthBoard(CascadeSettings(), clock)
    assert board.record_failure("openai", "script", info.value) == CascadeSettings().misconfigured_cooldown_s
    assert board.get("openai", "script").hint == info.value.hint
    # a new instance (a restart) with the same config: refused without a call
    again = OpenAIScriptWriter(config(cloud, script_model="gpt-4o"), deps)
    with pytest.raises(ModelRetired, match="not called again"):
        await again.write_script(script_request(), ctx)
    assert len(cloud.calls("POST", "/v1/chat/completions")) == 1
    cloud.default("GET", "/v1/models", models_answer(("gpt-4o", None)))
    assert "gpt-4o is retired" in (await again.probe())["problem"]
    # the config names another model: called
    cloud.default("POST", "/v1/chat/completions", chat_answer(json.dumps(SCRIPT)))
    await OpenAIScriptWriter(config(cloud), deps).write_script(script_request(), ctx)
    assert len(cloud.calls("POST", "/v1/chat/completions")) == 2
