import asyncio
import json

import pytest

from providers.base import ImageRequest, StageContext
from providers.comfyui import ComfyConfig, ComfyImageMaker, ComfyWorkflowConfig
from providers.comfyui.workflow import generation_size, load_workflow
from providers.errors import BadOutput, Misconfigured, Unavailable
from tests.providers.fake_servers import FakeComfy, serve
from tests.support.waiting import logged

HOSTILE = 'a "quoted" {brace} \\back\\slash\nnew line {{prompt}} }}{{ \u00e9\u2603'


def image_request(tmp_path, prompt="a red fox", **kw):
    base = dict(prompt=prompt, style="cinematic", negative="blurry", width=1080, height=1920, seed=41,
                scene_index=1, scene_count=4, out_dir=tmp_path)
    base.update(kw)
    return ImageRequest(**base)


def maker(url, deps, cls=ComfyImageMaker, **kw):
    return cls(ComfyConfig(url=url, poll_interval_s=0.05, **kw), deps)


async def test_image_success_sizes_seed_progress_and_binary_frames(deps, tmp_path):
    fake = FakeComfy()
    reports = []
    async with serve(fake) as url:
        result = await maker(url, deps).make_image(image_request(tmp_path), StageContext("j", lambda f, m: reports.append((f, m))))
    graph = fake.prompts[0]["prompt"]
    assert fake.prompts[0]["client_id"]
    assert graph["5"]["inputs"]["width"] == 832 and graph["5"]["inputs"]["height"] == 1472  # SDXL 9:16
    assert graph["3"]["inputs"]["seed"] == 41 and isinstance(graph["3"]["inputs"]["steps"], int)
    assert graph["4"]["inputs"]["ckpt_name"] == "sd_xl_base_1.0.safetensors"
    assert graph["6"]["inputs"]["text"] == "a red fox, cinematic" and graph["7"]["inputs"]["text"] == "blurry"
    assert result.path.is_file() and result.path.read_bytes()[:4] == b"\x89PNG"
    assert (result.width, result.height) == (192, 320)
    assert [f for f, _ in reports] == [0.25, 0.5, 0.75, 1.0]
    assert fake.views[0]["type"] == "output"


async def test_hostile_prompt_arrives_verbatim(deps, tmp_path):
    fake = FakeComfy()
    async with serve(fake) as url:
        await maker(url, deps).make_image(image_request(tmp_path, prompt=HOSTILE, style=""), StageContext("j"))
    assert fake.prompts[0]["prompt"]["6"]["inputs"]["text"] == HOSTILE


def test_substitution_is_structural_and_single_pass():
    wf = load_workflow("sdxl")
    values = {k: "x" for k in wf.needs()} | {"prompt": "{{negative}}", "negative": "neg", "width": 64}
    graph = wf.substitute(values)
    assert graph["6"]["inputs"]["text"] == "{{negative}}"
    assert graph["5"]["inputs"]["width"] == 64
    assert json.dumps(load_workflow("sdxl").graph).count("{{prompt}}") == 1  # the template is untouched


def test_workflow_without_prompt_placeholder_rejected_at_construction(tmp_path, deps):
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"6": {"class_type": "CLIPTextEncode", "inputs": {"text": "fixed"}},
                                "9": {"class_type": "SaveImage", "inputs": {"images": ["6", 0]}}}))
    with pytest.raises(Misconfigured, match="nothing receives the prompt"):
        ComfyImageMaker(ComfyConfig(url="http://127.0.0.1:1", image=ComfyWorkflowConfig(workflow=str(path))), deps)
    # a binding makes the same export usable
    ok = ComfyImageMaker(ComfyConfig(url="http://127.0.0.1:1", image=ComfyWorkflowConfig(
        workflow=str(path), bindings=("prompt=6.text",))), deps)
    assert ok.workflow.substitute(ok._values(64, 64, 1, 1, 1, prompt=HOSTILE))["6"]["inputs"]["text"] == HOSTILE
    ui = tmp_path / "ui.json"
    ui.write_text(json.dumps({"nodes": [], "links": []}))
    with pytest.raises(Misconfigured, match="Save \\(API\\)"):
        ComfyImageMaker(ComfyConfig(url="http://x", image=ComfyWorkflowConfig(workflow=str(ui))), deps)


def test_bundled_workflows_load_and_sizes():
    for name in ("sdxl", "flux-dev", "animatediff", "cogvideox"):
        assert "prompt" in load_workflow(name).needs()
    assert generation_size(1080, 1920, 1.22, 64) == (832, 1472)
    assert generation_size(1920, 1080, 1.22, 64) == (1472, 832)
    assert generation_size(1080, 1920, 0.35, 16, (720, 480)) == (480, 720)


async def test_missing_checkpoint_is_misconfigured_with_node_and_message(deps, tmp_path):
    fake = FakeComfy()
    fake.checkpoints = ["other.safetensors"]
    async with serve(fake) as url:
        with pytest.raises(Misconfigured) as info:
            await maker(url, deps).make_image(image_request(tmp_path), StageContext("j"))
        probe = await maker(url, deps).probe()
    assert "node 4 (CheckpointLoaderSimple)" in info.value.message and "sd_xl_base_1.0" in info.value.message
    assert "models folder" in info.value.hint
    assert "sd_xl_base_1.0.safetensors" in probe["problem"] and probe["queue_running"] == 0
    assert probe["version"] == "0.3.64" and probe["vram_total"] > 0


@pytest.mark.parametrize("outcome, error, match", [
    ("oom", Unavailable, "out of GPU memory"),
    ("error", BadOutput, "RuntimeError"),
])
async def test_execution_errors_are_classified(deps, tmp_path, outcome, error, match):
    fake = FakeComfy()
    fake.outcomes.append(outcome)
    async with serve(fake) as url:
        with pytest.raises(error, match=match):
            await maker(url, deps).make_image(image_request(tmp_path), StageContext("j"))


@pytest.mark.parametrize("outcome", ["drop_ws", "no_ws_events"])
async def test_falls_back_to_history_polling(deps, tmp_path, outcome):
    fake = FakeComfy()
    fake.outcomes.append(outcome)
    fake.step_delay_s = 0.02
    async with serve(fake) as url:
        result = await maker(url, deps).make_image(image_request(tmp_path), StageContext("j"))
    assert result.path.is_file()


async def test_cancel_running_job_interrupts_it(deps, tmp_path):
    fake = FakeComfy()
    fake.outcomes.append("hang")
    following = asyncio.Event()  # the client reports the job's progress: it holds the prompt id
    async with serve(fake) as url:
        ctx = StageContext("j", lambda f, m: following.set())
        task = asyncio.create_task(maker(url, deps).make_image(image_request(tmp_path), ctx))
        await asyncio.wait_for(following.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    pid = fake.prompts and fake.tasks and next(iter(fake.tasks))
    assert fake.deleted == [pid] and fake.interrupted == [pid]


async def test_cancel_pending_job_removes_it_from_queue(deps, tmp_path):
    fake = FakeComfy()
    fake.outcomes.extend(["hang", "ok"])
    async with serve(fake) as url:
        blocker = asyncio.create_task(maker(url, deps).make_image(image_request(tmp_path), StageContext("a")))
        await asyncio.wait_for(fake.started.wait(), 5)
        # the client logs the prompt id once ComfyUI has queued it: from then on it can cancel it
        with logged("providers.comfyui.client", "job b: ComfyUI prompt") as queued:
            task = asyncio.create_task(maker(url, deps).make_image(image_request(tmp_path), StageContext("b")))
            await asyncio.wait_for(queued.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        second = list(fake.tasks)[1]
        assert fake.deleted == [second] and fake.interrupted == []
        blocker.cancel()
        with pytest.raises(asyncio.CancelledError):
            await blocker


async def test_timeout_cancels_the_comfy_job(deps, tmp_path):
    fake = FakeComfy()
    fake.outcomes.append("hang")
    async with serve(fake) as url:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.5):
                await maker(url, deps).make_image(image_request(tmp_path), StageContext("j"))
    assert fake.interrupted == list(fake.tasks)


async def test_release_gpu_posts_free(deps):
    fake = FakeComfy()
    async with serve(fake) as url:
        await maker(url, deps).release_gpu()
    assert fake.freed == [{"unload_models": True, "free_memory": True}]


async def test_routes_also_answer_under_api_prefix(session):
    fake = FakeComfy()
    async with serve(fake) as url:
        async with session.get(f"{url}/api/history/nope") as resp:
            assert await resp.json() == {}
