"""The self-hosted clients through the real Pipeline and Cascade, against the fakes."""


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
    fc.checkpoints = []  # the checkpoint is missing: rejected once, then cooling down
    fq.legacy = True
    fq.behaviour.extend(["fail"] * 10)
    async with serve(fo) as o, serve(fc) as c, serve(fq) as q:
        result, z = await run_job(deps, tmp_path, o, c, q, clock)
    assert result.provenance["script"] == {"z": 1}
    assert result.provenance["image"] == {"z": 4} and len(fc.prompts) == 1
    assert result.provenance["voice"] == {"z": 4}
    outcomes = [(a.stage, a.provider, a.outcome) for a in result.attempts if a.provider != "z"]
    assert ("script", "ollama", "misconfigured") in outcomes
    assert outcomes.count(("image", "comfyui", "skipped")) == 3
