"""Render one narrated video from a topic, right here: no chat, no server.

    reelbot make "the life cycle of a star" [--aspect 9:16|16:9|1:1] [--length short|medium|long]
                 [--mode slideshow|video] [--model ROUTE] [--voice NAME] [--language CODE] [--music FILE]
                 [--max-bytes N]
                 [--out FILE] [--config FILE]

Progress goes to stderr, one line per step (or a live line on a terminal). The summary says how
long each stage took and who served it; the last line on stdout is the video's path.
"""

from __future__ import annotations

import argparse
import dataclasses
import asyncio
import logging
import os
import re
import secrets
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from agent.choices import Aspect, InvalidChoice, Length, Mode, parse_choice
from agent.config import SettingsError
from reelbot.commands.common import fail, load_settings_or_fail
from reelbot.logs import configure_logging
from reelbot.progress import ProgressPrinter

if TYPE_CHECKING:
    from agent.settings import Settings

__all__ = ["add_arguments", "run"]

log = logging.getLogger(__name__)


class UsageError(Exception):
    """Bad command-line input: exit 2 with this one-line message."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("topic", help="what the video is about (1-300 characters)")
    p.add_argument("--aspect", help=", ".join(a.label for a in Aspect) + " (default: config.toml's [video])")
    p.add_argument("--length", help=", ".join(n.label for n in Length))
    p.add_argument("--mode", help=", ".join(m.label for m in Mode))
    p.add_argument("--model", metavar="ROUTE",
                   help="what makes the pictures, as in the chat /video model option: self-hosted (default), "
                        "flux-slideshow, cogvideox, dalle-slideshow, sora, or a route added in config.toml")
    p.add_argument("--voice", help="a voice name for the narration")
    p.add_argument("--language", metavar="CODE",
                   help="the video's language, e.g. en, fr, ja, ar, pt-BR (default: the topic's, "
                        "else config.toml's [video] language)")
    p.add_argument("--music", type=Path, help="background music file, ducked under the voice")
    p.add_argument("--max-bytes", type=int, help="the finished file must fit this many bytes")
    p.add_argument("--out", type=Path, help="where to write the MP4 (default: out/<topic>.mp4)")
    p.add_argument("--config", type=Path, help="config file (default: ./config.toml when present)")
    p.add_argument("--size", help="render at WxH instead of the aspect's full size (quick previews)")
    p.add_argument("--seed", type=int, help="seed for images (default: derived from the topic)")
    p.add_argument("-v", "--verbose", action="store_true", help="log every step")


def _slug(topic: str) -> str:
    """A file name from the topic that keeps the letters of every script: "猫と宇宙 🐱" -> "猫と宇宙"."""
    slug = re.sub(r"[\W_]+", "-", topic.casefold()).strip("-")[:60].strip("-")
    return slug or "video"


def _check_out(out: Path) -> Path:
    """Fail early, and clearly, if the output cannot be written."""
    out = out.expanduser()
    if out.exists() and out.is_dir():
        raise UsageError(f"--out {out} is a directory; give a file name ending in .mp4")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        probe = out.parent / f".reelbot-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise UsageError(f"cannot write --out {out}: {exc.strerror or exc}") from None
    return out


@dataclasses.dataclass(frozen=True)
class _Resolved:
    """The command line checked and completed from config.toml's [video]."""

    topic: str
    aspect: Aspect
    length: Length
    mode: Mode
    out: Path
    seed: int
    size: tuple[int, int] | None
    language: str


def _resolve(args: argparse.Namespace, settings: Settings) -> _Resolved:
    from agent.engine.pipeline import topic_seed
    from agent.engine.validation import InvalidInput, clean_topic

    try:
        topic = clean_topic(args.topic)
    except InvalidInput as exc:
        raise UsageError(str(exc)) from None
    v = settings.video
    try:
        aspect = parse_choice(Aspect, args.aspect or v.aspect, "--aspect")
        length = parse_choice(Length, args.length or v.length, "--length")
        mode = parse_choice(Mode, args.mode or v.mode, "--mode")  # the route may require another (_make)
    except InvalidChoice as exc:
        raise UsageError(str(exc)) from None
    if args.max_bytes is not None and args.max_bytes < 100_000:
        raise UsageError("--max-bytes must be at least 100000 (a video needs room)")
    if args.music is not None and not args.music.is_file():
        raise UsageError(f"--music {args.music}: no such file")
    size: tuple[int, int] | None = None
    if args.size:
        m = re.fullmatch(r"(\d{2,4})x(\d{2,4})", args.size)
        if not m or int(m[1]) % 2 or int(m[2]) % 2 or min(int(m[1]), int(m[2])) < 64:
            raise UsageError(f"--size {args.size!r}: give even WIDTHxHEIGHT, at least 64, e.g. 360x640")
        size = (int(m[1]), int(m[2]))
    language = _language(getattr(args, "language", None), topic, v.language)
    out = _check_out(args.out or Path(v.output_dir) / f"{_slug(topic)}.mp4")
    seed = args.seed if args.seed is not None else topic_seed(topic)
    return _Resolved(topic=topic, aspect=aspect, length=length, mode=mode, out=out, seed=seed, size=size,
                     language=language)


def _language(given: str | None, topic: str, default: str) -> str:
    """--language, else the topic's language when it is clear, else the configured default."""
    from providers.language import detect, normalize

    if given is not None:
        tag = normalize(given)
        if tag is None:
            raise UsageError(f"--language {given[:40]!r}: give a language code such as en, fr, ja or pt-BR")
        return tag
    return detect(topic, default) or default


def run(args: argparse.Namespace) -> int:
    # The engine is imported when the command runs, not when `reelbot --help` builds the parser.
    settings = load_settings_or_fail(args.config)
    try:
        resolved = _resolve(args, settings)
    except (SettingsError, UsageError) as exc:
        return fail(exc)
    configure_logging(logging.INFO if args.verbose else logging.WARNING, settings.secrets())
    try:
        return asyncio.run(_make(args, settings, resolved))
    except KeyboardInterrupt:
        print("reelbot: interrupted", file=sys.stderr)
        return 130


async def _make(args: argparse.Namespace, settings: Settings, r: _Resolved) -> int:
    from agent.engine.cascade import Outcome
    from agent.engine.pipeline import JobSpec
    from agent.engine.routes import job_mode, plan_route
    from agent.engine.runtime import open_runtime
    from agent.engine.render.errors import RenderError
    from agent.engine.validation import InvalidInput
    from agent.engine.voices import check_route_voice
    from providers.errors import AllProvidersFailed, ProviderError
    from providers.scrub import scrub

    def said(exc: BaseException) -> str:  # an error's words may quote a URL with its password
        return scrub(str(exc), settings.secrets())

    job_id = secrets.token_hex(6)
    out = r.out
    workdir = out.parent / f".reelbot-work-{job_id}"
    job = JobSpec(
        job_id=job_id, topic=r.topic, aspect=r.aspect, length=r.length, mode=r.mode, voice=args.voice or "",
        max_bytes=args.max_bytes, music=args.music, seed=r.seed, size=r.size, out=out, language=r.language,
    )
    printer = ProgressPrinter(sys.stderr)  # its header waits until the input is accepted
    started = time.monotonic()
    try:
        async with open_runtime(settings) as rt:
            try:
                plan = plan_route(settings, rt.backends, getattr(args, "model", None))
                # a voice no provider of the route offers never reaches a provider (nor eSpeak)
                await check_route_voice(job.voice, plan, rt.backends)
            except InvalidInput as exc:  # RouteUnavailable too
                printer.close()
                flag = "--voice: " if exc.field == "voice" else ""
                print(f"reelbot: error: {flag}{said(exc)}", file=sys.stderr)
                return 2
            printer = ProgressPrinter(sys.stderr, topic=job.topic)
            # --mode, else the mode the route requires, else [video] mode; its stage orders never climb a tier
            asked = r.mode if args.mode else None
            job = dataclasses.replace(job, route=plan.name, mode=job_mode(settings, plan, asked))
            result = await rt.pipeline.run(job, workdir, printer, orders=plan.orders)
    except AllProvidersFailed as exc:
        printer.close()
        print(f"reelbot: failed: {said(exc)} (work kept in {workdir})", file=sys.stderr)
        return 1
    except RenderError as exc:
        printer.close()
        print(f"reelbot: render failed: {said(exc)} (work kept in {workdir})", file=sys.stderr)
        return 1
    except ProviderError as exc:  # a provider refused its configuration at start-up
        printer.close()
        hint = getattr(exc, "hint", "")
        print(f"reelbot: error: {said(exc)}" + (f" ({scrub(hint, settings.secrets())})" if hint else ""),
              file=sys.stderr)
        return 2
    printer.close()
    await asyncio.to_thread(shutil.rmtree, workdir, ignore_errors=True)
    err = sys.stderr
    print(f"\n🎬 {result.title}", file=err)
    print(f"   {result.duration_s:.1f} s, {result.width}x{result.height}, "
          f"{result.bytes / 1e6:.2f} MB, made in {time.monotonic() - started:.1f} s, language {result.language}",
          file=err)
    for stage, seconds in result.timings_s.items():
        if stage == "render_tail":  # the overlapped order: the render ran beside the pictures
            print(f"           {seconds:5.1f} s of the render came after the last picture", file=err)
            continue
        who = ", ".join(f"{name}" + (f" ×{n}" if n > 1 else "") for name, n in result.provenance.get(stage, {}).items())
        spoken = result.languages.get(stage, result.language)
        print(f"   {stage:<7} {seconds:7.1f} s  {who or 'nobody: no scene got one'}"
              + (f" ({spoken})" if spoken != result.language else ""), file=err)
    if result.scenes:  # who made each scene's picture, clip or still
        print("   scenes  " + ", ".join(f"{i}: {s.kind} by {s.provider or '?'}"
                                        for i, s in enumerate(result.scenes, 1)), file=err)
    if note := result.stills_note():
        print(f"   ⚠ {note}", file=err)
    for note in result.language_notes:
        print(f"   note: {note}", file=err)
    fell_back = [a for a in result.attempts if a.outcome is not Outcome.OK]
    if fell_back:
        print(f"   {len(fell_back)} fallback(s): " + "; ".join(
            f"{a.stage}/{a.item}: {a.provider} {a.outcome}" for a in fell_back[:6]), file=err)
    print(result.video)
    return 0
