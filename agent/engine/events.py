"""Typed progress events: what the pipeline tells its consumers as work goes.

The CLI's progress display is one consumer; the agent service turns them into job events (SSE), and
the chat bots into message edits. `fraction` is the whole job's progress; `done`/`total` count items
within the stage (images 3/7).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

__all__ = ["ProgressEvent", "EventSink", "STAGE_WEIGHTS", "OVERLAPPED_WEIGHTS", "overall_fraction"]

# Rough share of a job's wall time per stage, for one honest overall fraction.
STAGE_WEIGHTS: dict[str, tuple[float, float]] = {
    "script": (0.00, 0.08),
    "image": (0.08, 0.55),
    "clip": (0.08, 0.55),
    "voice": (0.55, 0.70),
    "render": (0.70, 1.00),
    "done": (1.00, 1.00),
}

# The overlapped order (agent.engine.pipeline): the voice comes second, and the render runs beside the
# images; what is left of it once the last image is in is the last stretch.
OVERLAPPED_WEIGHTS: dict[str, tuple[float, float]] = {
    "script": (0.00, 0.08),
    "voice": (0.08, 0.18),
    "image": (0.18, 0.90),
    "clip": (0.18, 0.90),
    "render": (0.90, 1.00),
    "done": (1.00, 1.00),
}


def overall_fraction(stage: str, stage_fraction: float,
                     weights: dict[str, tuple[float, float]] = STAGE_WEIGHTS) -> float:
    lo, hi = weights.get(stage, (0.0, 1.0))
    return round(lo + (hi - lo) * min(1.0, max(0.0, stage_fraction)), 4)


@dataclass(frozen=True)
class ProgressEvent:
    stage: str  # script | image | clip | voice | render | done
    done: int  # items finished in this stage
    total: int  # items in this stage (scenes; 1 for script; 100 for render percent)
    fraction: float  # the whole job, 0..1
    provider: str = ""  # who served the latest item, when there is one
    message: str = ""  # a short human line ("scene 3 image from comfyui")
    stage_done: bool = False  # True on the event that finishes the stage

    def to_json(self) -> dict[str, object]:
        return asdict(self)


EventSink = Callable[[ProgressEvent], None]
