"""One render, start to finish, on a worker thread: prepare inputs, encode, fit the budget, publish.

`RenderJob.run()` is synchronous and abortable from another thread (`abort()` kills every ffmpeg
child and makes the worker unwind with `Aborted`). `agent.engine.render.render()` wraps it for asyncio.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from agent.engine.render import audio
from agent.engine.render.budget import BitratePlan, plan_bitrate, retry_plan
from agent.engine.render.clips import ClipSource
from agent.engine.render.encode import aac_args, encode_frames, x264_args
from agent.engine.render.errors import BudgetTooSmall, ClipDecodeError, InputError, RenderError
from agent.engine.render.ffmpeg import Aborted, ProcessSet
from agent.engine.render.frames import FrameProducer, FrameSource, StaticSource, TimedCue
from agent.engine.render.motion import StillSource, ken_burns_for, load_rgb
from agent.engine.render.spec import RenderResult, RenderSpec
from agent.engine.render.subtitles import scene_cues
from agent.engine.render.text import subtitle_style, title_card
from agent.engine.render.timeline import Timeline, build_timeline
from agent.engine.render.yuv import rgb_to_yuv

__all__ = ["RenderJob", "Prepared"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prepared:
    timeline: Timeline
    soundtrack: Path
    cues: tuple[TimedCue, ...]


def _even(x: int) -> int:
    return x - x % 2


class RenderJob:
    """Renders `spec` using `workdir` (in the output's directory) for temp files."""

    def __init__(self, spec: RenderSpec, workdir: Path) -> None:
        self.spec, self.workdir = spec, workdir
        self.procs = ProcessSet()
        self.progress = 0.0  # 0..1, written by the worker, read by the event loop
        self._span = (0.0, 1.0)

    def abort(self) -> None:
        """Kill every ffmpeg child; the worker then raises Aborted at its next step."""
        self.procs.abort()

    def _check(self) -> None:
        if self.procs.aborted.is_set():
            raise Aborted()

    # ------------------------------------------------------------------------ inputs

    def prepare(self) -> Prepared:
        spec = self.spec
        if not spec.scenes:
            raise RenderError("nothing to render: the spec has no scenes")
        if spec.width % 2 or spec.height % 2 or spec.width < 16 or spec.height < 16:
            raise RenderError(f"{spec.width}x{spec.height}: yuv420p needs even sizes of 16 px or more")
        for i, scene in enumerate(spec.scenes):
            if scene.image is None and scene.clip is None:
                raise InputError(f"scene {i} has neither an image nor a clip")
        voices = []
        for scene in spec.scenes:
            self._check()
            voices.append(audio.read_audio(scene.audio, self.procs))
        speech_s = [max(s.audio_s, len(v) / audio.RATE) for s, v in zip(spec.scenes, voices, strict=True)]
        timeline = build_timeline(spec.title_card_s, [s + spec.scene_pad_s for s in speech_s],
                                  spec.crossfade_s, spec.fps)
        offset = 1 if spec.title_card_s > 0 else 0
        starts = [timeline.segments[i + offset].start_s for i in range(len(spec.scenes))]
        track = audio.narration_track(voices, starts, timeline.duration_s)
        if spec.music is not None:
            self._check()
            track = audio.mix_music(track, spec.music, spec.music_gain_db, self.procs)
        soundtrack = self.workdir / "soundtrack.wav"
        audio.write_wav(soundtrack, track)
        cues: list[TimedCue] = []
        if spec.subtitles:
            for i, scene in enumerate(spec.scenes):
                seg = timeline.segments[i + offset]
                for cue in scene_cues(scene.narration, speech_s[i], scene.words):
                    cues.append(TimedCue.shifted(cue, seg.start_s, seg.end_s))
        return Prepared(timeline, soundtrack, tuple(cues))

    def producer(self, prep: Prepared, width: int, height: int) -> FrameProducer:
        """The frames of this video at width x height (called again for a smaller re-encode)."""
        spec, timeline = self.spec, prep.timeline

        def open_source(k: int) -> FrameSource:
            self._check()
            seg = timeline.segments[k]
            duration_s = timeline.visible_until(k) - seg.start_s
            if seg.scene is None:
                first = spec.scenes[0].image
                background = load_rgb(first) if first is not None else None
                return StaticSource(rgb_to_yuv(title_card(spec.title, width, height, background, spec.language)))
            scene = spec.scenes[seg.scene]
            if scene.clip is not None:
                try:
                    return ClipSource(scene.clip, width, height, spec.fps, duration_s, self.procs)
                except ClipDecodeError:
                    self._check()
                    if scene.image is None:
                        raise
                    log.warning("scene %d: clip %s does not decode, using its still", seg.scene, scene.clip)
            assert scene.image is not None
            motion = ken_burns_for(seg.scene)
            return StillSource(load_rgb(scene.image), width, height, motion, duration_s)

        style = None
        if prep.cues:
            style = subtitle_style(width, height, [line for c in prep.cues for line in c.lines], spec.language)
        return FrameProducer(timeline, width, height, open_source, prep.cues, style)

    # ------------------------------------------------------------------------ encoding

    def _on_frame(self, total: int) -> Callable[[int], None]:
        lo, hi = self._span

        def on_frame(n: int) -> None:
            self.progress = lo + (hi - lo) * n / total

        return on_frame

    def encode(self, prep: Prepared, out: Path, plan: BitratePlan | None) -> None:
        spec = self.spec
        width, height = (plan.width, plan.height) if plan else (spec.width, spec.height)
        producer = self.producer(prep, _even(width), _even(height))
        encode_frames(
            producer, width=producer.width, height=producer.height, fps=spec.fps, out=out,
            video_args=x264_args(spec.preset, spec.crf, plan.video_kbps if plan else None),
            audio=prep.soundtrack, audio_args=aac_args(plan.audio_kbps if plan else spec.audio_kbps),
            procs=self.procs, on_frame=self._on_frame(producer.frame_count),
            log=self.workdir / "ffmpeg.log",
        )

    def run(self) -> RenderResult:
        spec = self.spec
        prep = self.prepare()
        duration_s = prep.timeline.duration_s
        out = self.workdir / ("out" + (spec.out.suffix or ".mp4"))
        plan = None
        if spec.max_bytes is not None:
            plan = plan_bitrate(spec.max_bytes, duration_s, spec.audio_kbps, spec.width, spec.height, spec.fps)
            self._span = (0.0, 0.8)
        self.encode(prep, out, plan)
        size, reencoded = out.stat().st_size, False
        if spec.max_bytes is not None and plan is not None and size > spec.max_bytes:
            log.info("render %s: %d bytes over the %d budget at %.0f kbit/s, re-encoding",
                     spec.out.name, size, spec.max_bytes, plan.video_kbps)
            plan = retry_plan(plan, spec.max_bytes, size, duration_s, spec.fps)
            self._span = (0.8, 1.0)
            self.encode(prep, out, plan)
            size, reencoded = out.stat().st_size, True
            if size > spec.max_bytes:
                raise BudgetTooSmall(spec.max_bytes, duration_s, plan.video_kbps)
        self._check()
        os.replace(out, spec.out)
        self.progress = 1.0
        width, height = (plan.width, plan.height) if plan else (spec.width, spec.height)
        return RenderResult(
            path=spec.out, bytes=size, duration_s=prep.timeline.frame_count / spec.fps,
            width=_even(width), height=_even(height),
            video_kbps=plan.video_kbps if plan else None, reencoded=reencoded,
        )


