"""The self-hosted clients through the real Pipeline and Cascade, against the fakes."""

import json

from agent.engine.backends import Backends
from agent.engine.health import HealthBoard
from agent.engine.pipeline import JobSpec, Pipeline
from agent.settings import settings_from_mapping
from providers.base import Stage, Tier
from providers.comfyui import ComfyConfig, ComfyImageMaker
from providers.coqui import CoquiConfig, CoquiVoice
from providers.ollama import OllamaConfig, OllamaScriptWriter
from tests.fakes import FakeProvider, FakeRenderer
from tests.providers.fake_servers import FakeComfy, FakeCoqui, FakeOllama, serve

ORDERS = {Stage.SCRIPT: ("ollama", "z"), Stage.IMAGE: ("comfyui", "z"), Stage.CLIP: (), Stage.VOICE: ("coqui", "z")}


async def run_job(deps, tmp_path, o, c, q, clock):
    settings = settings_from_mapping({"video": {"image_concurrency": 1, "voice_concurrency": 1}})
    z = FakeProvider("z", Tier.OFFLINE)
    providers = [
        OllamaScriptWriter(OllamaConfig(url=o), deps),
        ComfyImageMaker(ComfyConfig(url=c, poll_interval_s=0.05), deps),
        CoquiVoice(CoquiConfig(url=q), deps),
        z,
    ]
    pipeline = Pipeline(settings=settings, backends=Backends(providers, ORDERS),
                        health=HealthBoard(settings.cascade, clock), renderer=FakeRenderer(), clock=clock)
    job = JobSpec(job_id="j1", topic="the life of a star", size=(320, 568), seed=100)
    return await pipeline.run(job, tmp_path / "work"), z


async def test_self_hosted_job_with_per_scene_fallback_and_gpu_release(deps, tmp_path, clock):
    fo, fc, fq = FakeOllama(), FakeComfy(), FakeCoqui()
    fc.outcomes.extend(["ok", "oom", "ok", "ok"])
    async with serve(fo) as o, serve(fc) as c, serve(fq) as q:
        result, z = await run_job(deps, tmp_path, o, c, q, clock)
    assert result.provenance["script"] == {"ollama": 1}
    assert result.provenance["image"] == {"comfyui": 3, "z": 1}  # only the failed scene fell back
    assert result.provenance["voice"] == {"coqui": 4}
    assert [p["prompt"]["3"]["inputs"]["seed"] for p in fc.prompts] == [100, 101, 102, 103]
    # same host: Ollama unloads on its last call, ComfyUI frees before the voice
    assert fo.requests[-1]["keep_alive"] == 0
    assert fc.freed == [{"unload_models": True, "free_memory": True}]
    failed = [(a.stage, a.provider, a.outcome) for a in result.attempts if a.outcome != "ok"]
    assert failed == [("image", "comfyui", "unavailable")]


async def test_dead_and_misconfigured_backends_fall_back(deps, tmp_path, clock):
    fo, fc, fq = FakeOllama(), FakeComfy(), FakeCoqui()
    fo.models = []  # not pulled
    fc.checkpoints = []  # the checkpoint is missing: the node check sees it, ComfyUI is never sent a prompt
    fq.legacy = True
    fq.behaviour.extend(["fail"] * 10)
    async with serve(fo) as o, serve(fc) as c, serve(fq) as q:
        result, z = await run_job(deps, tmp_path, o, c, q, clock)
    assert result.provenance["script"] == {"z": 1}
    assert result.provenance["image"] == {"z": 4} and len(fc.prompts) == 0
    assert result.provenance["voice"] == {"z": 4}
    outcomes = [(a.stage, a.provider, a.outcome) for a in result.attempts if a.provider != "z"]
    assert ("script", "ollama", "misconfigured") in outcomes
    assert not [o for o in outcomes if o[:2] == ("image", "comfyui")]  # not tried at all: no failed call per scene


VIDEO_ORDERS = {**ORDERS, Stage.CLIP: ("comfyui",)}


async def run_video_job(deps, tmp_path, o, c, q, clock, clip_workflow=""):
    from providers.comfyui import ComfyClipMaker, ComfyWorkflowConfig

    settings = settings_from_mapping({"video": {"image_concurrency": 1, "voice_concurrency": 1}})
    config = ComfyConfig(url=c, poll_interval_s=0.05, clip=ComfyWorkflowConfig(workflow=clip_workflow))
    providers = [OllamaScriptWriter(OllamaConfig(url=o), deps), ComfyImageMaker(config, deps),
                 ComfyClipMaker(config, deps), CoquiVoice(CoquiConfig(url=q), deps), FakeProvider("z", Tier.OFFLINE)]
    renderer = FakeRenderer()
    pipeline = Pipeline(settings=settings, backends=Backends(providers, VIDEO_ORDERS),
                        health=HealthBoard(settings.cascade, clock), renderer=renderer, clock=clock)
    events = []
    job = JobSpec(job_id="v1", topic="the life of a star", size=(320, 568), seed=100, mode="video")
    return await pipeline.run(job, tmp_path / "work", events.append), renderer.specs[0], events


async def test_image_to_video_job_draws_each_still_uploads_it_and_animates_it(deps, tmp_path, clock):
    fo, fc, fq = FakeOllama(), FakeComfy(), FakeCoqui()  # the default clip workflow: Wan 2.2 5B, image-to-video
    async with serve(fo) as o, serve(fc) as c, serve(fq) as q:
        result, spec, events = await run_video_job(deps, tmp_path, o, c, q, clock)
    kinds = ["clip" if any(n["class_type"] == "SaveVideo" for n in p["prompt"].values()) else "image"
             for p in fc.prompts]
    assert kinds == ["image"] * 4 + ["clip"] * 4  # every still first, then the clips that animate them
    assert sorted(fc.uploads) == [f"reelbot/reelbot_v1_{i:02d}.png" for i in range(4)]
    for i, prompt in enumerate(fc.prompts[4:]):
        graph = prompt["prompt"]
        assert graph["11"]["inputs"]["image"] == f"reelbot/reelbot_v1_{i:02d}.png"
        assert graph["5"]["inputs"]["start_image"] == ["11", 0]
    assert [(s.kind, s.provider) for s in result.scenes] == [("clip", "comfyui")] * 4 and result.stills_note() == ""
    assert all(s.clip is not None and s.image is not None for s in spec.scenes)  # the still stays as a fallback
    fractions = [e.fraction for e in events]
    assert fractions == sorted(fractions)


async def test_a_custom_pack_clip_workflow_on_a_stock_comfyui_makes_stills_and_says_why(deps, tmp_path, clock):
    fo, fc, fq = FakeOllama(), FakeComfy(), FakeCoqui()
    async with serve(fo) as o, serve(fc) as c, serve(fq) as q:
        result, spec, events = await run_video_job(deps, tmp_path, o, c, q, clock, clip_workflow="animatediff")
    assert all("ADE_AnimateDiffLoaderGen1" not in json.dumps(p) for p in fc.prompts)  # never sent: no 400 per scene
    assert [(s.kind, s.provider) for s in result.scenes] == [("still", "comfyui")] * 4
    assert result.stills_note() == "4 of 4 scenes are stills: ComfyUI lacks AnimateDiff-Evolved"
    assert not [a for a in result.attempts if a.stage == "clip"]
    fractions = [e.fraction for e in events]
    assert fractions == sorted(fractions)
