"""A video per script family on the offline tier, end to end (real storyboard, art, eSpeak, render):
the language recorded for every stage, a voice of that language, and a natural speaking rate.

    Latin with accents (French), CJK (Japanese), right to left (Arabic)

Small frames keep it quick; the speaking-rate check skips the encoder (the length is the narration's).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.engine.pipeline import JobResult, JobSpec
from agent.engine.runtime import open_runtime
from agent.settings import settings_from_mapping
from providers.base import Stage
from tests.fakes import FakeRenderer

OFFLINE = {"script": ["offline"], "image": ["offline"], "clip": [], "voice": ["offline"]}
SIZE = (144, 256)


async def _make(tmp_path: Path, topic: str, language: str = "", *, render: bool = True,
                **settings: object) -> tuple[JobResult, dict]:
    config = settings_from_mapping({"stages": OFFLINE, "video": {"title_card_s": 1.0, "fps": 10, **settings},
                                    "agent": {"data_dir": str(tmp_path / "data")}})
    job = JobSpec(job_id=f"lang-{language or 'default'}", topic=topic, size=SIZE, seed=7, language=language)
    async with open_runtime(config, renderer=None if render else FakeRenderer()) as rt:
        workdir = tmp_path / job.job_id
        result = await rt.pipeline.run(job, workdir, orders={Stage.CLIP: ()})
        manifest = json.loads((workdir / "manifest.json").read_text(encoding="utf-8"))
    return result, manifest


@pytest.mark.parametrize(("language", "topic", "title"), [
    ("fr", "la crème brûlée à Zürich", "La crème brûlée à Zürich"),
    ("ja", "猫と宇宙 🐱🚀 — 星の旅 ✨", "猫と宇宙 — 星の旅"),
    ("ar", "القطط في الفضاء", "القطط في الفضاء"),
])
async def test_a_video_in_each_script_family(tmp_path: Path, language: str, topic: str, title: str) -> None:
    result, manifest = await _make(tmp_path, topic, language)
    assert result.language == language
    assert result.languages == {"script": language, "image": language, "voice": language, "render": language}
    assert not result.language_notes
    assert result.title == title  # the topic as written: no folding, no emoji spelled as words
    assert f"language: {language}" in result.provenance_line()
    # every scene spoken by eSpeak's voice for the language
    assert {entry["language"] for entry in manifest["voice"].values()} == {language}
    assert result.provenance["voice"] == {"offline": len(result.script.scenes)}
    assert result.video.stat().st_size > 10_000


async def test_a_language_without_templates_is_said_in_the_provenance(tmp_path: Path) -> None:
    # Thai: no storyboard templates, so the script is English with the topic kept, and the voice
    # follows the script (an English narration read by a Thai voice would be worse)
    result, _ = await _make(tmp_path, "แมวในอวกาศ", "th", render=False)
    assert result.languages["script"] == result.languages["voice"] == "en"
    assert "แมวในอวกาศ" in " ".join(s.narration for s in result.script.scenes)
    assert any("no templates for Thai" in note for note in result.language_notes)
    # Portuguese: the nearest templates (Spanish), said so
    result, _ = await _make(tmp_path / "pt", "a vida de uma estrela", "pt", render=False)
    assert result.languages["script"] == result.languages["voice"] == "es"
    assert any("nearest to Portuguese" in note for note in result.language_notes)


async def test_a_short_japanese_video_runs_about_as_long_as_an_english_one(tmp_path: Path) -> None:
    # the video's length is the title card plus each scene's narration and pause: the renderer's
    # arithmetic (tests.fakes.FakeRenderer); the narration is real eSpeak
    english, _ = await _make(tmp_path / "en", "the life of a star", "en", render=False)
    japanese, _ = await _make(tmp_path / "ja", "猫と宇宙 🐱🚀 — 星の旅 ✨", "ja", render=False)
    assert japanese.duration_s <= 1.3 * english.duration_s, (japanese.duration_s, english.duration_s)
    assert japanese.duration_s >= 0.6 * english.duration_s  # and not cut short either


async def test_a_voice_provider_that_cannot_speak_the_language_is_skipped(tmp_path: Path, clock) -> None:
    from agent.engine.backends import Backends
    from agent.engine.health import HealthBoard
    from agent.engine.pipeline import Pipeline
    from providers.base import Tier
    from tests.fakes import FakeProvider

    mute, able = FakeProvider("mute", Tier.CLOUD_FREE), FakeProvider("able", Tier.OFFLINE)
    asked: list[str] = []

    async def cannot(language: str) -> bool:
        asked.append(language)
        return False

    mute.speaks = cannot  # type: ignore[attr-defined]
    settings = settings_from_mapping({})
    orders = {Stage.SCRIPT: ("able",), Stage.IMAGE: ("able",), Stage.CLIP: (), Stage.VOICE: ("mute", "able")}
    pipeline = Pipeline(settings=settings, backends=Backends([mute, able], orders),
                        health=HealthBoard(settings.cascade, clock), renderer=FakeRenderer(), clock=clock)
    result = await pipeline.run(JobSpec(job_id="skip", topic="cats in space", size=SIZE), tmp_path / "w")
    assert asked == ["en"]
    assert result.provenance["voice"] == {"able": len(result.script.scenes)}
    assert not [a for a in result.attempts if a.provider == "mute"]  # never tried, not a failure


async def test_a_voice_provider_that_cannot_tell_is_still_tried(tmp_path: Path, clock) -> None:
    from agent.engine.backends import Backends
    from agent.engine.health import HealthBoard
    from agent.engine.pipeline import Pipeline
    from providers.base import Tier
    from providers.errors import Unavailable
    from tests.fakes import FakeProvider

    unsure = FakeProvider("unsure", Tier.OFFLINE)

    async def broken(language: str) -> bool:
        raise Unavailable("its child process does not start", provider="unsure")

    unsure.speaks = broken  # type: ignore[attr-defined]
    settings = settings_from_mapping({})
    orders = {Stage.SCRIPT: ("unsure",), Stage.IMAGE: ("unsure",), Stage.CLIP: (), Stage.VOICE: ("unsure",)}
    pipeline = Pipeline(settings=settings, backends=Backends([unsure], orders),
                        health=HealthBoard(settings.cascade, clock), renderer=FakeRenderer(), clock=clock)
    result = await pipeline.run(JobSpec(job_id="unsure", topic="cats in space", size=SIZE), tmp_path / "w")
    assert result.provenance["voice"] == {"unsure": len(result.script.scenes)}
