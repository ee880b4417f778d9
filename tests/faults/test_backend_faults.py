"""Backends that hang, drip, reset, stream forever or answer garbage: each is skipped within the
stage's timeout, classified, and the next provider serves; an endless body never costs more memory
than the response limit, and its connection is closed.

Every self-hosted client (Ollama, ComfyUI's output download, Coqui) and one cloud client (OpenAI's
speech, through the shared `CloudHTTP` edge) meets every fault, over real HTTP on 127.0.0.1, inside
the real `Cascade` with an offline fallback behind it.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from agent.engine.cascade import Attempt, Cascade
from agent.engine.health import HealthBoard
from agent.settings import CascadeSettings
from agent.engine.validation import validate_image, validate_script, validate_voice
from providers.base import ImageRequest, ProviderDeps, ScriptRequest, Stage, StageContext, Tier, VoiceRequest
from providers.comfyui import ComfyConfig, ComfyImageMaker
from providers.coqui import CoquiConfig, CoquiVoice
from providers.ollama import OllamaConfig, OllamaScriptWriter
from providers.openai import OpenAIConfig, OpenAIVoice
from tests.faults.backends import Fault, FaultyBackend, serve_app
from tests.fakes import FakeProvider
from tests.providers.fake_servers import FakeComfy

STAGE_TIMEOUT_S = 2.0
SLACK_S = 2.0  # the fallback's own work and the event loop, on a busy 2-core machine
MAX_GROWTH_BYTES = 96 * 1024 * 1024  # an endless body may cost the 32 MiB limit and its copies, no more
TEXT = "The first stars were giants that burned hot and died young."
SCRIPT = ScriptRequest(topic="cats in space", length="short", min_scenes=4, max_scenes=5, target_seconds=25)


@dataclass(frozen=True)
class Backend:
    stage: Stage
    content_type: str
    build: Callable[[str, ProviderDeps], object]
    paths: tuple[str, ...] = ()  # faulted routes; () = every route
    inner: Callable[[], web.Application] | None = None  # a working fake behind the faulted routes


BACKENDS = {
    "ollama": Backend(Stage.SCRIPT, "application/json",
                      lambda url, deps: OllamaScriptWriter(OllamaConfig(url=url), deps)),
    "comfyui-view": Backend(Stage.IMAGE, "image/png",
                            lambda url, deps: ComfyImageMaker(ComfyConfig(url=url, poll_interval_s=0.05), deps),
                            paths=("/view",), inner=lambda: FakeComfy().app()),
    "coqui": Backend(Stage.VOICE, "audio/wav", lambda url, deps: CoquiVoice(CoquiConfig(url=url), deps)),
    "openai-speech": Backend(Stage.VOICE, "audio/mpeg",
                             lambda url, deps: OpenAIVoice(OpenAIConfig(api_key="sk-test-0123456789",
                                                                        base_url=f"{url}/v1"), deps)),
}
EXPECTED = {Fault.HANG: "unavailable", Fault.DRIP: "unavailable", Fault.RESET: "unavailable",
            Fault.GARBAGE: "bad_output", Fault.ENDLESS: "bad_output"}


def _work(stage: Stage, out_dir: Path) -> tuple[Callable[[Any], Awaitable[Any]], Callable[[Any], Awaitable[None]]]:
    ctx = StageContext("fault-job")
    if stage is Stage.SCRIPT:
        return (lambda p: p.write_script(SCRIPT, ctx)), (lambda s: validate_script(s, SCRIPT))
    if stage is Stage.IMAGE:
        request = ImageRequest(prompt="a red fox", style="", negative="", width=1080, height=1920, seed=1,
                               scene_index=0, scene_count=4, out_dir=out_dir)
        return (lambda p: p.make_image(request, ctx)), validate_image
    request = VoiceRequest(text=TEXT, voice="", scene_index=0, out_dir=out_dir, language="en")
    return (lambda p: p.speak(request, ctx)), (lambda v: validate_voice(v, TEXT))


def _memory_kib(field: str) -> int:
    match = re.search(rf"{field}:\s+(\d+) kB", Path("/proc/self/status").read_text())
    assert match, field
    return int(match.group(1))


def _reset_peak_memory() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS (Linux)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("fault", list(Fault), ids=lambda f: f.value)
@pytest.mark.parametrize("name", list(BACKENDS))
async def test_a_faulty_backend_is_skipped_within_the_timeout(name: str, fault: Fault, deps: ProviderDeps,
                                                              tmp_path: Path) -> None:
    backend = BACKENDS[name]
    faulty = FaultyBackend(fault, paths=backend.paths, content_type=backend.content_type)
    attempts: list[Attempt] = []
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    async with serve_app(faulty.app(backend.inner() if backend.inner else None)) as url:
        cascade = Cascade(
            stage=backend.stage, providers=[backend.build(url, deps), FakeProvider("offline", Tier.OFFLINE)],
            health=HealthBoard(CascadeSettings(), time.monotonic), clock=time.monotonic,
            timeout_s=STAGE_TIMEOUT_S, job_id="fault-job", record=attempts.append,
        )
        call, validate = _work(backend.stage, out_dir)
        _reset_peak_memory()
        rss_before = _memory_kib("VmRSS")
        started = time.monotonic()
        served = await asyncio.wait_for(cascade.run("item", call, validate), STAGE_TIMEOUT_S + SLACK_S + 5)
        elapsed = time.monotonic() - started
        growth = (_memory_kib("VmHWM") - rss_before) * 1024
        if fault in (Fault.ENDLESS, Fault.DRIP):  # the client hung up: the server's writes stop
            await asyncio.wait_for(faulty.ended.wait(), 5)

    assert faulty.hits >= 1, "the fault was never reached"
    assert served.provider == "offline", attempts
    assert elapsed < STAGE_TIMEOUT_S + SLACK_S, f"{name} {fault.value}: took {elapsed:.1f}s"
    first = attempts[0]
    assert (first.provider, first.outcome) != ("offline", "ok")
    assert first.outcome == EXPECTED[fault], f"{name} {fault.value}: {first.outcome}: {first.message}"
    if fault is Fault.ENDLESS:
        assert "limit" in first.message, first.message
        assert growth < MAX_GROWTH_BYTES, f"{name}: memory grew {growth / 2**20:.0f} MiB on an endless body"
    leftovers = [p.name for p in out_dir.rglob("*") if p.name.startswith(".")]
    assert leftovers == [], f"temp files left: {leftovers}"
