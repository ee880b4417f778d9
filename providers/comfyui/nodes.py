"""Does this ComfyUI have what a workflow needs? Node classes and model files, checked against /object_info.

A stock ComfyUI lacks the custom-node packs some workflows use (AnimateDiff-Evolved's `ADE_*` nodes,
the CogVideoX wrapper's `CogVideo*` nodes); it answers such a prompt with a 400 `invalid_prompt`
("Cannot execute because node X does not exist") for every scene. Checking every `class_type` once,
at start-up and in the status, lets us name the pack to install and skip the provider for its stage
instead of failing a call per scene. `/object_info/{class}` is `{}` for a class the server lacks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["NodeCheck", "pack_of", "combo_options", "check_graph"]

# (class_type prefix, the pack's name, where to get it) for the packs our bundled workflows may use
_PACKS: tuple[tuple[str, str, str], ...] = (
    ("ADE_", "AnimateDiff-Evolved", "Kosinkadink/ComfyUI-AnimateDiff-Evolved"),
    ("CogVideo", "the CogVideoX wrapper", "kijai/ComfyUI-CogVideoXWrapper"),
    ("DownloadAndLoadCogVideo", "the CogVideoX wrapper", "kijai/ComfyUI-CogVideoXWrapper"),
    ("VHS_", "VideoHelperSuite", "Kosinkadink/ComfyUI-VideoHelperSuite"),
)


def pack_of(class_type: str) -> tuple[str, str] | None:
    """(pack name, GitHub repository) of a known custom node class, or None."""
    for prefix, pack, repo in _PACKS:
        if class_type.startswith(prefix):
            return pack, repo
    return None


@dataclass(frozen=True)
class NodeCheck:
    """What a workflow needs that the server lacks. Empty lists: it can run (models permitting)."""

    stage: str  # "image" | "clip", for messages
    workflow: str
    missing_nodes: tuple[str, ...] = ()
    missing_models: tuple[str, ...] = ()
    models: tuple[tuple[str, bool], ...] = ()  # every model file and whether the server lists it

    @property
    def packs(self) -> tuple[str, ...]:
        """The custom node packs to install, named; unknown classes are listed as themselves."""
        out: list[str] = []
        for cls in self.missing_nodes:
            known = pack_of(cls)
            out.append(known[0] if known else cls)
        return tuple(dict.fromkeys(out))

    @property
    def ok(self) -> bool:
        return not self.missing_nodes and not self.missing_models

    def reason(self) -> str:
        """Short, for people: 'ComfyUI lacks AnimateDiff-Evolved' / 'ComfyUI lacks wan2.2_vae.safetensors'."""
        if self.missing_nodes:
            return f"ComfyUI lacks {' and '.join(self.packs)}"
        if self.missing_models:
            return f"ComfyUI lacks {', '.join(self.missing_models)}"
        return ""

    def problem(self) -> str:
        """For operators (status): what is missing, exactly."""
        parts = []
        if self.missing_nodes:
            named = [f"{cls} ({p[0]})" if (p := pack_of(cls)) else cls for cls in self.missing_nodes]
            parts.append(f"{self.stage} workflow {self.workflow} uses nodes this ComfyUI lacks: {', '.join(named)}")
        if self.missing_models:
            parts.append(f"{self.stage} workflow needs {', '.join(self.missing_models)}, which ComfyUI does not have")
        return "; ".join(parts)

    def hint(self, native: Iterable[str] = ()) -> str:
        hints = []
        if self.missing_nodes:
            repos = dict.fromkeys(p[1] for cls in self.missing_nodes if (p := pack_of(cls)))
            install = (f"install {' and '.join(self.packs)} (github.com/{', github.com/'.join(repos)}) and restart "
                       "ComfyUI" if repos else "install the custom nodes that provide them")
            choices = ", ".join(native)
            hints.append(f"{install}, or pick a native workflow in [providers.comfyui.{self.stage}]"
                         + (f" ({choices})" if choices else ""))
        if self.missing_models:
            hints.append("download it into ComfyUI's models folder, or set checkpoint/models in "
                         f"[providers.comfyui.{self.stage}]")
        return "; ".join(hints)


def combo_options(info: Mapping[str, Any], cls: str, input_name: str) -> list[str]:
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


def check_graph(stage: str, workflow: str, graphs: Iterable[Mapping[str, Any]],
                infos: Mapping[str, Mapping[str, Any]], model_inputs: Iterable[tuple[str, str, str]]) -> NodeCheck:
    """Check substituted graphs against `/object_info/{class}` answers (`infos`, by class; `{}` when
    the server lacks the class). `model_inputs` are (class, input, file) of every model file loaded."""
    classes = sorted({str(node["class_type"]) for graph in graphs for node in graph.values()})
    missing_nodes = tuple(cls for cls in classes if cls not in (infos.get(cls) or {}))
    models: list[tuple[str, bool]] = []
    for cls, input_name, file in model_inputs:
        if cls in missing_nodes:
            continue  # its list is unknown; the missing node is the problem to report
        models.append((file, file in combo_options(infos.get(cls) or {}, cls, input_name)))
    models = list(dict.fromkeys(models))
    missing_models = tuple(dict.fromkeys(file for file, ok in models if not ok))
    return NodeCheck(stage, workflow, missing_nodes, missing_models, tuple(models))
