"""One render, start to finish, on a worker thread: prepare inputs, encode, fit the budget, publish.

`RenderJob.run()` is synchronous and abortable from another thread (`abort()` kills every ffmpeg
child and makes the worker unwind with `Aborted` at its next frame). Encoders are tried in order
(`codecs`): NVENC first unless `video.encoder = "x264"`, then x264, which also takes over a job NVENC
fails part-way through (encoded again from the first frame: the frames are drawn deterministically).
`agent.engine.render.render()` wraps it for asyncio.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2

from agent.engine.render import audio
from agent.engine.render.budget import BitratePlan, plan_bitrate, retry_plan
from agent.engine.render.clips import ClipSource
from agent.choices import Encoder
from agent.engine.render.avencode import (
    Codec,
    EncoderFailed,
    EncoderUnavailable,
    encode_in_process,
    nvenc_codec,
    x264_codec,
)
from agent.engine.render.errors import BudgetTooSmall, ClipDecodeError, InputError, RenderError
from agent.engine.render.feed import SceneVisual
from agent.engine.render.ffmpeg import Aborted, ProcessSet
from agent.engine.render.memory import release_freed_memory
from agent.engine.render.frames import FrameProducer, FrameSource, StaticSource, TimedCue
from agent.engine.render.motion import StillSource, ken_burns_for, load_rgb, source_size
from agent.engine.render.spec import RenderResult, RenderSpec
from agent.engine.render.subtitles import scene_cues
from agent.engine.render.text import subtitle_style, title_card
from agent.engine.render.timeline import Timeline, build_timeline
from agent.engine.render.yuv import rgb_to_yuv

__all__ = ["RenderJob", "Prepared"]

log = logging.getLogger(__name__)
_CV2_THREADS = cv2.getNumThreads()  # OpenCV's own default, before any render changes it
_nvenc_unavailable_logged = False  # "NVENC does not open" is said once per process in auto mode


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
        self.encoder: Encoder | None = None  # the encoder that made the file
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
            if scene.image is None and scene.clip is None and spec.feed is None:
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
        release_freed_memory()  # the voices and the mixed track, now in the WAV
        return Prepared(timeline, soundtrack, tuple(cues))

    def producer(self, prep: Prepared, width: int, height: int) -> FrameProducer:
        """The frames of this video at width x height (called again for a smaller re-encode)."""
        spec, timeline = self.spec, prep.timeline

        def open_source(k: int) -> FrameSource:
            source = _open_source(k)
            release_freed_memory()  # the decoded still and its pre-scaled RGB: gone until the next scene
            return source

        def _open_source(k: int) -> FrameSource:
            self._check()
            seg = timeline.segments[k]
            duration_s = timeline.visible_until(k) - seg.start_s
            if seg.scene is None:
                first = self.visual(0).image
                background = load_rgb(first, (width // 4, height // 4)) if first is not None else None
                return StaticSource(rgb_to_yuv(title_card(spec.title, width, height, background, spec.language)))
            scene = self.visual(seg.scene)
            if scene.clip is not None:
                try:
                    return ClipSource(scene.clip, width, height, spec.fps, duration_s, self.procs,
                                      spec.clip_extend)
                except ClipDecodeError:
                    self._check()
                    if scene.image is None:
                        raise
                    log.warning("scene %d: clip %s does not decode, using its still", seg.scene, scene.clip)
            if scene.image is None:
                raise InputError(f"scene {seg.scene} has neither an image nor a clip")
            motion = ken_burns_for(seg.scene)
            return StillSource(load_rgb(scene.image, source_size(width, height)), width, height, motion, duration_s)

        style = None
        if prep.cues:
            style = subtitle_style(width, height, [line for c in prep.cues for line in c.lines], spec.language)
        return FrameProducer(timeline, width, height, open_source, prep.cues, style)

    def visual(self, index: int) -> SceneVisual:
        """Scene `index`'s still and clip: from the spec, or from the feed once it has arrived."""
        if self.spec.feed is not None:
            visual = self.spec.feed.wait(index, self.procs.aborted)
            self._check()
            return visual
        scene = self.spec.scenes[index]
        return SceneVisual(scene.image, scene.clip)

    # ------------------------------------------------------------------------ encoding

    def _on_frame(self, total: int) -> Callable[[int], None]:
        lo, hi = self._span

        def on_frame(n: int) -> None:  # an encode started again on x264 does not move progress back
            self.progress = max(self.progress, lo + (hi - lo) * n / total)

        return on_frame

    def codecs(self, plan: BitratePlan | None) -> list[Codec]:
        """The encoders to try, in order: NVENC first when the config allows it, x264 always last."""
        spec = self.spec
        maxrate = plan.video_kbps if plan else None
        x264 = x264_codec(spec.preset, spec.crf, maxrate)
        if spec.encoder is Encoder.X264:
            return [x264]
        return [nvenc_codec(spec.crf, maxrate), x264]

    def encode(self, prep: Prepared, out: Path, plan: BitratePlan | None) -> None:
        """Encode with the first encoder that works; a GPU encoder that fails hands the job to x264."""
        global _nvenc_unavailable_logged
        codecs = self.codecs(plan)
        for i, codec in enumerate(codecs):
            try:
                self._encode_with(codec, prep, out, plan)
                self.encoder = codec.kind
                return
            except (EncoderUnavailable, EncoderFailed) as exc:
                if i == len(codecs) - 1:
                    raise
                quiet = (isinstance(exc, EncoderUnavailable) and self.spec.encoder is Encoder.AUTO
                         and _nvenc_unavailable_logged)
                if not quiet:
                    log.log(logging.INFO if self.spec.encoder is Encoder.AUTO else logging.WARNING,
                            "render %s: %s; encoding with %s instead", self.spec.out.name, exc, codecs[-1].name)
                if isinstance(exc, EncoderUnavailable):
                    _nvenc_unavailable_logged = True

    def _encode_with(self, codec: Codec, prep: Prepared, out: Path, plan: BitratePlan | None) -> None:
        spec = self.spec
        width, height = (plan.width, plan.height) if plan else (spec.width, spec.height)
        # x264's frame threads keep every core busy, so OpenCV's worker threads (a pool per process) only
        # add hand-offs and spinning to each warp: ~10 % more CPU per drawn frame for no gain in wall
        # time. With NVENC the drawing is the bottleneck and the pool helps. Process-global, but the
        # renderer is the process's only OpenCV user, and either setting draws the same pixels.
        cv2.setNumThreads(1 if codec.kind is Encoder.X264 else _CV2_THREADS)
        producer = self.producer(prep, _even(width), _even(height))
        encode_in_process(
            producer, width=producer.width, height=producer.height, fps=spec.fps, out=out, codec=codec,
            audio=prep.soundtrack, audio_kbps=plan.audio_kbps if plan else spec.audio_kbps,
            aborted=self.procs.aborted, on_frame=self._on_frame(producer.frame_count),
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
            encoder=self.encoder or Encoder.X264,
        )


