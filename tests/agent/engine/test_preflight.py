"""At start-up, a provider that cannot serve its stage on its server is named in the log, and the
answer is kept for the first job (agent.engine.preflight, ComfyUI's node check)."""

from __future__ import annotations

from agent.engine.runtime import open_runtime
from agent.settings import settings_from_mapping
from providers.comfyui.nodes import pack_of
from tests.providers.fake_servers import FakeComfy, serve
from tests.support.waiting import logged


def test_known_custom_node_packs_are_named():
    assert pack_of("ADE_AnimateDiffLoaderGen1") == ("AnimateDiff-Evolved", "Kosinkadink/ComfyUI-AnimateDiff-Evolved")
    assert pack_of("CogVideoSampler")[0] == pack_of("DownloadAndLoadCogVideoModel")[0] == "the CogVideoX wrapper"
    assert pack_of("VHS_VideoCombine") == ("VideoHelperSuite", "Kosinkadink/ComfyUI-VideoHelperSuite")
    assert pack_of("KSampler") is None


async def test_start_up_names_the_missing_pack_and_keeps_the_answer(tmp_path):
    fake = FakeComfy()
    async with serve(fake) as url:
        settings = settings_from_mapping({
            "agent": {"data_dir": str(tmp_path)},
            "providers": {"comfyui": {"url": url, "clip": {"workflow": "animatediff"}}},
        })
        with logged("agent.engine.preflight", "comfyui cannot serve clip on its server: ComfyUI lacks "
                                              "AnimateDiff-Evolved") as seen:
            async with open_runtime(settings) as rt:
                assert seen.is_set()
                clip_maker = next(p for p in rt.backends.all() if "clip" in {s.value for s in p.stages})
                asked = len(fake.object_info_asked)
                assert await clip_maker.unusable_now() == "ComfyUI lacks AnimateDiff-Evolved"
                assert len(fake.object_info_asked) == asked  # the start-up answer, kept
