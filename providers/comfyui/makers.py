"""ComfyImageMaker and ComfyClipMaker: one workflow per stage, run through `ComfyClient`.

Both are built from `[providers.comfyui]`; the workflow of their stage is loaded and checked at
construction, so a workflow that cannot receive the prompt, or that uses a placeholder we do not
fill, stops start-up with a message that names the file. Every scene of a job shares the style
prompt and the job's seed (plus the scene's index, already in `request.seed`).
"""

from __future__ import annotations

import asyncio
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
from providers.comfyui.workflow import Workflow, WorkflowError, generation_size, load_workflow, model_inputs
from providers.errors import BadOutput, Misconfigured, ProviderError, Unavailable
from providers.http import base_url, host_of

__all__ = ["ComfyImageMaker", "ComfyClipMaker"]

DEFAULT_WORKFLOW = {"image": "sdxl", "clip": "animatediff"}
FILLED = frozenset({
    "prompt", "negative", "style", "width", "height", "seed", "steps", "cfg", "sampler", "scheduler",
    "frames", "fps", "seconds", "filename_prefix",
})


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
        self.models = self._models(where)
        unknown = sorted(self.workflow.needs() - FILLED - set(self.models) - set(self.workflow.preset.extra))
        if unknown:
            placeholders = ", ".join("{{" + u + "}}" for u in unknown)
            raise Misconfigured(
                f"{where}: workflow {self.workflow.source} uses {placeholders}, "
                "which reelbot does not fill",
                provider=self.name, hint=f"give a value in {where} models, e.g. \"{unknown[0]}=file.safetensors\"",
            )
        self.url = base_url(config.url)
        self.gpu_host = host_of(config.url)
        self.share_gpu = config.share_gpu
        self.client = ComfyClient(
            self.name, self.url, self._session, connect_timeout_s=config.connect_timeout_s,
            request_timeout_s=config.request_timeout_s, poll_interval_s=config.poll_interval_s,
            max_output_bytes=config.max_output_bytes, max_image_bytes=config.max_image_bytes,
            secrets=config.secrets(),
        )

    def _models(self, where: str) -> dict[str, str]:
        models = dict(self.workflow.preset.models)
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
        checks = await self._check_models(timeout_s)
        info["models"] = [f"{file} ({'ok' if ok else 'MISSING'})" for file, ok in checks]
        missing = [file for file, ok in checks if not ok]
        if missing:
            info["problem"] = f"{self.stage_key} workflow needs {', '.join(missing)}, which ComfyUI does not have"
            info["hint"] = "download it into ComfyUI's models folder, or set checkpoint/models in [providers.comfyui]"
        return info

    async def _check_models(self, timeout_s: float) -> list[tuple[str, bool]]:
        graph = self.workflow.substitute(self._values(832, 1472, 0, 1, 8))
        needed = model_inputs(graph)
        classes = sorted({cls for _, cls, _, _ in needed})
        infos = await asyncio.gather(
            *(self.client.get_json(f"/object_info/{cls}", timeout_s=timeout_s) for cls in classes),
            return_exceptions=True,
        )
        by_class = dict(zip(classes, infos, strict=True))
        out = []
        for _, cls, input_name, file in needed:
            info = by_class[cls]
            if isinstance(info, BaseException):
                if isinstance(info, ProviderError):
                    out.append((file, False))
                    continue
                raise info
            out.append((file, file in _options(info, cls, input_name)))
        return out

    # ------------------------------------------------------------------ jobs

    def _values(self, width: int, height: int, seed: int, frames: int, fps: int, *,
                prompt: str = "", style: str = "", negative: str = "") -> dict[str, Any]:
        preset = self.workflow.preset
        values: dict[str, Any] = {
            **preset.extra,
            **self.models,
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
        }
        return values

    def _size(self, want_w: int, want_h: int) -> tuple[int, int]:
        if self.wcfg.width and self.wcfg.height:
            return self.wcfg.width, self.wcfg.height
        preset = self.workflow.preset
        return generation_size(want_w, want_h, self.wcfg.megapixels or preset.megapixels, preset.multiple,
                               None if self.wcfg.megapixels else preset.fixed_size)

    async def _run(self, values: dict[str, Any], ctx: StageContext) -> list[OutputFile]:
        graph = self.workflow.substitute(values)
        return await self.client.run(graph, ctx)


def _options(info: dict[str, Any], cls: str, input_name: str) -> list[str]:
    """The allowed values of a combo input in /object_info (old and new combo shapes)."""
    node = info.get(cls) or {}
    inputs = node.get("input") or {}
    spec = (inputs.get("required") or {}).get(input_name) or (inputs.get("optional") or {}).get(input_name)
    if not isinstance(spec, list) or not spec:
        return []
    if isinstance(spec[0], list):
        return [str(x) for x in spec[0]]
    if spec[0] == "COMBO" and len(spec) > 1 and isinstance(spec[1], dict):
        return [str(x) for x in spec[1].get("options", [])]
    return []


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
    """Makes one scene's motion clip with the clip workflow (AnimateDiff by default, or CogVideoX)."""

    stages: ClassVar[frozenset[Stage]] = frozenset({Stage.CLIP})
    stage_key: ClassVar[str] = "clip"

    async def make_clip(self, request: ClipRequest, ctx: StageContext) -> ClipResult:
        preset = self.workflow.preset
        fps = self.wcfg.fps or preset.fps
        frames = self.wcfg.frames or preset.frames or max(8, round(request.seconds * fps))
        if preset.max_frames and not self.wcfg.frames:
            frames = min(frames, preset.max_frames)
        width, height = self._size(request.width, request.height)
        values = self._values(width, height, request.seed, frames, fps, prompt=request.prompt,
                              style=request.style, negative=request.negative)
        files = await self._run(values, ctx)
        clips = [f for f in files if f.animated]
        if not clips:
            raise BadOutput("the clip workflow produced no animated output", provider=self.name)
        chosen = next((f for f in clips if f.type == "output"), clips[0])
        dest = request.out_dir / f"comfyui_{request.scene_index:02d}{chosen.suffix or '.mp4'}"
        await self.client.download(chosen, dest)
        return ClipResult(dest, round(frames / fps, 3), width, height)
