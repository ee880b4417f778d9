import wave

import pytest

from agent.engine.validation import validate_voice
from providers.base import StageContext, VoiceRequest
from providers.coqui import CoquiConfig, CoquiVoice
from providers.errors import BadOutput, Misconfigured, Unavailable
from tests.providers.fake_servers import FakeCoqui, serve

TEXT = "The first stars were giants that burned hot and died young."


def voice(url, deps, **kw):
    return CoquiVoice(CoquiConfig(url=url, **kw), deps)


def req(tmp_path, text=TEXT, v=""):
    return VoiceRequest(text=text, voice=v, scene_index=2, out_dir=tmp_path, language="de")


async def test_success_form_params_no_json_and_valid_16bit_wav(deps, tmp_path):
    fake = FakeCoqui()
    async with serve(fake) as url:
        result = await voice(url, deps, speaker="p225", language="job").speak(req(tmp_path), StageContext("j"))
    sent = fake.requests[0]
    assert sent["content_type"] == "application/x-www-form-urlencoded"
    assert sent == {"text": TEXT, "speaker_id": "p225", "language_id": "de", "content_type": sent["content_type"]}
    assert result.words is None and result.duration_s > 2
    with wave.open(str(result.path)) as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1
    await validate_voice(result, TEXT)


async def test_float_stereo_wav_is_converted_to_pcm16_mono(deps, tmp_path):
    fake = FakeCoqui()
    fake.sample_format = "float32"
    async with serve(fake) as url:
        result = await voice(url, deps).speak(req(tmp_path), StageContext("j"))
    await validate_voice(result, TEXT)


async def test_request_voice_used_only_when_listed(deps, tmp_path):
    fake = FakeCoqui()
    async with serve(fake) as url:
        await voice(url, deps, speaker="a", voices=("b",)).speak(req(tmp_path, v="b"), StageContext("j"))
        await voice(url, deps, speaker="a", voices=("b",)).speak(req(tmp_path, v="alloy"), StageContext("j"))
    assert [r["speaker_id"] for r in fake.requests] == ["b", "a"]


async def test_fork_json_errors(deps, tmp_path):
    fake = FakeCoqui()
    fake.multi_speaker = True
    async with serve(fake) as url:
        with pytest.raises(Misconfigured) as info:
            await voice(url, deps).speak(req(tmp_path), StageContext("j"))
        assert "speaker" in info.value.hint
        with pytest.raises(BadOutput, match="Text parameter is required"):
            await voice(url, deps, speaker="p1").speak(req(tmp_path, text=" "), StageContext("j"))
        fake.behaviour.append("fail")
        with pytest.raises(BadOutput, match="synthesis failed"):
            await voice(url, deps, speaker="p1").speak(req(tmp_path), StageContext("j"))


async def test_legacy_html_500(deps, tmp_path):
    fake = FakeCoqui(legacy=True)
    fake.behaviour.append("fail")
    async with serve(fake) as url:
        with pytest.raises(Unavailable, match="500 Internal Server Error"):
            await voice(url, deps).speak(req(tmp_path), StageContext("j"))
        info = await voice(url, deps).probe()
    assert info["details"] == "HTTP 404"


async def test_silent_audio_fails_validation(deps, tmp_path):
    fake = FakeCoqui()
    fake.behaviour.append("silent")
    async with serve(fake) as url:
        result = await voice(url, deps).speak(req(tmp_path), StageContext("j"))
    with pytest.raises(BadOutput, match="silent"):
        await validate_voice(result, TEXT)


async def test_dropped_and_slow_answers_are_unavailable(deps, tmp_path):
    fake = FakeCoqui()
    fake.behaviour.extend(["drop", "slow"])
    async with serve(fake) as url:
        with pytest.raises(Unavailable):
            await voice(url, deps).speak(req(tmp_path), StageContext("j"))
        with pytest.raises(Unavailable, match="timed out"):
            await voice(url, deps, timeout_s=0.3).speak(req(tmp_path), StageContext("j"))


async def test_not_a_wav_is_bad_output(deps, tmp_path, monkeypatch):
    fake = FakeCoqui()
    async with serve(fake) as url:
        v = voice(url, deps)
        from providers import coqui

        monkeypatch.setattr(coqui, "to_pcm16_mono", lambda data: (_ for _ in ()).throw(ValueError("not a RIFF/WAVE file")))
        with pytest.raises(BadOutput, match="RIFF"):
            await v.speak(req(tmp_path), StageContext("j"))


async def test_languages_it_speaks_and_a_speaker_per_language(deps, tmp_path):
    fake = FakeCoqui()
    xtts = voice("http://127.0.0.1:1", deps, language="job", languages=("en", "de", "ja"),
                 speaker="Ana", voices=("Bob",), speakers=("ja=Yuki", "de = Klaus"))
    assert await xtts.speaks("ja") and await xtts.speaks("de-AT") and not await xtts.speaks("ar")
    assert await voice("http://127.0.0.1:1", deps, language="job").speaks("ar")  # multilingual, list unknown
    english_only = voice("http://127.0.0.1:1", deps)
    assert await english_only.speaks("en-GB") and not await english_only.speaks("fr")
    async with serve(fake) as url:
        xtts = voice(url, deps, language="job", speaker="Ana", voices=("Bob",), speakers=("ja=Yuki", "de = Klaus"))
        for language, chosen in (("ja", ""), ("de", ""), ("en", ""), ("ja", "Bob")):
            request = VoiceRequest(text=TEXT, voice=chosen, scene_index=0, out_dir=tmp_path, language=language)
            await xtts.speak(request, StageContext("j"))
    assert [(r["speaker_id"], r["language_id"]) for r in fake.requests] == [
        ("Yuki", "ja"), ("Klaus", "de"), ("Ana", "en"), ("Bob", "ja")]  # the job's own pick wins
