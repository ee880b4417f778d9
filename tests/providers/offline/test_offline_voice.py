"""The offline narrator: eSpeak NG through ctypes (in its child process), to a WAV with word timings."""

from __future__ import annotations

import asyncio
import logging
import os
import time
import wave
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import numpy as np
import pytest

from providers.base import ProviderDeps, StageContext, VoiceRequest
from providers.errors import BadOutput
from providers.offline import OfflineConfig, OfflineVoice

TEXT = "Picture this: the life cycle of a star, seen for the very first time."

MakeVoice = Callable[..., OfflineVoice]


@pytest.fixture
async def make_voice() -> AsyncIterator[MakeVoice]:
    """OfflineVoice(config): each owns an eSpeak child process, closed after the test."""
    made: list[OfflineVoice] = []

    def make(**config: object) -> OfflineVoice:
        voice = OfflineVoice(OfflineConfig(**config), ProviderDeps(None, time.monotonic, Path(".")))  # type: ignore[arg-type]
        made.append(voice)
        return voice

    yield make
    for voice in made:
        await voice.aclose()


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as wav:
        assert wav.getnchannels() == 1 and wav.getsampwidth() == 2
        frames = wav.readframes(wav.getnframes())
        return np.frombuffer(frames, dtype="<i2"), wav.getframerate()


async def speak(voice: OfflineVoice, out: Path, text: str = TEXT, name: str = "", index: int = 0):
    return await voice.speak(VoiceRequest(text=text, voice=name, scene_index=index, out_dir=out),
                             StageContext("job-1"))


async def test_probe_reports_the_version(make_voice: MakeVoice) -> None:
    info = await make_voice().probe()
    assert info["version"].count(".") >= 1 and info["sample_rate"] > 8000


async def test_writes_an_audible_wav_of_plausible_length(make_voice: MakeVoice, tmp_path: Path) -> None:
    result = await speak(make_voice(), tmp_path, index=4)
    assert result.path == tmp_path / "voice_04.wav"
    samples, rate = read_wav(result.path)
    assert rate == 22050
    assert result.duration_s == pytest.approx(len(samples) / rate, abs=1e-6)
    rms = float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))
    assert rms > 300  # speech, not silence
    words = len(TEXT.split())
    assert 0.2 * words <= result.duration_s <= 1.0 * words
    assert await asyncio.to_thread(os.listdir, tmp_path) == ["voice_04.wav"]


async def test_word_timings_are_monotonic_and_cover_the_text(make_voice: MakeVoice, tmp_path: Path) -> None:
    result = await speak(make_voice(), tmp_path)
    assert result.words
    spoken = [w.word for w in result.words]
    expected = [w.strip(":,.") for w in TEXT.split()]
    assert spoken == expected
    last_end = 0.0
    for w in result.words:
        assert last_end - 1e-6 <= w.start_s < w.end_s <= result.duration_s + 1e-6
        last_end = w.end_s
    assert result.words[0].start_s < 0.3
    assert result.words[-1].end_s > 0.7 * result.duration_s


async def test_numbers_and_symbols_keep_one_timing_per_word(make_voice: MakeVoice, tmp_path: Path) -> None:
    text = 'Give me 25 seconds: "black holes" 🚀 {braces} & more.'
    result = await speak(make_voice(), tmp_path, text=text)
    assert result.words is not None
    words = [w.word for w in result.words]
    assert words == ["Give", "me", "25", "seconds", "black", "holes", "🚀", "braces", "more"]  # "&" is pure punctuation
    starts = [w.start_s for w in result.words]
    assert starts == sorted(starts)


async def test_rate_changes_duration(make_voice: MakeVoice, tmp_path: Path) -> None:
    slow = await speak(make_voice(words_per_minute=120), tmp_path / "slow")
    fast = await speak(make_voice(words_per_minute=260), tmp_path / "fast")
    assert fast.duration_s < 0.75 * slow.duration_s


async def test_voice_selection_changes_output(make_voice: MakeVoice, tmp_path: Path) -> None:
    us = await speak(make_voice(), tmp_path / "us", name="en-us")
    female = await speak(make_voice(), tmp_path / "f", name="en-us+f3")
    gb = await speak(make_voice(), tmp_path / "gb", name="en-gb")  # a language tag, not a file name
    a, _ = read_wav(us.path)
    for other in (female, gb):
        b, _ = read_wav(other.path)
        assert len(a) != len(b) or not np.array_equal(a, b)


async def test_unknown_voice_falls_back_with_a_warning(make_voice: MakeVoice, tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    default = await speak(make_voice(), tmp_path / "a")
    with caplog.at_level(logging.WARNING, logger="providers.offline"):
        fallback = await speak(make_voice(), tmp_path / "b", name="alloy")
    assert "alloy" in caplog.text and "job-1" in caplog.text
    # eSpeak jitters its pitch at random, so "the same voice" means "about the same length"
    assert fallback.duration_s == pytest.approx(default.duration_s, rel=0.05)
    # a broken configured voice still speaks, with plain "en"
    broken = await speak(make_voice(voice="no-such-voice"), tmp_path / "c", name="nor-this")
    assert read_wav(broken.path)[0].size > 0


async def test_concurrent_calls_do_not_mix(make_voice: MakeVoice, tmp_path: Path) -> None:
    voice = make_voice()
    short_text, long_text = "Hello there.", TEXT + " " + TEXT
    alone_short = await speak(voice, tmp_path / "alone", text=short_text)
    results = await asyncio.gather(
        speak(voice, tmp_path, text=long_text, index=0),
        speak(voice, tmp_path, text=short_text, index=1, name="en-us+f3"),
        speak(voice, tmp_path, text=short_text, index=2),
    )
    assert results[0].duration_s > 3 * results[2].duration_s
    assert results[2].duration_s == pytest.approx(alone_short.duration_s, rel=0.05)
    assert results[0].words is not None and len(results[0].words) == 2 * len(TEXT.split())
    assert [w.word for w in results[2].words or ()] == ["Hello", "there"]


async def test_empty_text_is_refused(make_voice: MakeVoice, tmp_path: Path) -> None:
    with pytest.raises(BadOutput):
        await speak(make_voice(), tmp_path, text="   ")


async def test_voice_catalog_is_espeaks_own_list(make_voice: MakeVoice) -> None:
    catalog = await make_voice(voice="en-gb").voices()
    assert len(catalog.names) > 100 and len(catalog.variants) > 50
    for name in ("en-us", "EN-GB", "en", "fr", "gmw/en-US", "English (America)", "en-us+f3", "en+Annie",
                 "en+mr serious"):
        assert catalog.offers(name), name
    for name in ("alloy", "!v/m1", "+" * 64, "en+" + "a" * 37, "en-us+", "+f3", "en+!v/m1", "../en", ""):
        assert not catalog.offers(name), name
    assert catalog.examples[:3] == ("en-gb", "en-us", "en-us+f3")  # the configured voice first


async def _spoken(voice: OfflineVoice, out: Path, text: str, language: str, name: str = ""):
    return await voice.speak(VoiceRequest(text=text, voice=name, scene_index=0, out_dir=out, language=language),
                             StageContext("job-lang"))


async def test_each_language_gets_its_own_voice_and_says_so(make_voice: MakeVoice, tmp_path: Path) -> None:
    voice = make_voice(voice="en-us+f3")
    assert await voice.speaks("ja") and await voice.speaks("pt-BR") and await voice.speaks("zh-TW")
    assert not await voice.speaks("tlh")  # Klingon: no voice, the pipeline skips this provider
    result = await _spoken(voice, tmp_path, "ねこと うちゅうに ついて、ほとんどの ひとが きづかない ことが あります。", "ja")
    assert result.language == "ja"
    assert voice._voices("en-us+f3", "ja")[0] == "ja+f3"  # the configured variant, the language's voice
    assert voice._voices("en-us+f3", "en")[0] == "en-us+f3"
    assert result.duration_s < 8  # eSpeak's English voice spells kana out: three times as long
    french = await _spoken(voice, tmp_path, "Voici une chose que presque personne ne remarque.", "fr")
    assert french.language == "fr" and french.words is not None and len(french.words) == 8


async def test_words_in_another_script_are_read_by_that_scripts_voice(make_voice: MakeVoice, tmp_path: Path) -> None:
    # an English storyboard about a Hebrew topic: the English voice would spell every letter's name
    text = "Here is something most people never notice about חייו של כוכב. Stay with me."
    result = await _spoken(make_voice(), tmp_path, text, "en")
    assert result.duration_s < 7, result.duration_s  # 4.6 s; spelled out, 10.6 s
    assert result.words is not None and [w.word for w in result.words] == [
        "Here", "is", "something", "most", "people", "never", "notice", "about", "חייו", "של", "כוכב",
        "Stay", "with", "me"]
    starts = [w.start_s for w in result.words]
    assert starts == sorted(starts) and result.words[-1].end_s <= result.duration_s + 1e-6
