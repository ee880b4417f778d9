import time

from agent.engine.gpu import plan_gpu_sharing
from agent.engine.health import HealthBoard
from agent.settings import settings_from_mapping
from agent.engine.status import build_for_status, collect_status
from providers.errors import Unavailable
from reelbot.commands.status import format_report
from tests.providers.fake_servers import FakeComfy, FakeCoqui, FakeOllama, serve


def settings_for(ollama="", comfy="", coqui="", **providers):
    data = {"providers": {"ollama": {"url": ollama}, "comfyui": {"url": comfy, "poll_interval_s": 0.05},
                          "coqui": {"url": coqui}, **providers}}
    return settings_from_mapping(data)


async def test_all_self_hosted_up_is_self_hosted_mode(deps):
    fo, fc, fq = FakeOllama(), FakeComfy(), FakeCoqui()
    async with serve(fo) as o, serve(fc) as c, serve(fq) as q:
        s = settings_for(o, c, q)
        providers, errors = build_for_status(s, deps)
        report = await collect_status(s, providers, HealthBoard(s.cascade, deps.clock), construction_errors=errors,
                                      gpu_shared=plan_gpu_sharing(providers))
    rows = {b.name: b for b in report.backends}
    assert report.mode == "self-hosted", format_report(report)
    assert rows["ollama"].version == "0.5.1" and rows["ollama"].details["loaded"] == ["mistral:latest"]
    assert rows["comfyui"].details["queue_pending"] == 0 and rows["comfyui"].details["vram_total"] > 0
    assert rows["coqui"].ready and not rows["openai"].configured
    assert report.gpu_shared == ["comfyui", "ollama"]  # same host: released between steps
    assert [s.provider for s in report.stages] == ["ollama", "comfyui", "coqui"]
    text = format_report(report)
    assert "SELF-HOSTED" in text and "ollama" in text


async def test_local_servers_serving_images_and_voice_is_self_hosted_not_offline(deps):
    """Issue 14, defect 7: with no Ollama the script runs on the built-in tier, but ComfyUI serves every
    image and Coqui every voice: that is SELF-HOSTED, with a note, not OFFLINE."""
    fc, fq = FakeComfy(), FakeCoqui()
    async with serve(fc) as c, serve(fq) as q:
        s = settings_for(comfy=c, coqui=q)
        providers, errors = build_for_status(s, deps)
        report = await collect_status(s, providers, HealthBoard(s.cascade, deps.clock), construction_errors=errors)
    assert [st.provider for st in report.stages] == ["offline", "comfyui", "coqui"]
    assert report.mode == "self-hosted" and report.offline_stages() == ["script"]
    assert format_report(report).splitlines()[0].startswith("mode: SELF-HOSTED (script on the built-in offline tier)")


async def test_hanging_backends_answer_in_under_3s_and_fall_to_offline(deps):
    fo, fc, fq = FakeOllama(), FakeComfy(), FakeCoqui()
    fo.hang_probes = fc.hang_probes = fq.hang_probes = True
    async with serve(fo) as o, serve(fc) as c, serve(fq) as q:
        s = settings_for(o, c, q)
        providers, _ = build_for_status(s, deps)
        started = time.monotonic()
        report = await collect_status(s, providers, HealthBoard(s.cascade, deps.clock))
        assert time.monotonic() - started < 3.0
    rows = {b.name: b for b in report.backends}
    assert not rows["ollama"].up and "within" in rows["ollama"].problem
    assert report.mode == "offline"
    assert [s.provider for s in report.stages] == ["offline", "offline", "offline"]


async def test_missing_model_and_cooldown_shown_and_mode_reflects_them(deps, clock):
    fo, fc = FakeOllama(), FakeComfy()
    fo.models = []
    fc.checkpoints = []
    async with serve(fo) as o, serve(fc) as c:
        s = settings_for(o, c)
        providers, errors = build_for_status(s, deps)
        health = HealthBoard(s.cascade, clock)
        for _ in range(2):
            health.record_failure("coqui", "voice", Unavailable("refused"))
        report = await collect_status(s, providers, health, construction_errors=errors)
    rows = {b.name: b for b in report.backends}
    assert rows["ollama"].up and not rows["ollama"].ready and rows["ollama"].hint == "run `ollama pull llama3.2:3b`"
    assert "sd_xl_base_1.0.safetensors" in rows["comfyui"].problem
    assert rows["coqui"].cooldowns == {"voice": 60.0} and "refused" in rows["coqui"].last_error
    assert report.mode == "offline"


async def test_rejected_workflow_is_shown_not_raised(deps, tmp_path):
    bad = tmp_path / "w.json"
    bad.write_text('{"1": {"class_type": "SaveImage", "inputs": {}}}')
    s = settings_for(comfy="http://127.0.0.1:9", comfyui={"url": "http://127.0.0.1:9", "image": {"workflow": str(bad)}})
    providers, errors = build_for_status(s, deps)
    assert "nothing receives the prompt" in errors["comfyui"]
    report = await collect_status(s, providers, None, construction_errors=errors, timeout_s=0.5)
    row = next(b for b in report.backends if b.name == "comfyui")
    assert "nothing receives the prompt" in row.problem and not row.ready


async def test_unconfigured_backends_are_not_probed(deps):
    s = settings_for()
    providers, _ = build_for_status(s, deps)
    assert {p.name for p in providers} == {"offline"}
    report = await collect_status(s, providers)
    assert report.mode == "offline"


async def test_a_probe_that_raises_a_programming_error_is_a_bug_shown_as_a_problem(deps, bugs):
    """Status still answers (the row says what broke), and the bug is logged as one."""
    from tests.fakes import FakeProvider

    class BrokenProbe(FakeProvider):
        async def probe(self):  # type: ignore[no-untyped-def]
            return self.no_such_attribute

    s = settings_for()
    report = await collect_status(s, [BrokenProbe("offline")])
    rows = {b.name: b for b in report.backends}
    assert rows["offline"].up is False and "no_such_attribute" in rows["offline"].problem
    assert [(r.provider, r.stage, r.exc_info[0]) for r in bugs] == [("offline", "status", AttributeError)]


async def test_a_voice_without_a_key_is_unknown_not_up_and_does_not_serve(deps):
    from providers.streamelements import StreamElementsConfig, StreamElementsVoice

    s = settings_for(streamelements={"anonymous": True})
    voice = StreamElementsVoice(StreamElementsConfig(anonymous=True, url="http://127.0.0.1:9/never"), deps)
    report = await collect_status(s, [voice], HealthBoard(s.cascade, deps.clock))
    row = next(b for b in report.backends if b.name == "streamelements")
    assert row.up is None and not row.ready and "STREAMELEMENTS_TOKEN" in row.problem
    assert "unknown" in format_report(report).split("streamelements", 1)[1].splitlines()[0]
    assert next(st for st in report.stages if st.stage == "voice").provider is None


async def test_a_clip_workflow_needing_a_missing_node_pack_is_named_and_only_its_stage_blocked(deps):
    fc = FakeComfy()  # stock nodes; the image workflow's checkpoint is there
    async with serve(fc) as c:
        s = settings_from_mapping({"video": {"mode": "video"}, "stages": {"image": ["comfyui"], "clip": ["comfyui"]},
                                   "providers": {"comfyui": {"url": c, "clip": {"workflow": "animatediff"}}}})
        providers, errors = build_for_status(s, deps)
        report = await collect_status(s, providers, HealthBoard(s.cascade, deps.clock), construction_errors=errors)
    row = {b.name: b for b in report.backends}["comfyui"]
    assert row.up and row.unready_stages == ["clip"]
    assert "ADE_AnimateDiffLoaderGen1 (AnimateDiff-Evolved)" in row.problem
    assert "install AnimateDiff-Evolved" in row.hint and "wan2.2-5b" in row.hint
    assert row.details["missing_nodes"] == ["ADE_AnimateDiffLoaderGen1", "ADE_StandardUniformContextOptions"]
    assert {st.stage: st.provider for st in report.stages}["clip"] is None
    assert "AnimateDiff-Evolved" in format_report(report)
