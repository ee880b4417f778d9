"""End to end: real renders at 360x640, checked with agent.engine.render.probe."""

from __future__ import annotations

import asyncio
import subprocess
import threading
from pathlib import Path

import pytest

from agent.engine.render import (
    BudgetTooSmall,
    ClipDecodeError,
    RenderError,
    RenderScene,
    RenderSpec,
    RenderTimeout,
    render,
)
from agent.engine.render.ffmpeg import ProcessSet
from agent.engine.render.probe import decoded_duration, loudness, probe
from tests.support.waiting import wait_until

W, H = 360, 640
NARRATION = [
    "Every star begins inside a cold, dark cloud of gas and dust drifting between the stars.",
    "Gravity pulls the densest knots together until the core grows hot and bright.",
    "Then hydrogen fuses into helium, and a star is born.",
]


def _spec(media, tmp_path: Path, seconds=(1.5, 1.2, 1.0), **kw) -> RenderSpec:
    scenes = [
        RenderScene(NARRATION[0], media("wav", "a0.wav", seconds[0]), seconds[0],
                    image=media("still", "s0.png", (832, 1472), 0)),
        RenderScene(NARRATION[1], media("wav", "a1.wav", seconds[1], freq=330), seconds[1],
                    image=media("still", "s1.png", (1024, 1024), 1)),
        RenderScene(NARRATION[2], media("wav", "a2.wav", seconds[2], freq=180), seconds[2],
                    clip=media("clip", "c2.mp4", 0.6)),
    ]
    defaults = dict(title="Life of a star", scenes=tuple(scenes), out=tmp_path / "out" / "video.mp4",
                    width=W, height=H, title_card_s=1.0, timeout_s=120)
    return RenderSpec(**{**defaults, **kw})


def _leftovers(out: Path) -> list[Path]:
    return [p for p in out.parent.iterdir() if p.name != out.name]


async def test_renders_h264_aac_yuv420p_of_the_expected_length(media, tmp_path):
    spec = _spec(media, tmp_path, max_bytes=2_000_000)
    seen: list[float] = []
    result = await render(spec, seen.append)

    info = probe(result.path)
    assert info.video and info.audio
    assert (info.video.codec, info.video.pix_fmt) == ("h264", "yuv420p")
    assert (info.video.width, info.video.height, info.video.fps) == (W, H, 30.0)
    assert info.audio.codec == "aac"
    expected = spec.title_card_s + sum(s.audio_s + spec.scene_pad_s for s in spec.scenes)
    assert abs(decoded_duration(result.path) - expected) < 0.5
    assert abs(result.duration_s - expected) < 0.1
    assert loudness(result.path).mean_db > -40
    assert result.bytes == result.path.stat().st_size <= spec.max_bytes
    assert result.video_kbps is not None and not result.reencoded
    assert seen and seen[-1] == 1.0 and seen == sorted(seen)
    assert _leftovers(result.path) == []  # temp dir gone, output published atomically


async def test_tiny_budget_reencodes_or_raises_a_typed_error(media, tmp_path):
    spec = _spec(media, tmp_path, max_bytes=30_000)
    try:
        result = await render(spec)
    except BudgetTooSmall:
        assert not spec.out.exists()
    else:
        assert result.reencoded and result.bytes <= spec.max_bytes
    assert _leftovers(spec.out) == []


async def test_absurd_budget_raises_budget_too_small(media, tmp_path):
    spec = _spec(media, tmp_path, max_bytes=2_000)
    with pytest.raises(BudgetTooSmall):
        await render(spec)
    assert not spec.out.exists() and _leftovers(spec.out) == []


async def test_overshoot_triggers_the_second_encode(media, tmp_path, monkeypatch):
    from agent.engine.render import job as job_module

    real_encode = job_module.RenderJob.encode
    calls = []

    def encode(self, prep, out, plan):  # the first encode "overshoots" by a padded file
        real_encode(self, prep, out, plan)
        calls.append(plan)
        if len(calls) == 1:
            with open(out, "ab") as f:
                f.write(b"\0" * self.spec.max_bytes)

    monkeypatch.setattr(job_module.RenderJob, "encode", encode)
    result = await render(_spec(media, tmp_path, max_bytes=400_000))
    assert result.reencoded and len(calls) == 2
    assert calls[1].video_kbps < calls[0].video_kbps
    assert result.video_kbps == pytest.approx(calls[1].video_kbps)


async def test_music_is_mixed_and_ducked(media, tmp_path):
    music = media("wav", "music.wav", 1.3, freq=440, rate=44100, channels=2, level=0.5)
    spec = _spec(media, tmp_path, music=music, subtitles=False)
    result = await render(spec)
    assert probe(result.path).audio is not None
    assert loudness(result.path).mean_db > -40


async def test_broken_clip_falls_back_to_the_still(media, tmp_path):
    spec = _spec(media, tmp_path)
    bad = tmp_path / "in" / "broken.mp4"
    bad.write_bytes(b"not a video at all" * 100)
    scenes = list(spec.scenes)
    scenes[2] = RenderScene(NARRATION[2], scenes[2].audio, scenes[2].audio_s, image=scenes[0].image, clip=bad)
    result = await render(RenderSpec(**{**spec.__dict__, "scenes": tuple(scenes)}))
    assert probe(result.path).video is not None


async def test_broken_clip_without_still_is_a_clip_error(media, tmp_path):
    spec = _spec(media, tmp_path)
    bad = tmp_path / "in" / "broken.mp4"
    bad.write_bytes(b"\0" * 1000)
    scenes = list(spec.scenes)
    scenes[2] = RenderScene(NARRATION[2], scenes[2].audio, scenes[2].audio_s, clip=bad)
    with pytest.raises(ClipDecodeError):
        await render(RenderSpec(**{**spec.__dict__, "scenes": tuple(scenes)}))
    assert _leftovers(spec.out) == []


async def test_missing_audio_is_a_render_error(media, tmp_path):
    spec = _spec(media, tmp_path)
    scenes = list(spec.scenes)
    scenes[0] = RenderScene("x", tmp_path / "nope.wav", 1.0, image=scenes[0].image)
    with pytest.raises(RenderError):
        await render(RenderSpec(**{**spec.__dict__, "scenes": tuple(scenes)}))


@pytest.fixture
def spawned(monkeypatch) -> list[subprocess.Popen]:
    """Every ffmpeg child the renderer starts (the Popen objects it owns)."""
    procs: list[subprocess.Popen] = []
    real = ProcessSet.popen

    def popen(self, args, **kwargs):
        proc = real(self, args, **kwargs)
        procs.append(proc)
        return proc

    monkeypatch.setattr(ProcessSet, "popen", popen)
    return procs


def _render_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("render-")]


async def test_cancellation_stops_the_encoder_and_reaps_every_child(media, tmp_path, spawned):
    spec = _spec(media, tmp_path, seconds=(30.0, 1.0, 1.0), width=720, height=1280)
    seen: list[float] = []
    task = asyncio.create_task(render(spec, seen.append))
    await wait_until(lambda: seen and seen[-1] > 0.02, 20, interval_s=0.025)  # frames are being encoded
    task.cancel()
    async with asyncio.timeout(10):  # the encoder is in-process: it stops at the next frame
        with pytest.raises(asyncio.CancelledError):
            await task
    assert all(p.returncode is not None for p in spawned)  # any ffmpeg child (audio, clips) killed and waited for
    assert _render_threads() == []
    assert not spec.out.exists() and _leftovers(spec.out) == []


async def test_timeout_stops_the_encoder_and_raises_render_timeout(media, tmp_path, spawned):
    spec = _spec(media, tmp_path, seconds=(30.0, 1.0, 1.0), width=720, height=1280, timeout_s=1.5)
    async with asyncio.timeout(20):
        with pytest.raises(RenderTimeout):
            await render(spec)
    assert all(p.returncode is not None for p in spawned)
    assert _render_threads() == []
    assert _leftovers(spec.out) == []


async def test_event_loop_stays_responsive_while_rendering(media, tmp_path):
    spec = _spec(media, tmp_path)
    task = asyncio.create_task(render(spec))
    worst = 0.0
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(spec.timeout_s):
        while not task.done():
            t = loop.time()
            await asyncio.sleep(0.01)
            worst = max(worst, loop.time() - t - 0.01)
    await task
    assert worst < 0.25
