"""Assemble the long-lived pieces a process needs to run jobs, with one owner and one teardown.

`open_runtime(settings)` opens the shared HTTP session, builds the providers, the health board and
the pipeline, and closes them on exit. `reelbot make` uses it directly; the agent service wraps it
in a cleanup context.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from agent.engine import render as render_module
from agent.engine.backends import Backends, build_backends
from agent.engine.health import HealthBoard
from agent.engine.pipeline import Pipeline, Renderer
from agent.engine.preflight import log_unusable
from agent.settings import Settings
from providers.base import Clock, ProviderDeps

__all__ = ["Runtime", "open_runtime"]

STARTUP_CHECK_S = 5.0  # the start-up node check never holds a process up longer


@dataclass
class Runtime:
    settings: Settings
    session: aiohttp.ClientSession
    health: HealthBoard
    backends: Backends
    pipeline: Pipeline
    clock: Clock


@contextlib.asynccontextmanager
async def open_runtime(
    settings: Settings,
    *,
    clock: Clock = time.monotonic,
    renderer: Renderer | None = None,
    data_dir: Path | None = None,
) -> AsyncIterator[Runtime]:
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10)
    async with aiohttp.ClientSession(timeout=timeout, raise_for_status=False) as session:
        deps = ProviderDeps(session=session, clock=clock, data_dir=data_dir or Path(settings.agent.data_dir))
        # provider constructors may read files (ComfyUI workflows): off the loop
        backends = await asyncio.to_thread(build_backends, settings, deps)
        # say now which provider cannot serve its stage (a ComfyUI without a workflow's node pack);
        # the answers are kept, so the first job's stages need not ask again
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(STARTUP_CHECK_S):
                await log_unusable(backends.all())
        health = HealthBoard(settings.cascade, clock)
        pipeline = Pipeline(
            settings=settings,
            backends=backends,
            health=health,
            renderer=renderer or render_module.render,
            clock=clock,
            gpu_lock=asyncio.Lock(),
        )
        try:
            yield Runtime(settings, session, health, backends, pipeline, clock)
        finally:
            for provider in backends.all():
                close = getattr(provider, "aclose", None)
                if close is not None:
                    await close()
