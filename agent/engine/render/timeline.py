"""Scene timing (pure): where each segment starts, and which segments a frame shows.

Segment 0 is the title card (when title_card_s > 0), then one per scene, each lasting its audio plus
`scene_pad_s`. Scene i's picture starts fading in at its start, the moment its narration starts;
the previous segment stays on screen for the crossfade underneath it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Segment", "Timeline", "build_timeline"]


@dataclass(frozen=True)
class Segment:
    scene: int | None  # index into spec.scenes; None for the title card
    start_s: float
    end_s: float  # the next segment starts here; this one stays visible until end + crossfade

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True)
class Timeline:
    segments: tuple[Segment, ...]
    crossfade_s: float
    fps: int

    @property
    def duration_s(self) -> float:
        return self.segments[-1].end_s

    @property
    def frame_count(self) -> int:
        return max(1, round(self.duration_s * self.fps))

    def layers(self, frame: int) -> tuple[int, int | None, float]:
        """(segment under, segment fading in or None, its opacity 0..1) at `frame`."""
        t = (frame + 0.5) / self.fps
        k = len(self.segments) - 1
        while k > 0 and t < self.segments[k].start_s:
            k -= 1
        into = t - self.segments[k].start_s
        if k > 0 and self.crossfade_s > 0 and into < self.crossfade_s:
            return k - 1, k, into / self.crossfade_s
        return k, None, 1.0

    def visible_until(self, k: int) -> float:
        """Last moment segment k is on screen (through the next one's fade-in)."""
        last = k == len(self.segments) - 1
        return self.segments[k].end_s + (0.0 if last else self.crossfade_s)


def build_timeline(
    title_card_s: float,
    scene_s: Sequence[float],
    crossfade_s: float,
    fps: int,
) -> Timeline:
    """Lay segments end to end; the crossfade is clamped to half the shortest segment."""
    lengths = ([title_card_s] if title_card_s > 0 else []) + list(scene_s)
    if not scene_s or min(lengths) <= 0:
        raise ValueError("every segment needs a positive duration")
    segments, t = [], 0.0
    scenes = ([None] if title_card_s > 0 else []) + list(range(len(scene_s)))
    for scene, length in zip(scenes, lengths, strict=True):
        segments.append(Segment(scene, t, t + length))
        t += length
    fade = max(0.0, min(crossfade_s, 0.5 * min(lengths)))
    return Timeline(tuple(segments), fade, fps)
