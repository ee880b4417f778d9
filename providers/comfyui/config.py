"""`[providers.comfyui]` with one sub-table per stage: `[providers.comfyui.image]`, `[...clip]`.

Every per-workflow value defaults to "the workflow's own default" (0 or ""), so switching
`workflow = "flux-dev"` brings Flux's size, steps and sampler with it; set a value to override it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from providers.config import GpuSharing, ProviderConfig

__all__ = ["ComfyConfig", "ComfyWorkflowConfig"]


@dataclass(frozen=True)
class ComfyWorkflowConfig:
    workflow: str = ""  # bundled: sdxl, flux-dev (images); wan2.2-5b, wan2.2-14b, wan2.1-1.3b, wan2.1-14b,
    #                     ltxv (clips, stock ComfyUI), animatediff, cogvideox (clips, custom node packs);
    #                     or an API-format JSON file; "" = sdxl for images, wan2.2-5b for clips
    width: int = 0  # generation size; 0 = from megapixels and the video's aspect
    height: int = 0
    megapixels: float = 0.0  # 0 = the workflow's default (sdxl 1.22 -> 832x1472 at 9:16)
    steps: int = 0  # 0 = the workflow's default
    cfg: float = 0.0
    sampler: str = ""  # e.g. "euler", "dpmpp_2m"; "" = the workflow's default
    scheduler: str = ""  # e.g. "karras", "simple"
    checkpoint: str = ""  # the main model file ({{checkpoint}}); "" = the workflow's default
    models: tuple[str, ...] = ()  # other model files, "placeholder=file", e.g. "vae=ae.safetensors"
    bindings: tuple[str, ...] = ()  # for your own export without placeholders: "prompt=6.text", "seed=3.seed"
    frames: int = 0  # clips: frames per clip; 0 = the workflow's default
    fps: int = 0  # clips: frames per second of the generated clip; 0 = the workflow's default
    image_to_video: bool = True  # clips: animate the scene's still where the workflow has an
    #                              image-to-video variant (wan2.2-5b, wan2.2-14b, wan2.1-14b, ltxv)


@dataclass(frozen=True)
class ComfyConfig(ProviderConfig):
    """Enabled when `url` is set (or COMFYUI_SERVER)."""

    env: ClassVar[dict[str, str]] = {"url": "COMFYUI_SERVER"}

    url: str = ""  # e.g. "http://gpu-box:8188"; "" = not used
    share_gpu: GpuSharing = "auto"  # POST /free before the voice: auto (Ollama on the same host), always, never
    connect_timeout_s: float = 5.0
    request_timeout_s: float = 60.0  # one HTTP call (submit, history, download); a job has the stage timeout
    poll_interval_s: float = 1.0  # history polling when the websocket is down, and its liveness check
    probe_timeout_s: float = 2.0
    max_output_bytes: int = 300_000_000  # largest clip accepted from /view (streamed to disk)
    max_image_bytes: int = 32 * 1024 * 1024  # largest still image accepted from /view
    image: ComfyWorkflowConfig = field(default_factory=ComfyWorkflowConfig)
    clip: ComfyWorkflowConfig = field(default_factory=ComfyWorkflowConfig)

    def configured(self) -> bool:
        return bool(self.url.strip())
