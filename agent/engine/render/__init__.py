"""The renderer: stills or clips + narration (+ music) -> an MP4 that fits a size budget.

    result = await render(spec, on_progress=lambda f: ...)

Frames are drawn and encoded on a worker thread, in-process (agent.engine.render.avencode: PyAV's
libx264, or the GPU's NVENC when `video.encoder` allows and it opens); the event loop only polls
progress. On timeout (RenderTimeout) or cancellation the encoder stops at its next frame, every ffmpeg
child (audio and clip decoders) is killed and reaped and the temp files are removed before the
exception propagates. The output appears atomically.

Temp files live in a hidden folder beside the output (`.video-render-*` for `video.mp4`): the worker
removes it as its last step, whatever the outcome (success, failure, abort), so it goes even when
the event loop has stopped waiting. A process killed outright leaves it: `remove_stale_temp_dirs`
sweeps them at the next start. ffmpeg children die with the process (`providers.children`).

The frame and encoding machinery (`agent.engine.render.job`: numpy, OpenCV, Pillow) is imported on a worker
thread by the first render, not with this package: the pipeline and the API import the spec and the
errors from here, and a process that never renders (a status check, a bot) never pays for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from agent.engine.render.errors import (
    BudgetTooSmall,
    ClipDecodeError,
    EncodeError,
    InputError,
    RenderError,
    RenderTimeout,
)
from agent.engine.render.feed import FeedFailed, SceneFeed
from agent.engine.render.ffmpeg import Aborted
from agent.engine.render.spec import ASPECTS, RenderResult, RenderScene, RenderSpec, size_for_aspect

__all__ = [
    "render",
    "RenderSpec",
    "RenderScene",
    "RenderResult",
    "ASPECTS",
    "size_for_aspect",
    "RenderError",
    "InputError",
    "ClipDecodeError",
    "BudgetTooSmall",
    "EncodeError",
    "RenderTimeout",
    "SceneFeed",
    "FeedFailed",
    "TEMP_DIR_GLOB",
    "remove_stale_temp_dirs",
]

TEMP_DIR_GLOB = ".*-render-*"  # the folders `render` makes beside its output

if TYPE_CHECKING:
    from agent.engine.render.job import RenderJob

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 0.1


async def render(spec: RenderSpec, on_progress: Callable[[float], None] | None = None) -> RenderResult:
    """Render `spec` to `spec.out`; raises RenderError subclasses, RenderTimeout after timeout_s."""
    workdir = await asyncio.to_thread(_make_workdir, Path(spec.out))
    job_module = await asyncio.to_thread(importlib.import_module, "agent.engine.render.job")  # once: cached after
    job: RenderJob = job_module.RenderJob(spec, workdir)
    loop = asyncio.get_running_loop()
    done: asyncio.Future[RenderResult] = loop.create_future()

    def work() -> None:
        result: RenderResult | None = None
        error: BaseException | None = None
        try:
            result = job.run()
        except BaseException as exc:  # handed to the event loop, which decides
            error = exc
        # its own temp folder goes before anyone hears the outcome (the output is already moved out)
        shutil.rmtree(workdir, ignore_errors=True)
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is waiting any more
            loop.call_soon_threadsafe(_settle, done, result, error)

    thread = threading.Thread(target=work, name=f"render-{Path(spec.out).name}", daemon=True)
    thread.start()
    deadline: asyncio.Task[None] | None = None
    try:
        async with asyncio.timeout(None if spec.feed else spec.timeout_s) as limit:
            if spec.feed is not None:  # waiting for the scenes is the image stage's time, not the render's
                deadline = asyncio.create_task(_limit_from(spec.feed, limit, spec.timeout_s))
            return await _await_with_progress(done, job, on_progress)
    except TimeoutError as exc:
        await _stop(job, thread, done)
        raise RenderTimeout(f"render took longer than {spec.timeout_s:.0f} s") from exc
    except asyncio.CancelledError:
        await _stop(job, thread, done)
        raise
    finally:
        if deadline is not None:
            deadline.cancel()
        if thread.is_alive():  # past its last statement (it has settled `done`) unless _stop gave up
            await asyncio.shield(asyncio.to_thread(thread.join, 5.0))
        if not thread.is_alive():
            await asyncio.to_thread(shutil.rmtree, workdir, ignore_errors=True)


async def _limit_from(feed: SceneFeed, limit: asyncio.Timeout, timeout_s: float) -> None:
    await feed.complete.wait()
    limit.reschedule(asyncio.get_running_loop().time() + timeout_s)


def _make_workdir(out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{out.stem}-render-", dir=out.parent))


def remove_stale_temp_dirs(folder: Path) -> int:
    """Remove the render temp folders a killed process left under `folder` (at start-up, when no
    render runs); returns how many. Blocking: call it off the event loop."""
    removed = 0
    for stale in folder.rglob(TEMP_DIR_GLOB):
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
            removed += 1
    return removed


async def _await_with_progress(
    done: asyncio.Future[RenderResult], job: RenderJob, on_progress: Callable[[float], None] | None
) -> RenderResult:
    last = -1.0
    while True:
        finished, _ = await asyncio.wait({done}, timeout=PROGRESS_INTERVAL_S)
        if on_progress is not None and job.progress != last and not finished:
            last = job.progress
            on_progress(min(last, 1.0))
        if finished:
            result = done.result()
            if on_progress is not None:
                on_progress(1.0)
            return result


async def _stop(job: RenderJob, thread: threading.Thread, done: asyncio.Future[RenderResult]) -> None:
    """Kill the children, then wait (shielded) for the worker to unwind so temp files can go."""
    done.cancel()  # whatever the worker ends with is moot now
    job.abort()
    await asyncio.shield(asyncio.to_thread(thread.join, 30.0))
    if thread.is_alive():
        log.error("render worker %s did not stop after abort", thread.name)


def _settle(done: asyncio.Future[RenderResult], result: RenderResult | None, exc: BaseException | None) -> None:
    if done.done():
        return
    if exc is not None:
        if isinstance(exc, Aborted):
            exc = RenderError("render aborted")
        elif isinstance(exc, OSError):  # disk full, permissions: still a render failure to callers
            wrapped = RenderError(f"render failed: {exc}")
            wrapped.__cause__ = exc
            exc = wrapped
        done.set_exception(exc)
    else:
        assert result is not None
        done.set_result(result)
