"""The pipeline: topic -> script -> voice -> images, rendered as they come -> video, one job at a time.

The order puts the renderer to work as early as it can (`video.overlap`, on by default): the voice
comes right after the script, because it fixes every scene's duration and so the whole timeline;
then the images are drawn in scene order while the renderer encodes each scene as soon as its image
(and, for the crossfade, the next one) exists (agent.engine.render.feed). On one GPU box the images
are GPU work and the render is CPU work, so they overlap. GPU sequencing (agent.engine.gpu) holds:
Ollama unloads after the script, so the voice finds the GPU free; ComfyUI frees its models once the
images are done. Video mode (motion clips, with stills for scenes whose clip fails) and
`video.overlap = false` keep the sequential order: script, pictures, voice, render.

Each stage is otherwise a readable sequence. Each stage runs its items through a `Cascade`; images, clips and voice
are per scene, so a backend that dies mid-job only costs the scenes it had not yet served. Every
stage's output is written into the job's work directory and noted in `manifest.json`, so a job that
is interrupted (an agent restart) resumes from its last finished item instead of starting over.

Progress goes to an `EventSink`; attempts go to the job's attempt list; the result carries
provenance: which provider served each part.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import shutil
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from agent.engine.backends import Backends
from agent.engine.cascade import Attempt, Cascade, Served
from agent.choices import Aspect, Length, Mode
from agent.engine.events import OVERLAPPED_WEIGHTS, STAGE_WEIGHTS, EventSink, ProgressEvent, overall_fraction
from agent.engine.gpu import apply_gpu_sharing, release_gpu
from agent.engine.health import HealthBoard
from agent.engine.preflight import usable
from agent.engine.render.feed import SceneFeed
from agent.engine.render.spec import RenderResult, RenderScene, RenderSpec, size_for_aspect
from agent.settings import Settings
from agent.engine.validation import validate_clip, validate_image, validate_script, validate_voice
from providers.base import (
    ClipRequest,
    ClipResult,
    Clock,
    ImageRequest,
    ImageResult,
    Provider,
    Script,
    ScriptRequest,
    Stage,
    StageContext,
    Tier,
    VoiceMaker,
    VoiceRequest,
    VoiceResult,
    WordTiming,
)
from providers.errors import AllProvidersFailed
from providers.scrub import scrub

__all__ = ["JobSpec", "JobResult", "SceneSource", "Pipeline", "Renderer", "topic_seed", "forget_script",
           "set_narrations", "seed_from_parent", "scene_count"]

log = logging.getLogger(__name__)

Renderer = Callable[[RenderSpec, Callable[[float], None] | None], Awaitable[RenderResult]]
P = TypeVar("P", bound=Provider)
T = TypeVar("T")
_PROVENANCE_ORDER = {stage: i for i, stage in enumerate(("script", "image", "clip", "voice", "render"))}
WORDS_PER_SECOND = 2.6  # spoken pace, for estimating a clip's length before the voice exists


def topic_seed(topic: str) -> int:
    """The job's seed when none is given: the same topic draws the same pictures, on the agent and
    in `reelbot make`. The first 4 bytes of the topic's SHA-256, so 0 <= seed < 2**32 (unsigned);
    scene i uses seed + i. (A backend that wants a signed 32-bit seed has to fold it itself.)"""
    return int.from_bytes(hashlib.sha256(topic.encode()).digest()[:4], "big")


@dataclass(frozen=True)
class JobSpec:
    job_id: str
    topic: str
    aspect: Aspect = Aspect.TALL
    length: Length = Length.SHORT
    mode: Mode = Mode.SLIDESHOW
    voice: str = ""
    max_bytes: int | None = None
    music: Path | None = None
    seed: int = 0
    route: str = "self-hosted"
    size: tuple[int, int] | None = None  # override the aspect's size (tests, previews)
    out: Path | None = None  # default: <workdir>/video.mp4
    language: str = ""  # BCP 47; "" = the configured default ([video] language)


@dataclass(frozen=True)
class SceneSource:
    """What a scene shows and who made it: a "picture" (slideshow), a "clip", or a "still" (a video
    scene whose clip could not be made; `why` says why)."""

    kind: str
    provider: str
    why: str = ""


@dataclass(frozen=True)
class JobResult:
    job_id: str
    video: Path
    title: str
    duration_s: float
    bytes: int
    width: int
    height: int
    script: Script
    provenance: Mapping[str, Mapping[str, int]]  # stage -> provider -> items served
    tiers: Mapping[str, tuple[Tier, ...]]  # stage -> tiers that served its items
    timings_s: Mapping[str, float]
    attempts: tuple[Attempt, ...]
    render: RenderResult
    scenes: tuple[SceneSource, ...] = ()

    def stills_note(self) -> str:
        """In video mode, how many scenes are stills and why: "3 of 5 scenes are stills: ComfyUI
        lacks AnimateDiff-Evolved"; "" when every scene is a clip (or in slideshow mode)."""
        stills = [s for s in self.scenes if s.kind == "still"]
        if not stills:
            return ""
        why = "; ".join(dict.fromkeys(s.why for s in stills if s.why))
        return f"{len(stills)} of {len(self.scenes)} scenes are stills" + (f": {why}" if why else "")
    language: str = "en"  # the job's
    languages: Mapping[str, str] = field(default_factory=dict)  # stage -> the language its output is in
    language_notes: tuple[str, ...] = ()  # why a stage used another language than the job's

    def provenance_line(self) -> str:
        parts = []
        for stage, counts in self.provenance.items():
            who = " + ".join(f"{name}" if len(counts) == 1 else f"{name}×{n}" for name, n in counts.items())
            spoken = self.languages.get(stage, self.language)
            parts.append(f"{stage}: {who}" + (f" ({spoken})" if spoken != self.language else ""))
        return f"language: {self.language}; " + ", ".join(parts) if parts else f"language: {self.language}"


@dataclass
class _Manifest:
    """What is already done in a work directory, written atomically after every item."""

    path: Path
    data: dict[str, Any] = field(default_factory=dict)
    # saves run one at a time and each writes the newest data, so the file only moves forward
    _saving: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    @classmethod
    def load(cls, path: Path) -> _Manifest:
        try:
            return cls(path, json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return cls(path, {})
        except (ValueError, OSError):
            log.warning("manifest %s unreadable; starting the job's stages afresh", path)
            return cls(path, {})

    async def save(self) -> None:
        """Write the manifest atomically, off the event loop (a write and a rename per item add up
        to a large share of the loop's time when many jobs run at once)."""
        async with self._saving:
            # msgspec, not json: encoded on the loop (the dict changes while scenes finish), and the
            # stdlib's encoder took ~0.3 ms of the loop per item of every running job
            text = msgspec.json.format(msgspec.json.encode(self.data), indent=1).decode()
            await asyncio.to_thread(_write_atomic, self.path, text)

    async def item(self, stage: str, index: int) -> dict[str, Any] | None:
        entry = self.data.get(stage, {}).get(str(index))
        if entry and await asyncio.to_thread(Path(entry["path"]).is_file):
            return entry
        return None

    async def put(self, stage: str, index: int, entry: dict[str, Any]) -> None:
        self.data.setdefault(stage, {})[str(index)] = entry
        await self.save()


def scene_count(workdir: Path) -> int | None:
    """How many scenes the job in `workdir` has (its stored script), None when it has none. Blocking."""
    try:
        return len(json.loads((workdir / "script.json").read_text(encoding="utf-8"))["scenes"])
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None


def seed_from_parent(parent: Path, child: Path, drop: Mapping[str, Sequence[int] | None]) -> None:
    """A derived job starts from its parent's work: the script and every image, clip and voice, except
    `drop` (stage -> scene indices to make again, None for all of the stage's). The manifest is
    rewritten to point into `child`, so `run` reuses what is kept and makes the rest. Blocking."""
    child.mkdir(parents=True, exist_ok=True)
    shutil.copy2(parent / "script.json", child / "script.json")
    for folder in ("images", "clips", "voice"):
        if (parent / folder).is_dir():
            shutil.copytree(parent / folder, child / folder, dirs_exist_ok=True)
    data = _Manifest.load(parent / "manifest.json").data
    out: dict[str, Any] = {"script": data["script"]} if "script" in data else {}
    for stage in ("image", "clip", "voice"):
        if stage in drop and drop[stage] is None:
            continue
        gone = {str(i) for i in (drop.get(stage) or ())}
        kept = {k: dict(v, path=str(child / Path(v["path"]).relative_to(parent)))
                for k, v in data.get(stage, {}).items()
                if k not in gone and Path(v.get("path", "")).is_relative_to(parent)}
        if kept:
            out[stage] = kept
    _write_atomic(child / "manifest.json", json.dumps(out, indent=1))


def forget_script(workdir: Path) -> None:
    """A new script next time (review: Rewrite). Blocking: call it in a thread."""
    (workdir / "script.json").unlink(missing_ok=True)
    manifest = _Manifest.load(workdir / "manifest.json")
    if manifest.data.pop("script", None) is not None:
        _write_atomic(manifest.path, json.dumps(manifest.data, indent=1))


def set_narrations(workdir: Path, narrations: Sequence[str]) -> Script:
    """The stored script with every scene's narration replaced, in order (review: Edit; the caller has
    checked the text). Blocking: call it in a thread."""
    path = workdir / "script.json"
    script = Script.from_json(json.loads(path.read_text(encoding="utf-8")))
    if len(narrations) != len(script.scenes):
        raise ValueError(f"the script has {len(script.scenes)} scenes, not {len(narrations)}")
    data = script.to_json()
    for scene, text in zip(data["scenes"], narrations, strict=True):
        scene["narration"] = text
    _write_atomic(path, json.dumps(data, ensure_ascii=False, indent=1))
    return Script.from_json(data)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


class Pipeline:
    """Runs jobs. Holds no per-job state: one instance serves every job of a process."""

    def __init__(
        self,
        *,
        settings: Settings,
        backends: Backends,
        health: HealthBoard,
        renderer: Renderer,
        clock: Clock = time.monotonic,
        gpu_lock: asyncio.Lock | None = None,
    ) -> None:
        self.settings = settings
        self.backends = backends
        self.health = health
        self._render = renderer
        self._clock = clock
        self._gpu_lock = gpu_lock or asyncio.Lock()
        # One GPU, shared (agent.engine.gpu): which backends give their GPU memory back between steps.
        self.gpu_shared = apply_gpu_sharing(backends.all())

    async def run(
        self,
        job: JobSpec,
        workdir: Path,
        on_event: EventSink | None = None,
        orders: Mapping[Stage, Sequence[str]] | None = None,
        on_attempt: Callable[[Attempt], None] | None = None,
    ) -> JobResult:
        run = _JobRun(self, job, workdir, on_event or (lambda e: None), orders or {}, on_attempt)
        return await run.execute()

    async def write_script(
        self,
        job: JobSpec,
        workdir: Path,
        on_event: EventSink | None = None,
        orders: Mapping[Stage, Sequence[str]] | None = None,
        on_attempt: Callable[[Attempt], None] | None = None,
    ) -> Script:
        """Only the script stage (a job waiting for review): nothing GPU-heavy after it. Resumes from the
        manifest as `run` does, so `run` later reuses this script."""
        run = _JobRun(self, job, workdir, on_event or (lambda e: None), orders or {}, on_attempt)
        await asyncio.to_thread(workdir.mkdir, parents=True, exist_ok=True)
        run.manifest = await asyncio.to_thread(_Manifest.load, run.manifest.path)
        return await run.script_stage()

    # used by _JobRun
    def cascade(
        self, stage: Stage, providers: Sequence[P], job_id: str, record: Callable[[Attempt], None]
    ) -> Cascade[P]:
        return Cascade(
            stage=stage,
            providers=providers,
            health=self.health,
            clock=self._clock,
            timeout_s=self.settings.cascade.timeout_for(stage),
            job_id=job_id,
            record=record,
            secrets=self.secrets(),
        )

    def secrets(self) -> tuple[str, ...]:
        """What to scrub from attempt and event text: the settings' and every provider's secrets."""
        return (*self.settings.secrets(), *self.backends.secrets())

    @contextlib.asynccontextmanager
    async def gpu(self, provider: Provider) -> AsyncIterator[None]:
        """Serialise GPU-heavy calls: one at a time on the operator's box."""
        if getattr(provider, "gpu_heavy", False):
            async with self._gpu_lock:
                yield
        else:
            yield


class _JobRun:
    """The state of one job while it runs."""

    def __init__(
        self,
        pipeline: Pipeline,
        job: JobSpec,
        workdir: Path,
        sink: EventSink,
        orders: Mapping[Stage, Sequence[str]],
        on_attempt: Callable[[Attempt], None] | None,
    ) -> None:
        self.p = pipeline
        self.s = pipeline.settings
        self.job = job
        self.dir = workdir
        self.sink = sink
        self.orders = orders
        self.on_attempt = on_attempt
        self.attempts: list[Attempt] = []
        self.served: dict[str, list[tuple[str, Tier]]] = {}
        self.timings: dict[str, float] = {}
        self.width, self.height = job.size or size_for_aspect(job.aspect)
        self.manifest = _Manifest(workdir / "manifest.json")  # read in execute(), off the loop
        self.stills: dict[int, Path] = {}  # video mode: scenes whose clip failed (image-to-video: every scene)
        self.still_why: dict[int, str] = {}  # video mode: why a scene's clip could not be made
        self.made_by: dict[str, dict[int, str]] = {}  # stage -> scene -> provider
        # video mode: where the image and clip stages sit in the job's progress (they share a span)
        self.spans: dict[str, tuple[float, float]] = {}
        self._fraction = 0.0  # the last overall fraction sent: progress never goes backwards
        self.secrets = pipeline.secrets()  # progress text may quote a provider's words
        self.weights = STAGE_WEIGHTS  # OVERLAPPED_WEIGHTS once the overlapped order is chosen
        self.render_from: int | None = None  # overlapped: the render % when the last image came in
        self.language = job.language or self.s.video.language
        self.script_language = self.language  # the script's own, once written (the nearest templates')
        self.languages: dict[str, str] = {}  # stage -> the language its output is in (provenance)
        self.language_notes: list[str] = []

    # ------------------------------------------------------------------ plumbing

    def record(self, attempt: Attempt) -> None:
        self.attempts.append(attempt)
        if self.on_attempt:
            self.on_attempt(attempt)

    def emit(self, stage: str, done: int, total: int, *, provider: str = "", message: str = "",
             stage_done: bool = False, within: float = 0.0) -> None:
        frac = (done + within) / total if total else 1.0
        if stage == "render" and self.render_from is not None:  # the part rendered after the last image
            frac = max(0.0, done - self.render_from) / max(1, total - self.render_from)
        span = self.spans.get(stage)
        overall = overall_fraction(stage, frac, self.weights) if span is None else round(
            span[0] + (span[1] - span[0]) * min(1.0, max(0.0, frac)), 4)
        self._fraction = max(self._fraction, overall)
        self.sink(ProgressEvent(stage, done, total, self._fraction, provider,
                                scrub(message, self.secrets), stage_done))

    def note(self, stage: str, provider: str, tier: Tier) -> None:
        self.served.setdefault(stage, []).append((provider, tier))

    def cascade(self, stage: Stage, providers: Sequence[P]) -> Cascade[P]:
        return self.p.cascade(stage, providers, self.job.job_id, self.record)

    def order(self, stage: Stage) -> Sequence[str] | None:
        """The route's order for `stage`, or None for the stage's configured default."""
        return self.orders.get(stage)

    def ctx(self, report: Callable[[float, str], None] | None = None, last_call: bool = False) -> StageContext:
        return StageContext(job_id=self.job.job_id, report=report or (lambda f, m: None), last_call=last_call)

    # ------------------------------------------------------------------ stages

    async def execute(self) -> JobResult:
        await asyncio.to_thread(self.dir.mkdir, parents=True, exist_ok=True)
        self.manifest = await asyncio.to_thread(_Manifest.load, self.manifest.path)
        log.info("job %s: starting %r (%s, %s, %s, language %s)", self.job.job_id, self.job.topic,
                 self.job.aspect, self.job.length, self.job.mode, self.language)
        started = time.monotonic()
        overlapped = self.s.video.overlap and self.job.mode != Mode.VIDEO
        if overlapped:
            self.weights = OVERLAPPED_WEIGHTS
        script = await self._timed("script", self.script_stage())
        self.script_language = script.language or self.language
        self.languages["script"] = self.script_language
        if script.note:
            self.language_notes.append(script.note)
        visuals: Mapping[int, Path] = {}
        if overlapped:
            voices = await self._timed("voice", self.voice_stage(script))
            result = await self.overlapped_stages(script, voices)
        else:
            if self.job.mode == Mode.VIDEO:
                visuals = await self.clip_stage(script)  # times its clips and stills apart
            else:
                visuals = await self._timed("image", self.image_stage(script))
            await self.release_drawing_gpu()  # before TTS, which may want the GPU's memory
            voices = await self._timed("voice", self.voice_stage(script))
            result = await self._timed("render", self.render_stage(script, visuals, voices))
        self.emit("done", 1, 1, message="done", stage_done=True)
        # provenance reads script, pictures, voice, render whatever order they ran in
        served = sorted(self.served.items(), key=lambda kv: _PROVENANCE_ORDER.get(kv[0], len(_PROVENANCE_ORDER)))
        provenance = {stage: dict(Counter(name for name, _ in items)) for stage, items in served}
        tiers = {stage: tuple(t for _, t in items) for stage, items in served}
        log.info("job %s: done in %.1fs: %s", self.job.job_id, time.monotonic() - started, provenance)
        return JobResult(
            job_id=self.job.job_id, video=result.path, title=script.title,
            duration_s=result.duration_s, bytes=result.bytes, width=result.width, height=result.height,
            script=script, provenance=provenance, tiers=tiers, timings_s=dict(self.timings),
            attempts=tuple(self.attempts), render=result, scenes=self._scene_sources(len(script.scenes), visuals),
            language=self.language, languages=dict(self.languages),
            language_notes=tuple(dict.fromkeys(self.language_notes)),
        )

    def _scene_sources(self, n: int, visuals: Mapping[int, Path]) -> tuple[SceneSource, ...]:
        clips, images = self.made_by.get("clip", {}), self.made_by.get("image", {})
        out = []
        for i in range(n):
            if self.job.mode != Mode.VIDEO:
                out.append(SceneSource("picture", images.get(i, "")))
            elif i in visuals:
                out.append(SceneSource("clip", clips.get(i, "")))
            else:
                out.append(SceneSource("still", images.get(i, ""), self.still_why.get(i, "")))
        return tuple(out)

    async def release_drawing_gpu(self) -> None:
        """One GPU, shared: the backends that drew the scenes free their models."""
        drew = {name for stage in ("image", "clip") for name, _ in self.served.get(stage, [])}
        await release_gpu(self.p.backends.all(), drew, self.p.gpu_shared)

    async def overlapped_stages(self, script: Script, voices: dict[int, VoiceResult]) -> RenderResult:
        """Images in scene order, each handed to the render already running; the render's result.

        Timings: `image` and `render` overlap; `render_tail` is what the render took after the last
        image came in (the part nobody can hide)."""
        feed = SceneFeed(len(script.scenes))
        render_pct = [0]
        images_done = asyncio.Event()

        async def images() -> None:
            try:
                await self._timed("image", self.image_stage(
                    script, on_scene=lambda i, path: feed.put(i, image=path)))
            except BaseException as exc:
                feed.fail(str(exc) or type(exc).__name__)  # unblocks the render thread
                raise
            self.render_from = max(0, render_pct[0])
            images_done.set()
            await self.release_drawing_gpu()  # the next job's script and voice find it free

        images_task = asyncio.ensure_future(images())
        render_task = asyncio.ensure_future(self._timed("render", self.render_stage(
            script, {}, voices, feed=feed, quiet=lambda: not images_done.is_set(), pct=render_pct)))
        await _gather_or_cancel([images_task, render_task])
        self.timings["render_tail"] = round(max(0.0, self.timings["render"] - self.timings["image"]), 3)
        return render_task.result()

    async def _timed(self, name: str, coro: Awaitable[Any]) -> Any:
        started = time.monotonic()
        try:
            return await coro
        finally:
            self.timings[name] = round(time.monotonic() - started, 3)

    async def script_stage(self) -> Script:
        done = self.manifest.data.get("script")
        path = self.dir / "script.json"
        if done and await asyncio.to_thread(path.is_file):
            script = Script.from_json(json.loads(await asyncio.to_thread(path.read_text, encoding="utf-8")))
            self.note("script", done["provider"], Tier(done["tier"]))
            self.emit("script", 1, 1, provider=done["provider"], message="script (resumed)", stage_done=True)
            return script
        preset = Length(self.job.length).preset
        request = ScriptRequest(
            topic=self.job.topic, length=self.job.length, min_scenes=preset.min_scenes,
            max_scenes=preset.max_scenes, target_seconds=preset.target_seconds, language=self.language,
        )
        self.emit("script", 0, 1, message="writing the script")
        # Ollama may unload its model after the script when the GPU is shared (last_call).
        writers = self.p.backends.for_stage(Stage.SCRIPT, self.order(Stage.SCRIPT))
        served: Served[Script] = await self.cascade(Stage.SCRIPT, writers).run(
            "script",
            lambda prov: self._gpu_call(prov, prov.write_script(request, self.ctx(last_call=True))),
            lambda script: validate_script(script, request),
        )
        await asyncio.to_thread(_write_atomic, path, json.dumps(served.value.to_json(), ensure_ascii=False, indent=1))
        self.manifest.data["script"] = {"provider": served.provider, "tier": int(served.tier)}
        await self.manifest.save()
        self.note("script", served.provider, served.tier)
        self.emit("script", 1, 1, provider=served.provider, message=f"script by {served.provider}", stage_done=True)
        return served.value

    async def _gpu_call(self, provider: Provider, coro: Awaitable[T]) -> T:
        async with self.p.gpu(provider):
            return await coro

    async def image_stage(self, script: Script, only: Sequence[int] | None = None,
                          on_scene: Callable[[int, Path], None] | None = None) -> dict[int, Path]:
        n = len(script.scenes)
        indices = list(range(n)) if only is None else list(only)
        out_dir = self.dir / "images"
        await asyncio.to_thread(out_dir.mkdir, exist_ok=True)
        sem = asyncio.Semaphore(self.s.video.image_concurrency)
        results: dict[int, Path] = {}
        makers, _ = await usable(self.p.backends.for_stage(Stage.IMAGE, self.order(Stage.IMAGE)), self.job.job_id,
                                 "image")
        cascade = self.cascade(Stage.IMAGE, makers)
        finished = 0
        self.emit("image", 0, len(indices), message="drawing scenes")

        async def one(i: int) -> None:
            nonlocal finished
            scene = script.scenes[i]
            entry = await self.manifest.item("image", i)
            if entry is None:
                request = ImageRequest(
                    prompt=scene.visual, style=self.s.video.style, negative=self.s.video.negative,
                    width=self.width, height=self.height, seed=self.job.seed + i, scene_index=i,
                    scene_count=n, out_dir=out_dir, title=script.title, key_phrase=scene.key_phrase,
                    topic=self.job.topic, language=self.script_language,
                )

                def report(frac: float, message: str, _i: int = i) -> None:
                    self.emit("image", finished, len(indices), within=frac, message=message or f"scene {_i + 1}")

                async with sem:
                    served: Served[ImageResult] = await cascade.run(
                        f"scene {i + 1}",
                        lambda prov: self._gpu_call(prov, prov.make_image(request, self.ctx(report))),
                        validate_image,
                    )
                entry = {"path": str(served.value.path), "provider": served.provider, "tier": int(served.tier)}
                await self.manifest.put("image", i, entry)
            results[i] = Path(entry["path"])
            self.made_by.setdefault("image", {})[i] = entry["provider"]
            if on_scene is not None:
                on_scene(i, results[i])
            self.note("image", entry["provider"], Tier(entry["tier"]))
            self.languages["image"] = self.script_language  # the art's words; the prompts stay English
            finished += 1
            self.emit("image", finished, len(indices), provider=entry["provider"],
                      message=f"scene {i + 1} image by {entry['provider']}", stage_done=finished == len(indices))

        await _gather_or_cancel(one(i) for i in indices)
        return results

    async def clip_stage(self, script: Script) -> dict[int, Path]:
        """Video mode: a clip per scene; a scene whose clip fails becomes a still with motion. A
        maker that animates stills (image-to-video) gets every scene's still, drawn first."""
        n = len(script.scenes)
        out_dir = self.dir / "clips"
        await asyncio.to_thread(out_dir.mkdir, exist_ok=True)
        makers, unusable = await usable(self.p.backends.for_stage(Stage.CLIP, self.order(Stage.CLIP)),
                                        self.job.job_id, "clip")
        cascade = self.cascade(Stage.CLIP, makers)
        stills_first = any(getattr(p, "wants_image", False) for p in makers)
        # stills first: they take the first part of the span; otherwise failed scenes' stills the last
        lo, hi = STAGE_WEIGHTS["clip"]
        cut = lo + (hi - lo) * (0.3 if stills_first else 0.85)
        first, then = ("image", "clip") if stills_first else ("clip", "image")
        self.spans = {first: (lo, cut), then: (cut, hi)}
        if stills_first:
            self.stills = await self._timed("image", self.image_stage(script))
        results: dict[int, Path] = {}
        failed: list[int] = []
        finished = 0

        async def make(i: int, request: ClipRequest) -> Served[ClipResult]:
            def report(frac: float, message: str) -> None:
                self.emit("clip", finished, n, within=frac, message=message or f"scene {i + 1}")

            return await cascade.run(
                f"scene {i + 1}",
                lambda prov: self._gpu_call(prov, prov.make_clip(request, self.ctx(report))),
                validate_clip,
            )

        async def clips() -> None:
            nonlocal finished
            self.emit("clip", 0, n, message="making motion clips")
            for i, scene in enumerate(script.scenes):
                entry = await self.manifest.item("clip", i)
                if entry is None and not cascade.providers:
                    failed.append(i)
                    self.still_why[i] = unusable or "no clip maker is configured"
                    continue
                if entry is None:
                    seconds = max(2.0, len(scene.narration.split()) / WORDS_PER_SECOND + self.s.video.scene_pad_s)
                    request = ClipRequest(
                        prompt=scene.visual, style=self.s.video.style, negative=self.s.video.negative,
                        width=self.width, height=self.height, seconds=round(seconds, 2), fps=self.s.video.fps,
                        seed=self.job.seed + i, scene_index=i, scene_count=n, out_dir=out_dir,
                        image=self.stills.get(i),
                    )
                    try:
                        served = await make(i, request)
                    except AllProvidersFailed as exc:
                        log.warning("job %s: %s; scene %d becomes a still", self.job.job_id, exc, i + 1)
                        failed.append(i)
                        self.still_why[i] = unusable or _short_why(exc)
                        continue
                    entry = {"path": str(served.value.path), "provider": served.provider, "tier": int(served.tier)}
                    await self.manifest.put("clip", i, entry)
                results[i] = Path(entry["path"])
                self.made_by.setdefault("clip", {})[i] = entry["provider"]
                self.note("clip", entry["provider"], Tier(entry["tier"]))
                finished += 1
                self.emit("clip", finished, n, provider=entry["provider"],
                          message=f"scene {i + 1} clip by {entry['provider']}")
            self.emit("clip", n, n, stage_done=True, message=f"{len(results)} clips")

        await self._timed("clip", clips())
        if failed and not stills_first:
            self.stills = await self._timed("image", self.image_stage(script, only=failed))
        return results

    async def voice_stage(self, script: Script) -> dict[int, VoiceResult]:
        n = len(script.scenes)
        out_dir = self.dir / "voice"
        await asyncio.to_thread(out_dir.mkdir, exist_ok=True)
        sem = asyncio.Semaphore(self.s.video.voice_concurrency)
        language = self.script_language
        cascade = self.cascade(Stage.VOICE, await self._speakers(language))
        results: dict[int, VoiceResult] = {}
        finished = 0
        voice = self.job.voice or self.s.video.voice
        spoken: Counter[str] = Counter()
        self.emit("voice", 0, n, message="recording the narration")

        async def one(i: int) -> None:
            nonlocal finished
            text = script.scenes[i].narration
            entry = await self.manifest.item("voice", i)
            if entry is None:
                request = VoiceRequest(text=text, voice=voice, scene_index=i, out_dir=out_dir,
                                       language=language)
                async with sem:
                    served: Served[VoiceResult] = await cascade.run(
                        f"scene {i + 1}",
                        lambda prov: self._gpu_call(prov, prov.speak(request, self.ctx())),
                        lambda r: validate_voice(r, text),
                    )
                v = served.value
                entry = {
                    "path": str(v.path), "duration_s": v.duration_s, "provider": served.provider,
                    "tier": int(served.tier),
                    "words": None if v.words is None else [[w.word, w.start_s, w.end_s] for w in v.words],
                    "language": v.language or language,
                }
                await self.manifest.put("voice", i, entry)
            words = entry.get("words")
            results[i] = VoiceResult(
                path=Path(entry["path"]), duration_s=float(entry["duration_s"]),
                words=None if words is None else tuple(WordTiming(w, s, e) for w, s, e in words),
            )
            self.note("voice", entry["provider"], Tier(entry["tier"]))
            spoken[entry.get("language") or language] += 1
            finished += 1
            self.emit("voice", finished, n, provider=entry["provider"],
                      message=f"scene {i + 1} voice by {entry['provider']}", stage_done=finished == n)

        await _gather_or_cancel(one(i) for i in range(n))
        self.languages["voice"] = spoken.most_common(1)[0][0] if spoken else language
        return results

    async def _speakers(self, language: str) -> list[VoiceMaker]:
        """The voice cascade for `language`: providers that say they cannot speak it are skipped
        (a mispronounced narration is worse than the next provider's). None left: all of them, noted."""
        providers = list(self.p.backends.for_stage(Stage.VOICE, self.order(Stage.VOICE)))
        able = []
        for provider in providers:
            speaks = getattr(provider, "speaks", None)
            try:
                can = speaks is None or await speaks(language)
            except Exception as exc:  # noqa: BLE001 - it cannot say (its child is down): the cascade finds out
                log.warning("job %s: voice provider %s cannot tell whether it speaks %s: %s",
                            self.job.job_id, provider.name, language, scrub(str(exc), self.secrets))
                can = True
            if can:
                able.append(provider)
            else:
                log.info("job %s: voice provider %s cannot speak %s; skipped", self.job.job_id, provider.name, language)
        if not able and providers:
            self.language_notes.append(f"no voice provider speaks {language}: narrated with the first available")
            return providers
        return able

    async def render_stage(
        self, script: Script, visuals: Mapping[int, Path], voices: dict[int, VoiceResult], *,
        feed: SceneFeed | None = None, quiet: Callable[[], bool] = lambda: False, pct: list[int] | None = None,
    ) -> RenderResult:
        """Render the scenes (with `feed`: while their pictures are still being made). `quiet()` true
        holds back render progress events (the image stage's are the ones to show meanwhile);
        `pct[0]` tracks the render's percentage."""
        stills = visuals if self.job.mode != Mode.VIDEO else self.stills
        clips: Mapping[int, Path] = visuals if self.job.mode == Mode.VIDEO else {}
        scenes = tuple(
            RenderScene(
                narration=scene.narration, audio=voices[i].path, audio_s=voices[i].duration_s,
                image=stills.get(i), clip=clips.get(i), words=voices[i].words,
            )
            for i, scene in enumerate(script.scenes)
        )
        v = self.s.video
        music = self.job.music or (Path(v.music) if v.music else None)
        spec = RenderSpec(
            title=script.title, scenes=scenes, out=self.job.out or (self.dir / "video.mp4"),
            width=self.width, height=self.height, fps=v.fps, music=music, music_gain_db=v.music_gain_db,
            max_bytes=self.job.max_bytes or (v.max_bytes or None), title_card_s=v.title_card_s,
            crossfade_s=v.crossfade_s, scene_pad_s=v.scene_pad_s, preset=v.preset, crf=v.crf,
            audio_kbps=v.audio_kbps, timeout_s=v.render_timeout_s, clip_extend=v.clip_extend,
            encoder=v.encoder, feed=feed, language=self.script_language,
        )
        if not quiet():
            self.emit("render", 0, 100, message="rendering")
        last = pct if pct is not None else [0]
        last[0] = -1

        def progress(frac: float) -> None:
            now = int(frac * 100)
            if now != last[0]:
                last[0] = now
                if not quiet():
                    self.emit("render", now, 100, message=f"rendering {now}%")

        result = await self.p._render(spec, progress)
        self.served["render"] = [("local", Tier.OFFLINE)]
        self.languages["render"] = self.script_language
        self.emit("render", 100, 100, provider="local", message="rendered", stage_done=True)
        return result


def _short_why(exc: AllProvidersFailed) -> str:
    """Why every clip maker failed a scene, short enough for a chat message."""
    said = [f"{a.provider} failed: {a.message}" for a in exc.attempts if getattr(a, "message", "")]
    text = "; ".join(dict.fromkeys(said)) or "no clip maker could make it"
    return text if len(text) <= 160 else text[:157] + "..."


async def _gather_or_cancel(coros: Any) -> None:
    """Run item coroutines together; the first failure cancels the rest and is raised as is."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
