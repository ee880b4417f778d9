"""The frame producer: walks the timeline and yields finished I420 frames, one buffer reused.

Per frame it draws the segment on screen (a warp or a clip frame copy), blends the incoming segment
only during crossfade frames, and alpha-blends the current subtitle patch over its own rectangle.
Segment sources are opened when first needed and closed once they leave the screen, so at most two
pre-scaled stills (or clip decoders) are alive at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from agent.engine.render.subtitles import Cue
from agent.engine.render.text import SubtitleStyle, subtitle_patch
from agent.engine.render.timeline import Timeline
from agent.engine.render.yuv import Yuv420, YuvPatch

__all__ = ["FrameSource", "StaticSource", "TimedCue", "FrameProducer"]


class FrameSource(Protocol):
    def draw(self, t_s: float, frame_index: int, out: Yuv420) -> None: ...
    def close(self) -> None: ...


class StaticSource:
    """A fixed picture (the title card)."""

    def __init__(self, frame: Yuv420) -> None:
        self._frame = frame

    def draw(self, t_s: float, frame_index: int, out: Yuv420) -> None:
        np.copyto(out.buf, self._frame.buf)

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class TimedCue:
    start_s: float  # on the video's clock
    end_s: float
    lines: tuple[str, ...]

    @classmethod
    def shifted(cls, cue: Cue, offset_s: float, until_s: float) -> TimedCue:
        return cls(cue.start_s + offset_s, min(cue.end_s + offset_s, until_s), cue.lines)


class FrameProducer:
    """Iterate to get every frame of the video, in order."""

    def __init__(
        self,
        timeline: Timeline,
        width: int,
        height: int,
        open_source: Callable[[int], FrameSource],
        cues: Sequence[TimedCue] = (),
        style: SubtitleStyle | None = None,
    ) -> None:
        self.timeline, self.width, self.height = timeline, width, height
        self._open_source = open_source
        self._cues = sorted(cues, key=lambda c: c.start_s)
        self._style = style
        self._sources: dict[int, FrameSource] = {}

    @property
    def frame_count(self) -> int:
        return self.timeline.frame_count

    def _source(self, k: int) -> FrameSource:
        if k not in self._sources:
            self._sources[k] = self._open_source(k)
        return self._sources[k]

    def _draw(self, k: int, n: int, out: Yuv420) -> None:
        seg = self.timeline.segments[k]
        t = n / self.timeline.fps
        first = round(seg.start_s * self.timeline.fps)
        self._source(k).draw(t - seg.start_s, n - first, out)

    def _retire(self, below: int) -> None:
        for k in [k for k in self._sources if k < below]:
            self._sources.pop(k).close()

    def __iter__(self) -> Iterator[Yuv420]:
        out, scratch = Yuv420(self.width, self.height), Yuv420(self.width, self.height)
        cue_i, patch, patch_cue = 0, None, -1
        try:
            for n in range(self.frame_count):
                under, over, alpha = self.timeline.layers(n)
                self._retire(under)
                self._draw(under, n, out)
                if over is not None:
                    self._draw(over, n, scratch)
                    cv2.addWeighted(out.buf, 1.0 - alpha, scratch.buf, alpha, 0.0, dst=out.buf)
                t = (n + 0.5) / self.timeline.fps
                while cue_i < len(self._cues) and self._cues[cue_i].end_s <= t:
                    cue_i += 1
                if self._style and cue_i < len(self._cues) and self._cues[cue_i].start_s <= t:
                    if patch_cue != cue_i:  # rendered once per cue
                        patch, patch_cue = self._patch(self._cues[cue_i]), cue_i
                    assert patch is not None
                    patch.blend_onto(out)
                yield out
        finally:
            self._retire(len(self.timeline.segments))

    def _patch(self, cue: TimedCue) -> YuvPatch:
        assert self._style is not None
        return subtitle_patch(cue.lines, self._style, self.width)
