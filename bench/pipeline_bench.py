"""Pipeline benchmark: one job's wall time in the old sequential order vs the overlapped one.

    .venv/bin/python bench/pipeline_bench.py [--scenes 8] [--image-s 5] [--voice-s 0.5] [--script-s 3]

One 8-scene 1080x1920 job through the real pipeline and the real renderer, with fake providers of
fixed latency that use no CPU (they sleep, then copy a file made beforehand): script 3 s, voice 0.5 s
per scene, image 5 s per scene, one GPU call at a time as on one GPU box (the pipeline's GPU lock).

  sequential  video.overlap = false: script, every image, every voice, then the render
  overlapped  video.overlap = true: script, voice, then the images while the renderer encodes each
              scene as soon as its picture exists
  ideal       script + voice + all images (measured in the overlapped run) + the render of what comes
              after the last image arrives (the sequential run's render time, scaled to the frames
              from the last scene's start to the end): no order can beat it

Each order runs --repeat times, alternated, and the fastest counts. The last line is
`overlapped/ideal=X.XX overlapped/sequential=X.XX`.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import shutil
import struct
import sys
import tempfile
import time
import wave
from pathlib import Path
from typing import Any, ClassVar

from PIL import Image, ImageDraw, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.choices import Length  # noqa: E402
from agent.engine.backends import Backends  # noqa: E402
from agent.engine.health import HealthBoard  # noqa: E402
from agent.engine.pipeline import JobResult, JobSpec, Pipeline  # noqa: E402
from agent.engine.render import render  # noqa: E402
from agent.engine.render.timeline import build_timeline  # noqa: E402
from agent.settings import settings_from_mapping  # noqa: E402
from providers.base import (  # noqa: E402
    ImageRequest,
    ImageResult,
    Scene,
    Script,
    ScriptRequest,
    Stage,
    StageContext,
    Tier,
    VoiceCatalog,
    VoiceRequest,
    VoiceResult,
)
from providers.config import ProviderConfig  # noqa: E402

W, H = 1080, 1920
NARRATION_S = 3.0  # each scene's spoken length
NARRATION = ("The story of this scene unfolds slowly while the narrator explains what we are seeing now.")


def make_still(i: int, path: Path) -> None:
    """An illustration-like still: gradient, soft shapes, texture (what x264 sees from a real one)."""
    img = Image.new("RGB", (832, 1472))
    draw = ImageDraw.Draw(img)
    for y in range(1472):
        draw.line([(0, y), (832, y)], fill=(20 + (y * 3 + i * 40) % 120, 30 + i * 20 % 100, 90 + y % 80))
    for k in range(14):
        x, y = (k * 97 + i * 53) % 832, (k * 211 + i * 71) % 1472
        draw.ellipse([x - 90, y - 90, x + 90, y + 90], fill=(200, 120 + k * 9 % 100, 60 + i * 20 % 150))
    img.filter(ImageFilter.GaussianBlur(2)).save(path)


def make_wav(seconds: float, path: Path, rate: int = 22050) -> None:
    frames = b"".join(struct.pack("<h", int(6000 * math.sin(2 * math.pi * (180 + 40 * math.sin(n / 900)) * n / rate)))
                      for n in range(int(seconds * rate)))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames)


class FixedConfig(ProviderConfig):
    pass


class FixedLatency:
    """Every stage served after a fixed sleep (no CPU), from files made beforehand. GPU-heavy, so the
    pipeline runs its calls one at a time, as on one GPU."""

    name: ClassVar[str] = "fixed"
    tier: ClassVar[Tier] = Tier.SELF_HOSTED
    stages: ClassVar[frozenset[Stage]] = frozenset({Stage.SCRIPT, Stage.IMAGE, Stage.VOICE})
    config_class: ClassVar[type] = FixedConfig
    gpu_heavy: ClassVar[bool] = True

    def __init__(self, assets: Path, scenes: int, script_s: float, image_s: float, voice_s: float) -> None:
        self.assets, self.scenes = assets, scenes
        self.script_s, self.image_s, self.voice_s = script_s, image_s, voice_s

    def secrets(self) -> tuple[str, ...]:
        return ()

    async def probe(self) -> dict[str, Any]:
        return {}

    async def write_script(self, request: ScriptRequest, ctx: StageContext) -> Script:
        await asyncio.sleep(self.script_s)
        return Script(title="A benchmark of stages", scenes=tuple(
            Scene(NARRATION, f"visual {i}", f"key {i}") for i in range(self.scenes)))

    async def make_image(self, request: ImageRequest, ctx: StageContext) -> ImageResult:
        await asyncio.sleep(self.image_s)
        path = request.out_dir / f"img_{request.scene_index}.png"
        await asyncio.to_thread(shutil.copyfile, self.assets / f"still_{request.scene_index % 4}.png", path)
        return ImageResult(path, 832, 1472)

    async def voices(self) -> VoiceCatalog:
        return VoiceCatalog.of(())

    async def speak(self, request: VoiceRequest, ctx: StageContext) -> VoiceResult:
        await asyncio.sleep(self.voice_s)
        path = request.out_dir / f"voice_{request.scene_index}.wav"
        await asyncio.to_thread(shutil.copyfile, self.assets / "voice.wav", path)
        return VoiceResult(path, NARRATION_S, None)


async def run_job(args: argparse.Namespace, assets: Path, work: Path, overlap: bool) -> tuple[float, JobResult]:
    settings = settings_from_mapping({"video": {"overlap": overlap, "image_concurrency": 1, "encoder": "x264"}})
    provider = FixedLatency(assets, args.scenes, args.script_s, args.image_s, args.voice_s)
    orders = {Stage.SCRIPT: ("fixed",), Stage.IMAGE: ("fixed",), Stage.VOICE: ("fixed",)}
    pipeline = Pipeline(settings=settings, backends=Backends([provider], orders),
                        health=HealthBoard(settings.cascade, time.monotonic), renderer=render)
    job = JobSpec(job_id=f"bench-{'o' if overlap else 's'}", topic="a benchmark of stages",
                  length=Length.MEDIUM, size=(W, H), seed=1)
    started = time.perf_counter()
    result = await pipeline.run(job, work)
    return time.perf_counter() - started, result


def tail_fraction(settings_video: Any, scenes: int) -> float:
    """The share of the video's frames from the last scene's start (it is first needed there) to the end."""
    v = settings_video
    timeline = build_timeline(v.title_card_s, [NARRATION_S + v.scene_pad_s] * scenes, v.crossfade_s, v.fps)
    last = timeline.segments[-1]
    return (timeline.duration_s - last.start_s) / timeline.duration_s


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenes", type=int, default=8)
    parser.add_argument("--script-s", type=float, default=3.0)
    parser.add_argument("--voice-s", type=float, default=0.5)
    parser.add_argument("--image-s", type=float, default=5.0)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each order, alternated; the fastest counts")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pipeline-bench-") as tmp:
        root = Path(tmp)
        assets = root / "assets"
        assets.mkdir()
        for i in range(4):
            make_still(i, assets / f"still_{i}.png")
        make_wav(NARRATION_S, assets / "voice.wav")
        runs: dict[bool, list[tuple[float, JobResult]]] = {False: [], True: []}
        for r in range(args.repeat):
            for overlap in (False, True):
                work = root / f"run-{r}-{int(overlap)}"
                wall, result = await run_job(args, assets, work, overlap)
                runs[overlap].append((wall, result))
                t = result.timings_s
                print(f"{'overlapped' if overlap else 'sequential':10}  wall {wall:6.1f} s   "
                      + "  ".join(f"{k} {v:.1f}" for k, v in t.items()), flush=True)
                shutil.rmtree(work, ignore_errors=True)
        seq_wall, seq = min(runs[False], key=lambda x: x[0])
        ovl_wall, ovl = min(runs[True], key=lambda x: x[0])
        video = settings_from_mapping({}).video
        render_after_last_image = seq.timings_s["render"] * tail_fraction(video, args.scenes)
        t = ovl.timings_s
        ideal = t["script"] + t["voice"] + t["image"] + render_after_last_image
        print(f"sequential {seq_wall:.1f} s (render alone {seq.timings_s['render']:.1f} s), overlapped "
              f"{ovl_wall:.1f} s, ideal {ideal:.1f} s (script {t['script']:.1f} + voice {t['voice']:.1f} + "
              f"images {t['image']:.1f} + render after the last image {render_after_last_image:.1f})")
        print(f"overlapped/ideal={ovl_wall / ideal:.2f} overlapped/sequential={ovl_wall / seq_wall:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
