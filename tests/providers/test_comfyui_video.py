"""Motion clips on a stock ComfyUI: the native video workflows (Wan 2.x, LTX-Video), image-to-video,
and the node check that names a missing custom node pack. The fake ComfyUI serves the whole
/object_info recorded from a stock 0.8.0 server and validates prompts as it does."""

from __future__ import annotations

import json

import pytest

from providers.base import ClipRequest, StageContext
from providers.comfyui import ComfyClipMaker, ComfyConfig, ComfyWorkflowConfig
from providers.comfyui.workflow import BUNDLED_DIR, NATIVE_CLIP_PRESETS, PRESETS, frames_for
from providers.comfyui.makers import CHECK_TTL_S
from providers.errors import Misconfigured, Unavailable
from tests.providers.fake_servers import FakeComfy, serve
from tests.providers.fake_servers.comfyui import ANIMATEDIFF_NODES, png_bytes, stock_object_info

I2V_PRESETS = [name for name in NATIVE_CLIP_PRESETS if PRESETS[name].i2v_file]


def clip_request(tmp_path, image=None, seconds=3.0, **kw):
    base = dict(prompt="waves on a shore", style="film", negative="blurry", width=1080, height=1920,
                seconds=seconds, fps=30, seed=5, scene_index=2, scene_count=4, out_dir=tmp_path, image=image)
    return ClipRequest(**{**base, **kw})


def clip_maker(url, deps, workflow="", **wcfg):
    clip = ComfyWorkflowConfig(workflow=workflow, **wcfg)
    return ComfyClipMaker(ComfyConfig(url=url, poll_interval_s=0.05, clip=clip), deps)


def with_models(fake: FakeComfy, preset: str) -> FakeComfy:
    """The box has the preset's model files (both variants) in every loader's list."""
    p = PRESETS[preset]
    files = [*p.models.values(), *p.i2v_models.values()]
    fake.models = {"unet_name": list(files), "clip_name": list(files), "vae_name": list(files)}
    fake.checkpoints = list(files)
    return fake


def still(tmp_path):
    path = tmp_path / "still_02.png"
    path.write_bytes(png_bytes(64, 112))
    return path


def test_frame_counts_cover_the_scene_in_the_models_steps():
    assert frames_for(3.0, 24, 4, 121) == 73  # Wan: 4k+1 >= 72
    assert frames_for(3.0, 16, 4, 81) == 49
    assert frames_for(3.0, 24, 8, 97) == 73  # LTX-Video: 8k+1
    assert frames_for(0.2, 24, 4, 121) == 9  # never fewer than 8
    assert frames_for(20.0, 24, 4, 121) == 121 and frames_for(20.0, 24, 8, 100) == 97  # the model's maximum
    assert frames_for(2.01, 8) == 17  # any count: just cover it


@pytest.mark.parametrize("preset", NATIVE_CLIP_PRESETS)
async def test_native_text_to_video_workflows_run_on_a_stock_comfyui(deps, tmp_path, preset):
    fake = with_models(FakeComfy(), preset)
    async with serve(fake) as url:
        maker = clip_maker(url, deps, preset, image_to_video=False)
        check = await maker.check_nodes()
        result = await maker.make_clip(clip_request(tmp_path), StageContext("j"))
    assert check.ok and check.missing_nodes == () and all(ok for _, ok in check.models)
    graph = fake.prompts[0]["prompt"]
    classes = {node["class_type"] for node in graph.values()}
    assert {"CreateVideo", "SaveVideo", "VAEDecode", "CLIPLoader"} <= classes and "LoadImage" not in classes
    p = PRESETS[preset]
    (frames,) = {n["inputs"]["length"] for n in graph.values() if "length" in n["inputs"]}
    assert (frames - 1) % p.frame_step == 0 and frames / p.fps >= 3.0 and frames <= p.max_frames
    clip_type = next(n["inputs"]["type"] for n in graph.values() if n["class_type"] == "CLIPLoader")
    assert clip_type == ("ltxv" if preset == "ltxv" else "wan")
    if preset != "ltxv":
        assert {"UNETLoader", "VAELoader"} <= classes
    assert result.path.suffix == ".mp4" and result.path.stat().st_size > 0
    assert result.seconds == round(frames / p.fps, 3)


@pytest.mark.parametrize("preset", I2V_PRESETS)
async def test_image_to_video_uploads_the_still_and_animates_it(deps, tmp_path, preset):
    fake = with_models(FakeComfy(), preset)
    image = still(tmp_path)
    async with serve(fake) as url:
        maker = clip_maker(url, deps, preset)
        assert maker.wants_image
        assert (await maker.check_nodes()).ok
        result = await maker.make_clip(clip_request(tmp_path, image=image), StageContext("job7"))
    assert fake.uploads == {"reelbot/reelbot_job7_02.png": image.read_bytes()}
    graph = fake.prompts[0]["prompt"]
    loads = [n for n in graph.values() if n["class_type"] == "LoadImage"]
    assert [n["inputs"]["image"] for n in loads] == ["reelbot/reelbot_job7_02.png"]
    load_id = next(k for k, n in graph.items() if n["class_type"] == "LoadImage")
    fed = [n["class_type"] for n in graph.values() if [load_id, 0] in n["inputs"].values()]
    assert fed and set(fed) <= {"Wan22ImageToVideoLatent", "WanImageToVideo", "LTXVImgToVideo", "CLIPVisionEncode"}
    for placeholder, file in PRESETS[preset].i2v_models.items():  # the image-to-video model files
        assert file in json.dumps(graph), placeholder
    assert result.path.suffix == ".mp4"


async def test_without_a_still_the_text_to_video_variant_runs(deps, tmp_path):
    fake = with_models(FakeComfy(), "wan2.2-5b")
    async with serve(fake) as url:
        await clip_maker(url, deps).make_clip(clip_request(tmp_path), StageContext("j"))  # the default: 5B
    graph = fake.prompts[0]["prompt"]
    assert fake.uploads == {} and "start_image" not in graph["5"]["inputs"]
    assert graph["1"]["inputs"]["unet_name"] == "wan2.2_ti2v_5B_fp16.safetensors"


async def test_a_save_webm_workflow_gives_a_webm_clip(deps, tmp_path):
    graph = json.loads((BUNDLED_DIR / "wan2.1.json").read_text())
    del graph["9"]
    graph["10"] = {"class_type": "SaveWEBM", "inputs": {"images": ["8", 0], "filename_prefix": "reelbot/webm",
                                                          "codec": "vp9", "fps": "{{fps}}", "crf": 32.0}}
    own = tmp_path / "own.json"
    own.write_text(json.dumps(graph))
    fake = with_models(FakeComfy(), "wan2.1-1.3b")
    async with serve(fake) as url:
        maker = clip_maker(url, deps, str(own), models=("checkpoint=wan2.1_t2v_1.3B_fp16.safetensors",
                                                         "clip=umt5_xxl_fp8_e4m3fn_scaled.safetensors",
                                                         "vae=wan_2.1_vae.safetensors", "shift=8"))
        assert (await maker.check_nodes()).ok
        result = await maker.make_clip(clip_request(tmp_path), StageContext("j"))
    assert result.path.suffix == ".webm"


@pytest.mark.parametrize("preset, pack, node", [
    ("animatediff", "AnimateDiff-Evolved", "ADE_AnimateDiffLoaderGen1"),
    ("cogvideox", "the CogVideoX wrapper", "CogVideoSampler"),
])
async def test_custom_pack_workflows_are_refused_with_the_pack_named(deps, tmp_path, preset, pack, node):
    fake = FakeComfy()
    async with serve(fake) as url:
        maker = clip_maker(url, deps, preset)
        why = await maker.unusable_now()
        probe = await maker.probe()
        with pytest.raises(Misconfigured) as sent_anyway:  # the real server's 400 invalid_prompt
            await maker.make_clip(clip_request(tmp_path), StageContext("j"))
    assert why == f"ComfyUI lacks {pack}"
    assert node in probe["missing_nodes"] and f"{node} ({pack})" in probe["problem"]
    assert f"install {pack}" in probe["hint"] and "wan2.2-5b" in probe["hint"]
    assert "does not exist" in sent_anyway.value.message
    assert len(fake.prompts) == 1


async def test_animatediff_runs_where_the_pack_is_installed(deps, tmp_path):
    fake = FakeComfy()
    fake.extra_nodes = ANIMATEDIFF_NODES
    async with serve(fake) as url:
        maker = clip_maker(url, deps, "animatediff")
        assert await maker.unusable_now() == "" and not maker.wants_image
        result = await maker.make_clip(clip_request(tmp_path), StageContext("j"))
    graph = fake.prompts[0]["prompt"]
    assert graph["5"]["inputs"]["batch_size"] == 16 and graph["2"]["inputs"]["model_name"] == "mm_sd_v15_v2.ckpt"
    assert result.seconds == 2.0


async def test_a_missing_model_file_is_named_by_the_node_check(deps, tmp_path):
    fake = FakeComfy()
    fake.models = {}  # a stock box with no model files at all
    async with serve(fake) as url:
        maker = clip_maker(url, deps)
        check = await maker.check_nodes()
        probe = await maker.probe()
    assert check.missing_nodes == ()
    assert set(check.missing_models) == {"wan2.2_ti2v_5B_fp16.safetensors", "umt5_xxl_fp8_e4m3fn_scaled.safetensors",
                                         "wan2.2_vae.safetensors"}
    assert check.reason().startswith("ComfyUI lacks wan2.2_ti2v_5B_fp16.safetensors")
    assert "models folder" in probe["hint"]


async def test_the_fake_answers_an_unknown_class_as_comfyui_does(session):
    fake = FakeComfy()
    graph = {"3": {"class_type": "ADE_AnimateDiffLoaderGen1", "inputs": {}}}
    async with serve(fake) as url:
        async with session.post(f"{url}/prompt", json={"prompt": graph, "client_id": "c"}) as resp:
            assert resp.status == 400
            body = await resp.json()
        async with session.get(f"{url}/object_info/ADE_AnimateDiffLoaderGen1") as resp:
            assert await resp.json() == {}
    assert body == {"error": {"type": "invalid_prompt",
                              "message": "Cannot execute because node ADE_AnimateDiffLoaderGen1 does not exist.",
                              "details": "Node ID '#3'", "extra_info": {}}, "node_errors": {}}


async def test_a_server_that_does_not_answer_leaves_the_decision_to_the_cascade(deps):
    maker = clip_maker("http://127.0.0.1:1", deps)  # nothing listens there
    with pytest.raises(Unavailable):
        await maker.check_nodes()
    assert await maker.unusable_now() == ""  # not known to be unusable: the cascade tries it and cools it down


async def test_the_node_check_is_kept_a_while_then_asked_again(deps, clock):
    fake = FakeComfy()
    async with serve(fake) as url:
        maker = clip_maker(url, deps, "animatediff")
        assert await maker.unusable_now() == "ComfyUI lacks AnimateDiff-Evolved"
        fake.extra_nodes = ANIMATEDIFF_NODES  # the operator installs the pack
        assert await maker.unusable_now() == "ComfyUI lacks AnimateDiff-Evolved"  # the kept answer
        clock.advance(CHECK_TTL_S + 1)
        assert await maker.unusable_now() == ""


@pytest.mark.parametrize("preset", NATIVE_CLIP_PRESETS)
def test_bundled_native_workflows_match_the_stock_node_definitions(preset):
    """Every input a bundled native workflow sets is one its node declares, every required input is
    set, and every link carries the type its input takes (recorded stock 0.8.0 /object_info)."""
    info = stock_object_info()
    p = PRESETS[preset]
    for file in filter(None, (p.file, p.i2v_file)):
        graph = json.loads((BUNDLED_DIR / file).read_text())
        for node_id, node in graph.items():
            declared = info[node["class_type"]]["input"]
            required, optional = declared.get("required", {}), declared.get("optional", {})
            assert set(node["inputs"]) <= set(required) | set(optional), (file, node_id)
            assert set(required) <= set(node["inputs"]), (file, node_id)
            for name, value in node["inputs"].items():
                if isinstance(value, list):  # a link: [source node id, output index]
                    source = info[graph[value[0]]["class_type"]]
                    wanted = (required.get(name) or optional.get(name))[0]
                    assert source["output"][value[1]] == wanted, (file, node_id, name)
