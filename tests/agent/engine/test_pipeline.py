import asyncio
import json
import threading

import pytest

from agent.engine.backends import Backends
from agent.engine.health import HealthBoard
from agent.engine.pipeline import JobSpec, Pipeline
from agent.engine.render import render
from agent.settings import settings_from_mapping
from providers.base import Stage, Tier
from providers.errors import AllProvidersFailed, AuthFailed, BadOutput, Unavailable
from tests.fakes import FakeProvider, FakeRenderer

ORDERS = {Stage.SCRIPT: ("a", "z"), Stage.IMAGE: ("a", "b", "z"), Stage.CLIP: ("a",), Stage.VOICE: ("a", "z")}


def build(clock, providers, renderer=None, **video):
    settings = settings_from_mapping({"video": video} if video else {})
    backends = Backends(providers, ORDERS)
    renderer = renderer or FakeRenderer()
    pipeline = Pipeline(settings=settings, backends=backends, health=HealthBoard(settings.cascade, clock),
                        renderer=renderer, clock=clock)
    return pipeline, renderer


def job(**kw):
    base = dict(job_id="job1", topic="cats in space", size=(320, 568), seed=7)
    base.update(kw)
    return JobSpec(**base)


@pytest.mark.parametrize("overlap", [True, False])
async def test_happy_path_provenance_events_and_render_spec(tmp_path, clock, overlap):
    a, z = FakeProvider("a"), FakeProvider("z", Tier.OFFLINE)
    pipeline, renderer = build(clock, [a, z], overlap=overlap)
    events = []
    result = await pipeline.run(job(), tmp_path / "w", events.append)
    assert result.provenance == {"script": {"a": 1}, "image": {"a": 4}, "voice": {"a": 4}, "render": {"local": 1}}
    spec = renderer.specs[0]
    assert len(spec.scenes) == 4 and all(s.image and s.audio for s in spec.scenes)
    assert [r.seed for kind, r in a.history if kind == "image"] == sorted({7, 8, 9, 10})
    fractions = [e.fraction for e in events]
    assert fractions == sorted(fractions), "overall progress never goes backwards"
    assert events[-1].stage == "done" and events[-1].fraction == 1.0
    stages = [e.stage for e in events]
    if overlap:  # the voice fixes the timeline; the render's own events follow the last image
        assert stages.index("script") < stages.index("voice") < stages.index("image") < stages.index("render")
        last_image = max(i for i, st in enumerate(stages) if st == "image")
        assert all(i > last_image for i, st in enumerate(stages) if st == "render")
        assert set(result.timings_s) == {"script", "voice", "image", "render", "render_tail"}
    else:
        assert stages.index("script") < stages.index("image") < stages.index("voice") < stages.index("render")
    assert any(e.stage == "image" and e.done == 2 and e.total == 4 for e in events)


async def test_images_fall_back_per_scene_not_per_job(tmp_path, clock):
    # a fails scene 2 only (bad output): that scene goes to b, the rest stay on a.
    a = FakeProvider("a")
    b = FakeProvider("b", Tier.CLOUD_FREE)
    z = FakeProvider("z", Tier.OFFLINE)
    pipeline, _ = build(clock, [a, b, z], image_concurrency=1)
    calls = {"n": 0}

    def maybe_fail():
        calls["n"] += 1
        if calls["n"] == 2:
            raise BadOutput("content policy")

    a.enqueue(None, None, None, None, None)  # the script and the four voices come first; None -> default
    a.enqueue(*(maybe_fail for _ in range(4)))
    result = await pipeline.run(job(), tmp_path / "w")
    assert result.provenance["image"] == {"a": 3, "b": 1}
    assert result.tiers["image"].count(Tier.CLOUD_FREE) == 1
    failed = [x for x in result.attempts if x.outcome != "ok"]
    assert [(x.stage, x.provider, x.outcome) for x in failed] == [("image", "a", "bad_output")]


async def test_dead_backend_mid_job_keeps_good_script(tmp_path, clock):
    a = FakeProvider("a")
    z = FakeProvider("z", Tier.OFFLINE)
    pipeline, _ = build(clock, [a, z], image_concurrency=1, voice_concurrency=1)
    a.enqueue(None, *[Unavailable("connection refused")] * 20)
    result = await pipeline.run(job(), tmp_path / "w")
    assert result.provenance["script"] == {"a": 1}
    assert result.provenance["image"] == {"z": 4}
    # after two refusals a cools down and is skipped, not retried for every scene
    skipped = [x for x in result.attempts if x.outcome == "skipped"]
    assert skipped and all(x.provider == "a" for x in skipped)


async def test_every_provider_failing_raises_typed_error(tmp_path, clock):
    a = FakeProvider("a").enqueue(AuthFailed("401"))
    z = FakeProvider("z", Tier.OFFLINE).enqueue(Unavailable("x"))
    pipeline, _ = build(clock, [a, z])
    with pytest.raises(AllProvidersFailed) as info:
        await pipeline.run(job(), tmp_path / "w")
    assert info.value.stage == "script"


async def test_cancellation_mid_images_propagates_and_stops_work(tmp_path, clock):
    gate = asyncio.Event()

    async def hang():
        gate.set()
        await asyncio.sleep(30)

    # script, four voices, then the images hang
    a = FakeProvider("a").enqueue(None, None, None, None, None, hang, hang, hang, hang)
    pipeline, renderer = build(clock, [a, FakeProvider("z", Tier.OFFLINE)])
    task = asyncio.create_task(pipeline.run(job(), tmp_path / "w"))
    await gate.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [kind for kind, _ in a.history if kind == "image"]
    assert not any(r.out.exists() for r in renderer.specs)


async def test_resume_reuses_finished_items(tmp_path, clock):
    a = FakeProvider("a")
    z = FakeProvider("z", Tier.OFFLINE)

    class Boom(Exception):
        pass

    class FailingRenderer:  # fails at the end, once every picture is in
        async def __call__(self, spec, on_progress=None):
            if spec.feed is not None:
                await spec.feed.complete.wait()
            raise Boom()

    pipeline, _ = build(clock, [a, z], renderer=FailingRenderer())
    with pytest.raises(Boom):
        await pipeline.run(job(), tmp_path / "w")
    first_calls = len(a.history)
    manifest = json.loads((tmp_path / "w" / "manifest.json").read_text())
    assert set(manifest) == {"script", "image", "voice"}

    pipeline2, renderer = build(clock, [a, z])
    result = await pipeline2.run(job(), tmp_path / "w")
    assert len(a.history) == first_calls, "nothing regenerated on resume"
    assert result.provenance["image"] == {"a": 4}
    assert len(renderer.specs) == 1


async def test_gpu_heavy_calls_never_overlap(tmp_path, clock):
    active = {"now": 0, "max": 0}

    async def slow():
        active["now"] += 1
        active["max"] = max(active["max"], active["now"])
        await asyncio.sleep(0.01)
        active["now"] -= 1

    a = FakeProvider("a", gpu_heavy=True).enqueue(None, slow, slow, slow, slow)
    pipeline, _ = build(clock, [a, FakeProvider("z", Tier.OFFLINE)], image_concurrency=4)
    await pipeline.run(job(), tmp_path / "w")
    assert active["max"] == 1


async def test_the_renderer_encodes_scenes_while_later_images_are_drawn(tmp_path, clock):
    """The real renderer, fed scene by scene: it has encoded frames before the last image exists,
    and what it does after the last image is a fraction of the whole render."""
    drawn = asyncio.Event()
    seen_while_drawing: list[float] = []

    async def slow_image():
        await asyncio.sleep(0.6)

    a = FakeProvider("a").enqueue(None, None, None, None, None, slow_image, slow_image, slow_image, slow_image)

    async def watching_render(spec, on_progress=None):
        def progress(f: float) -> None:
            if not drawn.is_set() and f > 0:
                seen_while_drawing.append(f)
            if on_progress:
                on_progress(f)
        return await render(spec, progress)

    pipeline, _ = build(clock, [a, FakeProvider("z", Tier.OFFLINE)], renderer=watching_render,
                        image_concurrency=1, title_card_s=0.3, fps=15)
    events = []

    def sink(e):
        events.append(e)
        if e.stage == "image" and e.stage_done:
            drawn.set()

    result = await pipeline.run(job(size=(160, 284)), tmp_path / "w", sink)
    assert seen_while_drawing, "the render made progress before the last image was drawn"
    assert result.timings_s["render_tail"] < result.timings_s["render"]
    assert [e.fraction for e in events] == sorted(e.fraction for e in events)


async def test_an_image_stage_that_fails_stops_the_render_it_was_feeding(tmp_path, clock):
    a = FakeProvider("a").enqueue(None, None, None, None, None, None, Unavailable("comfy died"))
    pipeline, _ = build(clock, [a], renderer=render, title_card_s=0.3, fps=15, image_concurrency=1)
    with pytest.raises(AllProvidersFailed):
        async with asyncio.timeout(30):
            await pipeline.run(job(size=(160, 284)), tmp_path / "w")
    assert not [t for t in threading.enumerate() if t.name.startswith("render-")]
    assert not (tmp_path / "w" / "video.mp4").exists()


async def test_video_mode_failed_clips_become_stills(tmp_path, clock):
    a = FakeProvider("a")
    z = FakeProvider("z", Tier.OFFLINE)
    pipeline, renderer = build(clock, [a, z], image_concurrency=1)
    # script ok, clip 1 ok, clip 2 fails (only a serves clips), the rest ok
    a.enqueue(None, None, Unavailable("comfy died"))
    result = await pipeline.run(job(mode="video"), tmp_path / "w")
    spec = renderer.specs[0]
    assert spec.scenes[0].clip is not None and spec.scenes[0].image is None
    assert spec.scenes[1].clip is None and spec.scenes[1].image is not None
    assert result.provenance["clip"] == {"a": 3}
    assert sum(result.provenance["image"].values()) == 1


def test_the_topic_seed_is_pinned_and_unsigned_32_bit() -> None:
    """The agent and `reelbot make` share `topic_seed`: a topic draws the same pictures everywhere
    and across releases, so its value is pinned here."""
    from agent.engine.pipeline import topic_seed

    assert topic_seed("the life cycle of a star") == 681386765
    assert topic_seed("") == 3820012610  # above 2**31: the range is unsigned
    assert all(0 <= topic_seed(t) < 2**32 for t in ("a", "é", "x" * 500))


async def test_video_mode_progress_never_goes_back_when_clips_become_stills(tmp_path, clock):
    a, z = FakeProvider("a"), FakeProvider("z", Tier.OFFLINE)
    pipeline, _ = build(clock, [a, z], image_concurrency=1)
    a.enqueue(None, None, Unavailable("comfy died"))  # the script, clip 1, then clip 2 fails
    events = []
    result = await pipeline.run(job(mode="video"), tmp_path / "w", events.append)
    fractions = [e.fraction for e in events]
    assert fractions == sorted(fractions), [(e.stage, e.done, e.fraction) for e in events]
    assert [e.stage for e in events].index("image") > [e.stage for e in events].index("clip")  # the still came after
    # who made each scene's clip or still, and why scene 2 is a still
    assert [(s.kind, s.provider) for s in result.scenes] == [("clip", "a"), ("still", "a"), ("clip", "a"), ("clip", "a")]
    assert result.stills_note() == "1 of 4 scenes are stills: a failed: comfy died"
    assert result.timings_s.keys() >= {"clip", "image"}  # the stills are timed apart from the clips


async def test_slideshow_scenes_are_pictures_and_have_no_stills_note(tmp_path, clock):
    a, z = FakeProvider("a"), FakeProvider("z", Tier.OFFLINE)
    pipeline, _ = build(clock, [a, z])
    result = await pipeline.run(job(), tmp_path / "w")
    assert [(s.kind, s.provider) for s in result.scenes] == [("picture", "a")] * 4 and result.stills_note() == ""
