"""StreamElements against a fake: MP3 converted to 16-bit mono WAV; 401/402 as auth/payment."""

from __future__ import annotations

import wave

import pytest
from aiohttp import web

from agent.engine.health import HealthBoard
from agent.settings import CascadeSettings
from agent.engine.validation import validate_voice
from providers.base import Tier, VoiceRequest
from providers.errors import AuthFailed, BadOutput, PaymentRequired
from providers.streamelements import StreamElementsConfig, StreamElementsVoice
from tests.providers.cloud.cloud_fakes import fixture, json_response, mp3_bytes

TOKEN = "se_SECRET_token_42"


def voice(cloud, deps, **kw):
    return StreamElementsVoice(StreamElementsConfig(token=TOKEN, url=cloud.url("/kappa/v2/speech"), **kw), deps)


async def test_mp3_becomes_pcm_wav(cloud, deps, ctx, tmp_path):
    cloud.enqueue("GET", "/kappa/v2/speech", web.Response(body=mp3_bytes(1.6), content_type="audio/mpeg"))
    text = "The stars are wheeling overhead tonight."
    v = voice(cloud, deps)
    result = await v.speak(VoiceRequest(text=text, voice="amy", scene_index=3, out_dir=tmp_path), ctx)
    seen = cloud.calls("GET", "/kappa/v2/speech")[0]
    assert seen.query == {"voice": "Amy", "text": text}
    assert seen.headers["Authorization"] == f"Bearer {TOKEN}"
    with wave.open(str(result.path), "rb") as w:
        assert (w.getsampwidth(), w.getnchannels(), w.getcomptype()) == (2, 1, "NONE")
    assert result.duration_s == pytest.approx(1.6, abs=0.15)
    await validate_voice(result, text)
    assert v.tier is Tier.CLOUD_FREE
    assert not list(tmp_path.glob(".*"))  # no temp files left behind


async def test_unknown_voice_uses_the_configured_one(cloud, deps, ctx, tmp_path):
    cloud.enqueue("GET", "/kappa/v2/speech", web.Response(body=mp3_bytes(1.0), content_type="audio/mpeg"))
    await voice(cloud, deps, voice="Emma").speak(
        VoiceRequest(text="Hello there.", voice="en-us+f3", scene_index=0, out_dir=tmp_path), ctx)
    assert cloud.calls("GET")[0].query["voice"] == "Emma"


async def test_401_is_auth_failed_with_a_long_cooldown(cloud, deps, ctx, tmp_path, clock):
    cloud.default("GET", "/kappa/v2/speech", json_response(fixture("streamelements_error_401.json"), 401))
    with pytest.raises(AuthFailed, match="No API key was found") as info:
        await voice(cloud, deps).speak(VoiceRequest(text="Hi there.", voice="", scene_index=0, out_dir=tmp_path), ctx)
    assert type(info.value) is AuthFailed
    board = HealthBoard(CascadeSettings(), clock)
    assert board.record_failure("streamelements", "voice", info.value) == CascadeSettings().auth_cooldown_s


async def test_402_is_payment_required_and_garbage_is_bad_output(cloud, deps, ctx, tmp_path):
    cloud.enqueue("GET", "/kappa/v2/speech", json_response({"statusCode": 402, "error": "Payment Required",
                                                            "message": "Not cached"}, 402),
                  web.Response(body=b"\x00" * 4000, content_type="audio/mpeg"),
                  web.Response(text="<html></html>", content_type="text/html"))
    v = voice(cloud, deps)
    req = VoiceRequest(text="Hi there.", voice="", scene_index=0, out_dir=tmp_path)
    with pytest.raises(PaymentRequired):
        await v.speak(req, ctx)
    with pytest.raises(BadOutput, match="decoded"):
        await v.speak(req, ctx)
    with pytest.raises(BadOutput, match="expected audio"):
        await v.speak(req, ctx)


def test_configured_with_a_token_or_when_asked_to_try_anonymously():
    assert not StreamElementsConfig().configured()
    assert StreamElementsConfig(anonymous=True).configured()
    assert StreamElementsConfig(token="se_1234").configured()


async def test_probe_without_a_key_is_unknown_never_up(cloud, deps):
    # keyless, the service still serves a cached "Hi", while real narration gets 401
    cloud.default("GET", "/kappa/v2/speech", web.Response(body=b"ID3" + b"\x00" * 64, content_type="audio/mpeg"))
    anonymous = StreamElementsVoice(StreamElementsConfig(anonymous=True, url=cloud.url("/kappa/v2/speech")), deps)
    info = await anonymous.probe()
    assert "unknown" in info and "STREAMELEMENTS_TOKEN" in info["unknown"]
    assert not cloud.calls()  # nothing asked: the answer would prove nothing
    keyed = StreamElementsVoice(StreamElementsConfig(token="se-1234", url=cloud.url("/kappa/v2/speech")), deps)
    assert "unknown" not in await keyed.probe()
    assert cloud.calls()[0].headers["Authorization"] == "Bearer se-1234"
