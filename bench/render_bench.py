"""Render benchmark: the project's renderer vs a naive moviepy baseline vs the x264 floor.

    .venv/bin/python bench/render_bench.py [--duration 45]

One fixed 8-scene 1080x1920 job (stills, WAVs and narration generated here), same codec settings
everywhere (libx264 veryfast CRF 23 + AAC, no size budget), rendered three ways, each in its own
child process so wall time and peak RSS (summed over the child's process tree, ffmpeg included,
polled from /proc) are honest:

  project  agent.engine.render.render()
  naive    moviepy 2: ImageClip + per-frame resize lambda + CrossFadeIn + subtitle ImageClips in a
           CompositeVideoClip, write_videofile(libx264, veryfast, crf 23)
  floor    ffmpeg encoding the project's own frames, dumped beforehand as raw I420 (outside the
           timing): x264's cost on this content

Project and floor run --repeat times, alternated, and the fastest of each counts: on a shared
machine a neighbour's burst can double one wall time. Peak RSS is the worst of the runs.

The last line is `project/floor=X.XX project/naive=X.XX project_peak_rss_mb=N`.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

W, H, FPS, SCENES = 1080, 1920, 30, 8
TITLE_S, PAD_S, CROSSFADE_S = 2.0, 0.35, 0.5
NARRATION = [
    "Every star begins inside a cold, dark cloud of gas and dust drifting between the stars.",
    "Gravity pulls the densest knots together, and the collapsing core grows hot and bright.",
    "When the core reaches ten million degrees, hydrogen fuses into helium and a star is born.",
    "For billions of years it shines steadily, balancing gravity against the heat of fusion.",
    "As the hydrogen runs out, the core shrinks while the outer layers swell into a red giant.",
    "Small stars shed their shells gently, leaving a glowing nebula around a white dwarf.",
    "Massive stars end in a supernova, an explosion that outshines an entire galaxy.",
    "What remains becomes a neutron star or a black hole, and the scattered dust starts anew.",
]


# ----------------------------------------------------------------------------- inputs


def make_still(i: int, path: Path) -> None:
    """A Pillow-drawn 'illustration': gradient sky, soft shapes, fine texture. Mixed sizes."""
    from PIL import Image, ImageDraw, ImageFilter

    size = [(832, 1472), (1024, 1024), (1216, 832), (1080, 1920)][i % 4]
    w, h = size
    rng = np.random.default_rng(i)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    c0, c1 = rng.integers(0, 255, 3), rng.integers(0, 255, 3)
    f = (yy / h * 0.7 + xx / w * 0.3)[..., None]
    base = (c0 * (1 - f) + c1 * f).astype(np.uint8)
    img = Image.fromarray(base)
    draw = ImageDraw.Draw(img)
    for _ in range(60):
        x, y, r = rng.integers(0, w), rng.integers(0, h), rng.integers(10, w // 6)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
    img = img.filter(ImageFilter.GaussianBlur(3))
    texture = rng.normal(0, 9, (h, w, 1)).astype(np.float32)
    arr = np.clip(np.asarray(img).astype(np.float32) + texture, 0, 255).astype(np.uint8)
    Image.fromarray(arr).save(path)


def make_wav(i: int, seconds: float, path: Path, rate: int = 22050) -> None:
    """Speech-like: a voiced buzz with moving formants, chopped into syllables and pauses."""
    rng = np.random.default_rng(100 + i)
    t = np.arange(int(seconds * rate)) / rate
    pitch = 120 + 20 * np.sin(2 * np.pi * 0.7 * t + i)
    phase = 2 * np.pi * np.cumsum(pitch) / rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 12))
    noise = rng.normal(0, 0.3, len(t))
    syllables = np.clip(np.sin(2 * np.pi * 4.0 * t + rng.uniform(0, 6)), 0, None) ** 0.5
    pauses = (np.sin(2 * np.pi * 0.4 * t + i) > -0.7).astype(np.float64)
    audio = 0.25 * (voiced + 0.4 * noise) * syllables * pauses
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())


def scene_seconds(duration_s: float) -> float:
    """Audio per scene so the video (title + scenes with pads) lasts duration_s."""
    return (duration_s - TITLE_S) / SCENES - PAD_S


def make_inputs(work: Path, duration_s: float) -> None:
    for i in range(SCENES):
        make_still(i, work / f"still{i}.png")
        make_wav(i, scene_seconds(duration_s), work / f"voice{i}.wav")


def build_spec(work: Path, duration_s: float, out: Path):  # -> RenderSpec
    from agent.engine.render import RenderScene, RenderSpec

    audio_s = scene_seconds(duration_s)
    scenes = tuple(
        RenderScene(narration=NARRATION[i], audio=work / f"voice{i}.wav", audio_s=audio_s,
                    image=work / f"still{i}.png")
        for i in range(SCENES)
    )
    return RenderSpec(title="The life cycle of a star", scenes=scenes, out=out, width=W, height=H,
                      fps=FPS, title_card_s=TITLE_S, crossfade_s=CROSSFADE_S, scene_pad_s=PAD_S)


# ----------------------------------------------------------------------------- the three ways


def run_project(work: Path, duration_s: float) -> None:
    from agent.engine.render import render

    asyncio.run(render(build_spec(work, duration_s, work / "project.mp4")))


def dump_frames(work: Path, duration_s: float) -> None:
    """Untimed: the project's exact frames as raw I420 (the floor's lossless input)."""
    from agent.engine.render.job import RenderJob

    job = RenderJob(build_spec(work, duration_s, work / "unused.mp4"), work)
    producer = job.producer(job.prepare(), W, H)
    with open(work / "frames.yuv", "wb") as f:
        for frame in producer:
            f.write(memoryview(frame.buf).cast("B"))


def floor_cmd(work: Path) -> list[str]:
    from agent.engine.render.encode import aac_args, x264_args
    from agent.engine.render.ffmpeg import ffmpeg_exe

    return [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error",
            "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{W}x{H}", "-r", str(FPS),
            "-i", str(work / "frames.yuv"), "-i", str(work / "project.mp4"),
            "-map", "0:v:0", "-map", "1:a:0", *aac_args(128), *x264_args("veryfast", 23, None),
            "-movflags", "+faststart", "-y", str(work / "floor.mp4")]


def run_naive(work: Path, duration_s: float) -> None:
    """What a first moviepy version looks like (the per-frame resize lambda is the Ken Burns)."""
    from moviepy import AudioFileClip, CompositeAudioClip, CompositeVideoClip, ImageClip, vfx
    from PIL import Image, ImageDraw, ImageFont

    audio_s = scene_seconds(duration_s)
    scene_s = audio_s + PAD_S
    layers, voices = [], []
    title_bg = Image.new("RGB", (W, H), (20, 24, 40))
    ImageDraw.Draw(title_bg).text((W / 2, H / 2), "The life cycle of a star", anchor="mm",
                                  font=ImageFont.load_default(size=96), fill="white")
    layers.append(ImageClip(np.asarray(title_bg)).with_duration(TITLE_S + CROSSFADE_S))
    font = ImageFont.load_default(size=52)
    for i in range(SCENES):
        start = TITLE_S + i * scene_s
        still = ImageClip(str(work / f"still{i}.png"))
        cover = max(W / still.w, H / still.h)
        still = still.resized(cover).cropped(x_center=still.w * cover / 2, y_center=still.h * cover / 2,
                                             width=W, height=H)
        visible = scene_s + (CROSSFADE_S if i < SCENES - 1 else 0)
        zoom = still.with_duration(visible).resized(lambda t, d=visible: 1.0 + 0.12 * t / d)
        layers.append(zoom.with_start(start).with_position("center")
                      .with_effects([vfx.CrossFadeIn(CROSSFADE_S)]))
        words, lines, line = NARRATION[i].split(), [], ""
        for word in words:
            if len(line) + len(word) + 1 > 42:
                lines.append(line)
                line = word
            else:
                line = f"{line} {word}".strip()
        lines.append(line)
        chunks = [lines[k : k + 2] for k in range(0, len(lines), 2)]
        for k, chunk in enumerate(chunks):
            img = Image.new("RGBA", (W - 160, 160), (0, 0, 0, 0))
            d = ImageDraw.Draw(img)
            d.rounded_rectangle((0, 0, W - 161, 159), 20, fill=(0, 0, 0, 140))
            d.multiline_text(((W - 160) / 2, 80), "\n".join(chunk), font=font, anchor="mm",
                             align="center", fill="white", stroke_width=3, stroke_fill="black")
            piece = audio_s / len(chunks)
            layers.append(ImageClip(np.asarray(img)).with_start(start + k * piece)
                          .with_duration(piece).with_position(("center", int(H * 0.82) - 160)))
        voices.append(AudioFileClip(str(work / f"voice{i}.wav")).with_start(start))
    video = CompositeVideoClip(layers, size=(W, H)).with_duration(duration_s)
    video = video.with_audio(CompositeAudioClip(voices).with_duration(duration_s))
    video.write_videofile(str(work / "naive.mp4"), fps=FPS, codec="libx264", preset="veryfast",
                          ffmpeg_params=["-crf", "23"], audio_codec="aac", audio_bitrate="128k",
                          logger=None)


# ----------------------------------------------------------------------------- measuring


def _tree_rss_bytes(root: int) -> int:
    """Resident bytes of `root` and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            with open(f"/proc/{entry}/statm") as f:
                rss[int(entry)] = int(f.read().split()[1]) * page
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(cmd: list[str], label: str) -> tuple[float, float, float]:
    """(wall s, CPU s, peak tree RSS MB) of one child process. CPU seconds are printed too: they
    hold steady when something else shares the machine, wall seconds do not."""
    cpu0 = _children_cpu_s()
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, _tree_rss_bytes(proc.pid))
        time.sleep(0.05)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{label} failed with exit code {proc.returncode}")
    peak_mb = peak / 2**20
    cpu = _children_cpu_s() - cpu0
    print(f"{label:8s} wall {wall:7.1f} s   cpu {cpu:7.1f} s   peak RSS {peak_mb:6.0f} MB", flush=True)
    return wall, cpu, peak_mb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=45.0, help="video length in seconds")
    parser.add_argument("--child", choices=["project", "naive", "dump"], help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--skip-naive", action="store_true", help="iterate on project vs floor only")
    parser.add_argument("--repeat", type=int, default=2,
                        help="project and floor runs, alternated; the fastest of each counts "
                             "(a shared machine makes single wall times noisy)")
    args = parser.parse_args()
    if not args.child and not args.skip_naive and importlib.util.find_spec("moviepy") is None:
        parser.error("the naive baseline needs moviepy, which is only in the bench extra: "
                     "pip install -e '.[bench]' (or pass --skip-naive)")
    if args.child:
        {"project": run_project, "naive": run_naive, "dump": dump_frames}[args.child](args.work, args.duration)
        return
    with tempfile.TemporaryDirectory(prefix="render-bench-") as tmp:
        work = Path(tmp)
        make_inputs(work, args.duration)
        me = [sys.executable, __file__, "--duration", str(args.duration), "--work", str(work)]
        print(f"job: {SCENES} scenes, {W}x{H} @ {FPS} fps, {args.duration:.0f} s, "
              f"libx264 veryfast crf 23 + aac 128k; {os.cpu_count()} cores", flush=True)
        subprocess.run([*me, "--child", "dump"], check=True)  # untimed: the floor's input
        project, floor = [], []
        for _ in range(max(1, args.repeat)):
            project.append(measure([*me, "--child", "project"], "project"))
            floor.append(measure(floor_cmd(work), "floor"))
        (work / "frames.yuv").unlink()
        project_s, project_cpu, _ = min(project)
        floor_s, floor_cpu, _ = min(floor)
        project_mb = max(mb for _, _, mb in project)
        naive_s = naive_cpu = math.nan
        if not args.skip_naive:
            naive_s, naive_cpu, _ = measure([*me, "--child", "naive"], "naive")
        for name in ("project", "floor", "naive"):
            path = work / f"{name}.mp4"
            if path.exists():
                print(f"{name:8s} output {path.stat().st_size / 2**20:6.2f} MiB")
        print(f"cpu: project/floor={project_cpu / floor_cpu:.2f} project/naive={project_cpu / naive_cpu:.2f}")
        print(f"project/floor={project_s / floor_s:.2f} project/naive={project_s / naive_s:.2f} "
              f"project_peak_rss_mb={project_mb:.0f}")


if __name__ == "__main__":
    main()
