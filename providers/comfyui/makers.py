"""ComfyImageMaker and ComfyClipMaker: one workflow per stage, run through `ComfyClient`.

Both are built from `[providers.comfyui]`; the workflow of their stage is loaded and checked at
construction, so a workflow that cannot receive the prompt, or that uses a placeholder we do not
fill, stops start-up with a message that names the file. Every scene of a job shares the style
prompt and the job's seed (plus the scene's index, already in `request.seed`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any, ClassVar

import aiohttp

from providers.base import (
    ClipRequest,
    ClipResult,
    ImageRequest,
    ImageResult,
    ProviderDeps,
    Stage,
    StageContext,
    Tier,
)
from providers.comfyui.client import ComfyClient, OutputFile
from providers.comfyui.config import ComfyConfig, ComfyWorkflowConfig
from providers.comfyui.nodes import NodeCheck, check_graph
from providers.comfyui.workflow import (
    NATIVE_CLIP_PRESETS,
    Workflow,
    WorkflowError,
    frames_for,
    generation_size,
    load_workflow,
    model_inputs,
)
from providers.errors import BadOutput, Misconfigured, ProviderError, Unavailable
from providers.http import base_url, host_of

__all__ = ["ComfyImageMaker", "ComfyClipMaker"]

log = logging.getLogger(__name__)

DEFAULT_WORKFLOW = {"image": "sdxl", "clip": "wan2.2-5b"}
FILLED = frozenset({
    "prompt", "negative", "style", "width", "height", "seed", "steps", "cfg", "sampler", "scheduler",
    "frames", "fps", "seconds", "filename_prefix", "image",
})
CHECK_TTL_S = 300.0  # a node check is reused this long: an operator may install a pack or a model meanwhile


class _ComfyProvider:
    name: ClassVar[str] = "comfyui"
    tier: ClassVar[Tier] = Tier.SELF_HOSTED
    config_class: ClassVar[type] = ComfyConfig
    gpu_heavy: ClassVar[bool] = True
    stage_key: ClassVar[str] = ""

    def __init__(self, config: ComfyConfig, deps: ProviderDeps) -> None:
        self.config = config
        self.deps = deps
        self.wcfg: ComfyWorkflowConfig = getattr(config, self.stage_key)
        where = f"[providers.comfyui.{self.stage_key}]"
        try:
            self.workflow: Workflow = load_workflow(self.wcfg.workflow or DEFAULT_WORKFLOW[self.stage_key],
                                                    self.wcfg.bindings)
        except WorkflowError as exc:
            raise Misconfigured(f"{where}: {exc}", provider=self.name, hint=f"fix `workflow` in {where}") from None
        self.models = self._models(where, self.workflow.preset.models)
        self._check_placeholders(where, self.workflow, self.models)
        self._nodes: NodeCheck | None = None
        self._nodes_at = 0.0
        self.url = base_url(config.url)
        self.gpu_host = host_of(config.url)
        self.share_gpu = config.share_gpu
        self.client = ComfyClient(
            self.name, self.url, self._session, connect_timeout_s=config.connect_timeout_s,
            request_timeout_s=config.request_timeout_s, poll_interval_s=config.poll_interval_s,
            max_output_bytes=config.max_output_bytes, max_image_bytes=config.max_image_bytes,
            secrets=config.secrets(),
        )

    def _check_placeholders(self, where: str, workflow: Workflow, models: dict[str, str]) -> None:
        unknown = sorted(workflow.needs() - FILLED - set(models) - set(workflow.preset.extra))
        if unknown:
            placeholders = ", ".join("{{" + u + "}}" for u in unknown)
            raise Misconfigured(
                f"{where}: workflow {workflow.source} uses {placeholders}, "
                "which reelbot does not fill",
                provider=self.name, hint=f"give a value in {where} models, e.g. \"{unknown[0]}=file.safetensors\"",
            )

    def _models(self, where: str, base: Mapping[str, str]) -> dict[str, str]:
        models = dict(base)
        for entry in self.wcfg.models:
            key, sep, value = entry.partition("=")
            if not sep or not key.strip() or not value.strip():
                raise Misconfigured(f"{where}: models entry {entry!r} must look like \"vae=ae.safetensors\"",
                                    provider=self.name, hint=f"fix `models` in {where}")
            models[key.strip()] = value.strip()
        if self.wcfg.checkpoint:
            models["checkpoint"] = self.wcfg.checkpoint
        return models

    def _session(self) -> aiohttp.ClientSession:
        if self.deps.session is None:
            raise Unavailable("no HTTP session", provider=self.name)
        return self.deps.session

    # ------------------------------------------------------------------ shared protocol

    def secrets(self) -> tuple[str, ...]:
        return self.config.secrets()

    async def release_gpu(self) -> None:
        """Free ComfyUI's models and cached memory (the GPU is shared with another backend)."""
        await self.client.free()

    async def probe(self) -> dict[str, Any]:
        """/system_stats, /queue, and whether the box has the model files this stage's workflow loads."""
        timeout_s = self.config.probe_timeout_s
        stats, queue = await asyncio.gather(
            self.client.get_json("/system_stats", timeout_s=timeout_s),
            self.client.get_json("/queue", timeout_s=timeout_s),
        )
        device = (stats.get("devices") or [{}])[0]
        info: dict[str, Any] = {
            "version": (stats.get("system") or {}).get("comfyui_version", "?"),
            "device": device.get("name", "?"),
            "vram_free": device.get("vram_free"),
            "vram_total": device.get("vram_total"),
            "queue_running": len(queue.get("queue_running") or []),
            "queue_pending": len(queue.get("queue_pending") or []),
            f"{self.stage_key}_workflow": self.workflow.source,
        }
        check = await self.check_nodes(timeout_s, fresh=True)
        info["models"] = [f"{file} ({'ok' if ok else 'MISSING'})" for file, ok in check.models]
        if check.missing_nodes:
            info["missing_nodes"] = list(check.missing_nodes)
        if not check.ok:
            info["problem"] = check.problem()
            info["hint"] = check.hint(NATIVE_CLIP_PRESETS if self.stage_key == "clip" else ())
        return info

    def _workflows(self) -> list[tuple[Workflow, dict[str, str]]]:
        """Every workflow this provider may run, with its model files."""
        return [(self.workflow, self.models)]

    async def check_nodes(self, timeout_s: float | None = None, *, fresh: bool = False) -> NodeCheck:
        """Every node class and model file of this stage's workflows against the server's
        /object_info. Kept CHECK_TTL_S; a ProviderError (the server is down) is raised, not kept."""
        now = self.deps.clock()
        if self._nodes is not None and not fresh and now - self._nodes_at < CHECK_TTL_S:
            return self._nodes
        timeout_s = timeout_s or self.config.probe_timeout_s
        graphs = [wf.substitute(self._values(832, 1472, 0, 1, 8, models=models)) for wf, models in self._workflows()]
        classes = sorted({str(node["class_type"]) for graph in graphs for node in graph.values()})
        answers = await asyncio.gather(
            *(self.client.get_json(f"/object_info/{cls}", timeout_s=timeout_s) for cls in classes)
        )
        infos = dict(zip(classes, answers, strict=True))
        needed = [(cls, input_name, file) for graph in graphs for _, cls, input_name, file in model_inputs(graph)]
        sources = " + ".join(wf.source for wf, _ in self._workflows())
        self._nodes, self._nodes_at = check_graph(self.stage_key, sources, graphs, infos, needed), now
        return self._nodes

    async def unusable_now(self) -> str:
        """Why this provider cannot serve its stage on its server ("ComfyUI lacks AnimateDiff-Evolved"),
        or "" when it may, or when the server does not answer (the cascade then finds out)."""
        try:
            return (await self.check_nodes()).reason()
        except ProviderError as exc:
            log.info("ComfyUI node check for the %s stage failed: %s", self.stage_key, exc)
            return ""

    # ------------------------------------------------------------------ jobs

    def _values(self, width: int, height: int, seed: int, frames: int, fps: int, *,
                prompt: str = "", style: str = "", negative: str = "",
                models: Mapping[str, str] | None = None, image: str = "") -> dict[str, Any]:
        preset = self.workflow.preset
        values: dict[str, Any] = {
            **preset.extra,
            **(self.models if models is None else models),
            "prompt": f"{prompt}, {style}" if prompt and style else prompt or style,
            "negative": negative,
            "style": style,
            "width": width,
            "height": height,
            "seed": seed,
            "steps": self.wcfg.steps or preset.steps,
            "cfg": self.wcfg.cfg or preset.cfg,
            "sampler": self.wcfg.sampler or preset.sampler,
            "scheduler": self.wcfg.scheduler or preset.scheduler,
            "frames": frames,
            "fps": fps,
            "seconds": round(frames / fps, 3) if fps else 0.0,
            "filename_prefix": f"reelbot/{self.stage_key}",
            "image": image,
        }
        return values

    def _size(self, want_w: int, want_h: int) -> tuple[int, int]:
        if self.wcfg.width and self.wcfg.height:
            return self.wcfg.width, self.wcfg.height
        preset = self.workflow.preset
        return generation_size(want_w, want_h, self.wcfg.megapixels or preset.megapixels, preset.multiple,
                               None if self.wcfg.megapixels else preset.fixed_size)

    async def _run(self, values: dict[str, Any], ctx: StageContext, workflow: Workflow | None = None
                   ) -> list[OutputFile]:
        graph = (workflow or self.workflow).substitute(values)
        return await self.client.run(graph, ctx)


class ComfyImageMaker(_ComfyProvider):
    """Draws one scene's still with the image workflow (SDXL by default, or Flux.1-dev)."""

    stages: ClassVar[frozenset[Stage]] = frozenset({Stage.IMAGE})
    stage_key: ClassVar[str] = "image"

    async def make_image(self, request: ImageRequest, ctx: StageContext) -> ImageResult:
        width, height = self._size(request.width, request.height)
        values = self._values(width, height, request.seed, 1, 1, prompt=request.prompt, style=request.style,
                              negative=request.negative)
        files = await self._run(values, ctx)
        stills = [f for f in files if not f.animated] or files
        chosen = next((f for f in stills if f.type == "output"), stills[0])
        dest = request.out_dir / f"comfyui_{request.scene_index:02d}{chosen.suffix or '.png'}"
        await self.client.download(chosen, dest)
        try:
            size = await asyncio.to_thread(_image_size, dest)
        except OSError as exc:
            raise BadOutput(f"ComfyUI's image does not decode: {exc}", provider=self.name) from None
        return ImageResult(dest, *size)


def _image_size(path: Any) -> tuple[int, int]:
    from PIL import Image  # only when an image arrives (not for `reelbot status`)

    with Image.open(path) as img:
        return img.size


class ComfyClipMaker(_ComfyProvider):
    """Makes one scene's motion clip with the clip workflow (Wan 2.2 5B by default). With an
    image-to-video variant (and `image_to_video` on) it animates the scene's still, drawn first by
    the image stage and uploaded: the scenes keep one look, and this is what these models do best."""

    stages: ClassVar[frozenset[Stage]] = frozenset({Stage.CLIP})
    stage_key: ClassVar[str] = "clip"

    def __init__(self, config: ComfyConfig, deps: ProviderDeps) -> None:
        super().__init__(config, deps)
        where = "[providers.comfyui.clip]"
        self.i2v: Workflow | None = None
        self.i2v_models: dict[str, str] = {}
        preset = self.workflow.preset
        if "image" in self.workflow.needs():  # the operator's own image-to-video export
            self.i2v, self.i2v_models = self.workflow, self.models
        elif self.wcfg.image_to_video and preset.i2v_file:
            spec = self.wcfg.workflow or DEFAULT_WORKFLOW[self.stage_key]
            try:
                self.i2v = load_workflow(spec, self.wcfg.bindings, i2v=True)
            except WorkflowError as exc:
                raise Misconfigured(f"{where}: {exc}", provider=self.name, hint=f"fix `workflow` in {where}") from None
            self.i2v_models = self._models(where, {**preset.models, **preset.i2v_models})
            self._check_placeholders(where, self.i2v, self.i2v_models)

    @property
    def wants_image(self) -> bool:
        """True when this maker animates the scene's still (the pipeline draws it first)."""
        return self.i2v is not None

    def _workflows(self) -> list[tuple[Workflow, dict[str, str]]]:
        if self.i2v is None:
            return [(self.workflow, self.models)]
        if self.i2v is self.workflow:
            return [(self.i2v, self.i2v_models)]
        return [(self.workflow, self.models), (self.i2v, self.i2v_models)]

    async def make_clip(self, request: ClipRequest, ctx: StageContext) -> ClipResult:
        preset = self.workflow.preset
        fps = self.wcfg.fps or preset.fps
        # Wan takes 4k+1 frames, LTX-Video 8k+1: the nearest count that covers the scene, up to the
        # model's maximum (the renderer extends a shorter clip to the narration without a freeze)
        frames = self.wcfg.frames or preset.frames or frames_for(request.seconds, fps, preset.frame_step,
                                                                  preset.max_frames)
        if preset.max_frames and not self.wcfg.frames:
            frames = min(frames, preset.max_frames)
        width, height = self._size(request.width, request.height)
        workflow, models, image = self.workflow, self.models, ""
        if self.i2v is not None and request.image is not None:
            workflow, models = self.i2v, self.i2v_models
            image = await self.client.upload_image(request.image, f"reelbot_{ctx.job_id}_{request.scene_index:02d}")
        elif self.i2v is self.workflow:
            raise BadOutput("the image-to-video workflow got no still to animate", provider=self.name)
        values = self._values(width, height, request.seed, frames, fps, prompt=request.prompt,
                              style=request.style, negative=request.negative, models=models, image=image)
        files = await self._run(values, ctx, workflow)
        clips = [f for f in files if f.is_video]
        if not clips:
            raise BadOutput("the clip workflow produced no animated output", provider=self.name)
        chosen = next((f for f in clips if f.type == "output"), clips[0])
        dest = request.out_dir / f"comfyui_{request.scene_index:02d}{chosen.suffix or '.mp4'}"
        await self.client.download(chosen, dest)
        return ClipResult(dest, round(frames / fps, 3), width, height)
