"""What the renderer is asked to make, and what it reports back.

The pipeline builds a `RenderSpec` from the stage outputs; `agent.engine.render.render()` turns it into an
MP4. The renderer is local and not cascaded.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from agent.choices import Aspect, ClipExtend, Encoder, X264Preset
from agent.engine.render.feed import SceneFeed
from providers.base import WordTiming

__all__ = ["ASPECTS", "RenderScene", "RenderSpec", "RenderResult", "size_for_aspect"]

# Output sizes per aspect ratio at full quality (agent.choices.Aspect). Tests and benches may ask for smaller.
ASPECTS: dict[str, tuple[int, int]] = {aspect.value: aspect.size for aspect in Aspect}


def size_for_aspect(aspect: str) -> tuple[int, int]:
    """(width, height) for an aspect name; KeyError for an unknown one."""
    return ASPECTS[aspect]


@dataclass(frozen=True)
class RenderScene:
    narration: str  # subtitle text
    audio: Path  # WAV narration for this scene
    audio_s: float  # its duration
    image: Path | None = None  # a still (Ken Burns motion is added)
    clip: Path | None = None  # or a motion clip (normalised to the output size and fps)
    words: tuple[WordTiming, ...] | None = None  # word timings relative to the scene's audio


@dataclass(frozen=True)
class RenderSpec:
    title: str
    scenes: tuple[RenderScene, ...]
    out: Path  # final MP4; written atomically (temp file + rename)
    width: int = 1080
    height: int = 1920
    fps: int = 30
    music: Path | None = None  # optional background music, ducked under the voice
    music_gain_db: float = -18.0
    max_bytes: int | None = None  # the finished file must fit this
    title_card_s: float = 2.0  # the opening title card
    crossfade_s: float = 0.5
    scene_pad_s: float = 0.35  # breathing room after each scene's narration
    preset: X264Preset = "veryfast"  # x264 preset; never ultrafast (files 5-6x larger)
    crf: int = 23
    encoder: Encoder = Encoder.X264  # the pipeline passes video.encoder (auto by default)
    audio_kbps: int = 128
    subtitles: bool = True
    clip_extend: ClipExtend = "push-in"  # a clip shorter than its scene: hold + slow push-in, or ping-pong
    timeout_s: float = 1800.0  # the render's time limit; with a feed, counted from when the last scene is in
    # scenes' stills/clips arriving while the render runs (the pipeline's overlapped order): the
    # scenes' own image/clip fields are then ignored
    feed: SceneFeed | None = None

    def settled(self) -> RenderSpec:
        """This spec with the feed's stills and clips in its scenes (every scene must be in)."""
        if self.feed is None:
            return self
        scenes = []
        for i, scene in enumerate(self.scenes):
            visual = self.feed.arrived(i)
            scenes.append(dataclasses.replace(scene, image=visual.image, clip=visual.clip))
        return dataclasses.replace(self, scenes=tuple(scenes), feed=None)
    language: str = "en"  # BCP 47: the fonts' order and raqm's language forms for the title and subtitles


@dataclass(frozen=True)
class RenderResult:
    path: Path
    bytes: int
    duration_s: float
    width: int
    height: int
    video_kbps: float | None  # the bitrate cap used, None when CRF alone fitted
    reencoded: bool  # True when a second, smaller encode was needed to fit max_bytes
    encoder: Encoder = Encoder.X264  # the encoder that made the file (NVENC, or x264 after a fallback)
