"""ElevenLabs against a fake API built from elevenlabs/elevenlabs-python: text-to-speech with timestamps,
character timings turned into word timings, and its error bodies (quota_exceeded as a 401,
too many concurrent requests, a retired model)."""

from __future__ import annotations

import base64

import pytest

from agent.engine.validation import validate_voice
from providers.base import Tier, VoiceRequest, WordTiming
from providers.elevenlabs import ElevenLabsConfig, ElevenLabsVoice, words_from_alignment
from providers.errors import ModelRetired, PaymentRequired, RateLimited
from tests.providers.cloud.cloud_fakes import json_response, mp3_bytes

KEY = "sk_eleven_SECRET_0123456789"
DEFAULT_VOICE = "JBFqnCBsd6RMkjVDRZzb"
TEXT = "Cats float in space."


def voice(cloud, deps, **kw):
    return ElevenLabsVoice(ElevenLabsConfig(api_key=KEY, base_url=cloud.url("/xi"), **kw), deps)


def alignment(text, step=0.08):
    chars = list(text)
    return {"characters": chars, "character_start_times_seconds": [round(i * step, 3) for i in range(len(chars))],
            "character_end_times_seconds": [round((i + 1) * step, 3) for i in range(len(chars))]}


def test_character_timings_become_word_timings():
    a = alignment("Hi  there, cat.")
    words = words_from_alignment(a["characters"], a["character_start_times_seconds"], a["character_end_times_seconds"])
    assert words == (WordTiming("Hi", 0.0, 0.16), WordTiming("there,", 0.32, 0.8), WordTiming("cat.", 0.88, 1.2))
    assert words_from_alignment([], [], []) == ()


async def test_speech_with_timestamps_gives_wav_and_word_timings(cloud, deps, ctx, tmp_path):
    audio = base64.b64encode(mp3_bytes(1.6)).decode()
    cloud.default("POST", f"/xi/v1/text-to-speech/{DEFAULT_VOICE}/with-timestamps",
                  json_response({"audio_base64": audio, "alignment": alignment(TEXT),
                                 "normalized_alignment": alignment(TEXT.lower())}))
    speaker = voice(cloud, deps, voices=("Rachel=21m00Tcm4TlvDq8ikWAM",))
    assert speaker.tier is Tier.CLOUD_PREMIUM
    result = await speaker.speak(VoiceRequest(text=TEXT, voice="nobody", scene_index=1, out_dir=tmp_path), ctx)
    await validate_voice(result, TEXT)
    seen = cloud.calls("POST")[0]
    assert seen.headers["xi-api-key"] == KEY and "Authorization" not in seen.headers
    assert seen.query == {"output_format": "mp3_44100_128"}
    assert seen.json() == {"text": TEXT, "model_id": "eleven_multilingual_v2"}  # no language_code unless asked
    assert [w.word for w in result.words or ()] == ["Cats", "float", "in", "space."]
    assert result.words[0] == WordTiming("Cats", 0.0, 0.32)
    assert result.duration_s == pytest.approx(1.6, abs=0.15)
    cloud.default("POST", "/xi/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM/with-timestamps",
                  json_response({"audio_base64": audio, "alignment": alignment(TEXT)}))
    await voice(cloud, deps, voices=("Rachel=21m00Tcm4TlvDq8ikWAM",), send_language=True).speak(
        VoiceRequest(text=TEXT, voice="rachel", scene_index=2, out_dir=tmp_path, language="de"), ctx)
    assert cloud.calls("POST")[1].json()["language_code"] == "de"
    assert (await speaker.voices()).offers("Rachel")


async def test_quota_exceeded_is_payment_required_though_it_is_a_401(cloud, deps, ctx, tmp_path):
    cloud.default("POST", f"/xi/v1/text-to-speech/{DEFAULT_VOICE}/with-timestamps", json_response({"detail": {
        "status": "quota_exceeded", "message": "This request exceeds your quota of 10000. You have 0 credits "
        "remaining, while 91 credits are required for this request."}}, 401))
    with pytest.raises(PaymentRequired, match="exceeds your quota"):
        await voice(cloud, deps).speak(VoiceRequest(text=TEXT, voice="", scene_index=0, out_dir=tmp_path), ctx)


async def test_too_many_concurrent_requests_is_a_rate_limit(cloud, deps, ctx, tmp_path):
    cloud.default("POST", f"/xi/v1/text-to-speech/{DEFAULT_VOICE}/with-timestamps", json_response({"detail": {
        "status": "too_many_concurrent_requests", "message": "Too many concurrent requests."}}, 429))
    with pytest.raises(RateLimited, match="concurrent"):
        await voice(cloud, deps).speak(VoiceRequest(text=TEXT, voice="", scene_index=0, out_dir=tmp_path), ctx)


async def test_a_retired_model_is_misconfigured_and_never_called_again(cloud, deps, ctx, tmp_path):
    cloud.default("POST", f"/xi/v1/text-to-speech/{DEFAULT_VOICE}/with-timestamps", json_response({"detail": {
        "status": "model_deprecated", "message": "The model eleven_monolingual_v1 is no longer supported."}}, 400))
    request = VoiceRequest(text=TEXT, voice="", scene_index=0, out_dir=tmp_path)
    with pytest.raises(ModelRetired) as info:
        await voice(cloud, deps, model="eleven_monolingual_v1").speak(request, ctx)
    assert "[providers.elevenlabs]" in info.value.hint
    with pytest.raises(ModelRetired, match="not called again"):
        await voice(cloud, deps, model="eleven_monolingual_v1").speak(request, ctx)
    assert len(cloud.calls("POST")) == 1


async def test_probe_lists_the_models(cloud, deps):
    cloud.default("GET", "/xi/v1/models", json_response([
        {"model_id": "eleven_multilingual_v2", "can_do_text_to_speech": True},
        {"model_id": "eleven_flash_v2_5", "can_do_text_to_speech": True}]))
    assert await voice(cloud, deps).probe() == {"models": 2, "model": "eleven_multilingual_v2"}
    assert cloud.calls("GET", "/xi/v1/models")[0].headers["xi-api-key"] == KEY
    assert "does not list" in (await voice(cloud, deps, model="eleven_v9").probe())["problem"]


async def test_it_speaks_the_languages_of_its_model(cloud, deps):
    assert await voice(cloud, deps).speaks("ja") and await voice(cloud, deps).speaks("pt-BR")
    assert not await voice(cloud, deps).speaks("th")  # multilingual v2 has no Thai
    assert await voice(cloud, deps, model="eleven_flash_v2_5").speaks("vi")
    assert not await voice(cloud, deps, model="eleven_monolingual_v1").speaks("fr")
