"""ComfyUI API-format workflows: the bundled presets, loading, checking and structural substitution.

A workflow is the JSON the ComfyUI UI exports with "Save (API)": an object keyed by node id, each
node `{"class_type", "inputs", "_meta"?}`. We never build it with string formatting. Inputs are set
by walking the parsed JSON:

* a string value that is exactly a placeholder, `"{{prompt}}"`, `"{{width}}"`, ..., is replaced by
  the typed value (a number stays a number);
* `bindings` ("prompt=6.text") set node 6's input `text`, for an operator's own export that has
  no placeholders.

Substitution is one pass over the template, so text that *contains* `{{prompt}}` or quotes, braces,
backslashes and newlines arrives verbatim. A workflow that has no way to receive the prompt is
rejected when the provider is built (start-up), with a message naming the file.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "WorkflowError",
    "Preset",
    "PRESETS",
    "Workflow",
    "load_workflow",
    "generation_size",
    "model_inputs",
    "frames_for",
    "CLIP_PRESETS",
]

_PLACEHOLDER = re.compile(r"^\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$")
_MODEL_EXTS = (".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".gguf", ".sft")
BUNDLED_DIR = Path(__file__).with_name("workflows")


class WorkflowError(ValueError):
    """A workflow file is unusable. The message names the file and says what to fix."""


@dataclass(frozen=True)
class Preset:
    """Defaults for one bundled workflow; every value can be overridden in config."""

    file: str
    kind: str  # "image" or "clip"
    megapixels: float
    multiple: int  # width/height are rounded to this (latent granularity)
    steps: int
    cfg: float
    sampler: str
    scheduler: str
    models: Mapping[str, str]  # placeholder -> model file name
    extra: Mapping[str, Any] = field(default_factory=dict)  # other placeholders' defaults
    frames: int = 0  # clips: frames per clip (0 = seconds x fps)
    max_frames: int = 0
    fps: int = 8
    fixed_size: tuple[int, int] | None = None  # models trained at one size (CogVideoX 720x480)
    frame_step: int = 1  # clips: the model takes step*k+1 frames (Wan 4k+1, LTX-Video 8k+1); 1 = any count
    i2v_file: str = ""  # clips: the image-to-video variant (animates the scene's still); "" = text only
    i2v_models: Mapping[str, str] = field(default_factory=dict)  # model files that differ for image-to-video


PRESETS: Mapping[str, Preset] = {
    # SDXL base at ~1.2 MP: 832x1472 for 9:16, 1472x832 for 16:9.
    "sdxl": Preset("sdxl.json", "image", 1.22, 64, 28, 6.0, "dpmpp_2m", "karras",
                   {"checkpoint": "sd_xl_base_1.0.safetensors"}),
    "flux-dev": Preset("flux-dev.json", "image", 1.0, 64, 20, 1.0, "euler", "simple",
                       {"checkpoint": "flux1-dev.safetensors", "clip": "t5xxl_fp16.safetensors",
                        "clip2": "clip_l.safetensors", "vae": "ae.safetensors"},
                       extra={"guidance": 3.5, "weight_dtype": "default"}),
    # Native video models: nothing but a stock ComfyUI (>= 0.3.47) and the model files.
    # Wan 2.2 TI2V 5B: one model for text- and image-to-video, 720p at 24 fps, up to 121 frames (5 s).
    "wan2.2-5b": Preset("wan2.2-5b.json", "clip", 0.9, 32, 20, 5.0, "uni_pc", "simple",
                        {"checkpoint": "wan2.2_ti2v_5B_fp16.safetensors",
                         "clip": "umt5_xxl_fp8_e4m3fn_scaled.safetensors", "vae": "wan2.2_vae.safetensors"},
                        extra={"shift": 8.0}, max_frames=121, fps=24, frame_step=4, i2v_file="wan2.2-5b-i2v.json"),
    # Wan 2.2 A14B: a high-noise and a low-noise expert (the second half of the steps), for 24 GB+ GPUs.
    "wan2.2-14b": Preset("wan2.2-14b.json", "clip", 0.41, 16, 20, 3.5, "euler", "simple",
                         {"checkpoint": "wan2.2_t2v_high_noise_14B_fp8_scaled.safetensors",
                          "checkpoint2": "wan2.2_t2v_low_noise_14B_fp8_scaled.safetensors",
                          "clip": "umt5_xxl_fp8_e4m3fn_scaled.safetensors", "vae": "wan_2.1_vae.safetensors"},
                         extra={"shift": 8.0, "switch_step": 10}, max_frames=81, fps=16, frame_step=4,
                         i2v_file="wan2.2-14b-i2v.json",
                         i2v_models={"checkpoint": "wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors",
                                     "checkpoint2": "wan2.2_i2v_low_noise_14B_fp8_scaled.safetensors"}),
    # Wan 2.1 T2V 1.3B: small (8 GB GPUs), text-to-video only, 832x480 at 16 fps.
    "wan2.1-1.3b": Preset("wan2.1.json", "clip", 0.4, 16, 30, 6.0, "uni_pc", "simple",
                          {"checkpoint": "wan2.1_t2v_1.3B_fp16.safetensors",
                           "clip": "umt5_xxl_fp8_e4m3fn_scaled.safetensors", "vae": "wan_2.1_vae.safetensors"},
                          extra={"shift": 8.0}, max_frames=81, fps=16, frame_step=4),
    # Wan 2.1 14B: text-to-video, and image-to-video (480p) with CLIP vision.
    "wan2.1-14b": Preset("wan2.1.json", "clip", 0.4, 16, 20, 6.0, "uni_pc", "simple",
                         {"checkpoint": "wan2.1_t2v_14B_fp16.safetensors",
                          "clip": "umt5_xxl_fp8_e4m3fn_scaled.safetensors", "vae": "wan_2.1_vae.safetensors"},
                         extra={"shift": 8.0}, max_frames=81, fps=16, frame_step=4, i2v_file="wan2.1-i2v.json",
                         i2v_models={"checkpoint": "wan2.1_i2v_480p_14B_fp16.safetensors",
                                     "clip_vision": "clip_vision_h.safetensors"}),
    # LTX-Video 2B: fast, 768x512 at 24 fps, 8k+1 frames; the checkpoint carries its VAE.
    "ltxv": Preset("ltxv.json", "clip", 0.39, 32, 30, 3.0, "euler", "",
                   {"checkpoint": "ltx-video-2b-v0.9.5.safetensors", "clip": "t5xxl_fp16.safetensors"},
                   max_frames=97, fps=24, frame_step=8, i2v_file="ltxv-i2v.json"),
    # Custom node packs (the operator installs them; their models are local files, never downloaded).
    # AnimateDiff on SD 1.5 at ~0.4 MP through AnimateDiff-Evolved; 16 frames is the motion module's context.
    "animatediff": Preset("animatediff.json", "clip", 0.37, 64, 20, 7.0, "euler_ancestral", "normal",
                          {"checkpoint": "v1-5-pruned-emaonly.safetensors", "motion_model": "mm_sd_v15_v2.ckpt"},
                          frames=16, max_frames=32, fps=8),
    # CogVideoX 1.5 5B through kijai's ComfyUI-CogVideoXWrapper, from local files: 49 frames at 8 fps.
    "cogvideox": Preset("cogvideox.json", "clip", 0.35, 16, 50, 6.0, "", "CogVideoXDDIM",
                        {"checkpoint": "CogVideoX_5b_1_5_bf16.safetensors", "clip": "t5xxl_fp16.safetensors",
                         "vae": "cogvideox_vae_bf16.safetensors"},
                        frames=49, max_frames=49, fps=8, fixed_size=(720, 480)),
}

CLIP_PRESETS = tuple(name for name, preset in PRESETS.items() if preset.kind == "clip")
NATIVE_CLIP_PRESETS = tuple(name for name in CLIP_PRESETS if name not in ("animatediff", "cogvideox"))

GENERIC_PRESET = Preset("", "image", 1.0, 64, 25, 7.0, "euler", "normal", {})


@dataclass(frozen=True)
class Workflow:
    """A checked workflow template."""

    source: str  # the bundled name or the file path, for messages
    graph: Mapping[str, Any]
    placeholders: frozenset[str]  # every {{name}} found
    bindings: tuple[tuple[str, str, str], ...]  # (name, node id, input name)
    preset: Preset

    def needs(self) -> frozenset[str]:
        """Every value name this workflow takes (placeholders and bindings)."""
        return self.placeholders | {name for name, _, _ in self.bindings}

    def substitute(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """A new graph with every placeholder and binding set from `values`. One pass: inserted
        text is never scanned again."""
        missing = sorted(self.needs() - set(values))
        if missing:
            raise WorkflowError(f"{self.source}: no value for {', '.join(missing)}")

        def walk(node: Any) -> Any:
            if isinstance(node, str):
                match = _PLACEHOLDER.match(node)
                return copy.deepcopy(values[match.group(1)]) if match else node
            if isinstance(node, dict):
                return {k: walk(v) for k, v in node.items()}
            if isinstance(node, list):
                return [walk(v) for v in node]
            return node

        graph: dict[str, Any] = walk(self.graph)
        for name, node_id, input_name in self.bindings:
            graph[node_id]["inputs"][input_name] = copy.deepcopy(values[name])
        return graph


def load_workflow(spec: str, bindings: tuple[str, ...] = (), *, base_dir: Path | None = None,
                  i2v: bool = False) -> Workflow:
    """Load a bundled preset by name (its image-to-video variant when `i2v`), or an API-format JSON
    file by path; check it."""
    preset = PRESETS.get(spec)
    if preset is not None:
        path = BUNDLED_DIR / (preset.i2v_file if i2v and preset.i2v_file else preset.file)
    else:
        path = Path(spec).expanduser()
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        preset = GENERIC_PRESET
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        known = ", ".join(PRESETS)
        raise WorkflowError(f"workflow {spec!r}: no such file (bundled workflows: {known})") from None
    except (OSError, ValueError) as exc:
        raise WorkflowError(f"workflow {spec}: cannot read it as JSON: {exc}") from None
    if isinstance(data, dict) and "prompt" in data and isinstance(data["prompt"], dict) and "nodes" not in data:
        data = data["prompt"]  # a saved /prompt request body
    if not isinstance(data, dict) or "nodes" in data and "links" in data:
        raise WorkflowError(
            f"workflow {spec}: this is the UI format; export it from ComfyUI with \"Save (API)\""
        )
    for node_id, node in data.items():
        if not isinstance(node, dict) or "class_type" not in node or not isinstance(node.get("inputs"), dict):
            raise WorkflowError(f"workflow {spec}: node {node_id!r} has no class_type/inputs (not API format)")
    placeholders = frozenset(_find_placeholders(data))
    parsed = tuple(_parse_binding(spec, data, b) for b in bindings)
    workflow = Workflow(str(spec), data, placeholders, parsed, preset)
    if "prompt" not in workflow.needs():
        raise WorkflowError(
            f"workflow {spec}: nothing receives the prompt. Put \"{{{{prompt}}}}\" as the text of the "
            "positive prompt node, or bind it in config (bindings = [\"prompt=<node id>.<input>\"])"
        )
    return workflow


def _find_placeholders(node: Any) -> list[str]:
    if isinstance(node, str):
        match = _PLACEHOLDER.match(node)
        return [match.group(1)] if match else []
    if isinstance(node, dict):
        return [p for v in node.values() for p in _find_placeholders(v)]
    if isinstance(node, list):
        return [p for v in node for p in _find_placeholders(v)]
    return []


def _parse_binding(spec: str, graph: Mapping[str, Any], binding: str) -> tuple[str, str, str]:
    name, sep, target = binding.partition("=")
    node_id, dot, input_name = target.strip().partition(".")
    name = name.strip()
    if not sep or not dot or not name or not input_name:
        raise WorkflowError(f"workflow {spec}: binding {binding!r} must look like \"prompt=6.text\"")
    if node_id not in graph:
        raise WorkflowError(f"workflow {spec}: binding {binding!r} names node {node_id!r}, which it does not have")
    return name, node_id, input_name


def generation_size(
    want_w: int, want_h: int, megapixels: float, multiple: int, fixed: tuple[int, int] | None = None
) -> tuple[int, int]:
    """The size to generate at: the wanted aspect at `megapixels`, rounded to `multiple`.
    The renderer fits the result to the output size."""
    if fixed is not None:
        a, b = max(fixed), min(fixed)
        return (a, b) if want_w >= want_h else (b, a)
    aspect = want_w / want_h
    pixels = megapixels * 1_000_000
    w = math.sqrt(pixels * aspect)
    h = math.sqrt(pixels / aspect)
    return max(multiple, round(w / multiple) * multiple), max(multiple, round(h / multiple) * multiple)


def model_inputs(graph: Mapping[str, Any]) -> list[tuple[str, str, str, str]]:
    """(node id, class_type, input name, file name) for every model file the graph loads."""
    found = []
    for node_id, node in graph.items():
        for input_name, value in node.get("inputs", {}).items():
            if isinstance(value, str) and value.lower().endswith(_MODEL_EXTS):
                found.append((str(node_id), str(node["class_type"]), str(input_name), value))
    return found


def frames_for(seconds: float, fps: int, step: int = 1, max_frames: int = 0, min_frames: int = 8) -> int:
    """The frame count to ask for: the smallest the model takes (step*k+1 when step > 1) that covers
    `seconds` at `fps`, capped at `max_frames` (the renderer extends a shorter clip to its scene)."""
    wanted = max(min_frames, math.ceil(seconds * fps - 1e-9))
    if step > 1:
        wanted = step * math.ceil((wanted - 1) / step) + 1
    if max_frames:
        cap = max_frames if step <= 1 else step * ((max_frames - 1) // step) + 1
        wanted = min(wanted, cap)
    return wanted
