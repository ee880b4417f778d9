"""Fake providers for cascade and pipeline tests: scripted outcomes, recorded history.

`enqueue()` adds what the next calls do (a value, an exception, or a coroutine function); when the
queue is empty the provider succeeds with a real, valid output so validation passes.
"""

from __future__ import annotations

import asyncio
import math
import struct
import wave
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from PIL import Image, ImageDraw

from agent.engine.render.spec import RenderResult, RenderSpec
from providers.base import (
    ClipRequest,
    ClipResult,
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
from providers.config import ProviderConfig
from tests.support.files import write_file


@dataclass(frozen=True)
class FakeConfig(ProviderConfig):
    pass


def write_image(path: Path, width: int = 320, height: int = 568, hue: int = 0) -> Path:
    img = Image.new("RGB", (width, height), (20 + hue % 200, 40, 90))
    draw = ImageDraw.Draw(img)
    for k in range(0, width, 16):
        draw.line([(k, 0), (width - k, height)], fill=(200, 120 + k % 100, 60), width=3)
    img.save(path, "PNG")
    return path


def write_wav(path: Path, seconds: float = 1.5, rate: int = 16000, silent: bool = False) -> Path:
    frames = bytearray()
    for n in range(int(seconds * rate)):
        value = 0 if silent else int(8000 * math.sin(2 * math.pi * 220 * n / rate))
        frames += struct.pack("<h", value)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(frames))
    return path


class FakeProvider:
    name: ClassVar[str] = "fake"
    tier: ClassVar[Tier] = Tier.SELF_HOSTED
    stages: ClassVar[frozenset[Stage]] = frozenset({Stage.SCRIPT, Stage.IMAGE, Stage.CLIP, Stage.VOICE})
    config_class: ClassVar[type] = FakeConfig
    gpu_heavy: ClassVar[bool] = False

    def __init__(self, name: str = "fake", tier: Tier = Tier.SELF_HOSTED, gpu_heavy: bool = False) -> None:
        self.name = name  # type: ignore[misc]
        self.tier = tier  # type: ignore[misc]
        self.gpu_heavy = gpu_heavy  # type: ignore[misc]
        self.queue: deque[Any] = deque()
        self.history: list[tuple[str, Any]] = []
        self.scene_count = 3
        self.voice_names: tuple[str, ...] = ("fake-voice", "other-voice")  # what voices() offers

    def enqueue(self, *outcomes: Any) -> FakeProvider:
        self.queue.extend(outcomes)
        return self

    def secrets(self) -> tuple[str, ...]:
        return ()

    async def probe(self) -> dict[str, Any]:
        return {}

    async def _next(self, default: Callable[[], Any]) -> Any:
        # the default outputs are files: written off the loop, as a real provider does
        if not self.queue:
            return await asyncio.to_thread(default)
        outcome = self.queue.popleft()
        if outcome is None:
            return await asyncio.to_thread(default)
        if isinstance(outcome, BaseException):
            raise outcome
        if callable(outcome):
            result = outcome()
            if asyncio.iscoroutine(result):
                result = await result
            return await asyncio.to_thread(default) if result is None else result
        return outcome

    async def write_script(self, request: ScriptRequest, ctx: StageContext) -> Script:
        self.history.append(("script", request))
        n = max(request.min_scenes, min(self.scene_count, request.max_scenes))
        return await self._next(lambda: Script(
            title=f"About {request.topic}",
            scenes=tuple(Scene(f"Narration {i} about {request.topic} here.", f"visual {i}", f"key {i}") for i in range(n)),
        ))

    async def make_image(self, request: ImageRequest, ctx: StageContext) -> ImageResult:
        self.history.append(("image", request))
        path = request.out_dir / f"{self.name}_{request.scene_index}.png"
        return await self._next(lambda: ImageResult(write_image(path, hue=request.scene_index * 40), 320, 568))

    async def make_clip(self, request: ClipRequest, ctx: StageContext) -> ClipResult:
        self.history.append(("clip", request))
        path = request.out_dir / f"{self.name}_{request.scene_index}.mp4"

        def default() -> ClipResult:
            path.write_bytes(b"\x00" * 4096)
            return ClipResult(path, request.seconds, request.width, request.height)

        return await self._next(default)

    async def voices(self) -> VoiceCatalog:
        return VoiceCatalog.of(self.voice_names)

    async def speak(self, request: VoiceRequest, ctx: StageContext) -> VoiceResult:
        self.history.append(("voice", request))
        path = request.out_dir / f"{self.name}_{request.scene_index}.wav"
        return await self._next(lambda: VoiceResult(write_wav(path), 1.5, None))


class FakeRenderer:
    """Stands in for agent.engine.render.render: writes a small file, records the spec."""

    def __init__(self) -> None:
        self.specs: list[RenderSpec] = []

    async def __call__(self, spec: RenderSpec, on_progress: Callable[[float], None] | None = None) -> RenderResult:
        if spec.feed is not None:  # the overlapped order: the real renderer waits for each scene's picture
            await spec.feed.complete.wait()
            spec = spec.settled()
        self.specs.append(spec)
        for f in (0.25, 0.5, 1.0):
            if on_progress:
                on_progress(f)
            await asyncio.sleep(0)
        await asyncio.to_thread(write_file, spec.out, b"\x00" * 2048)
        duration = spec.title_card_s + sum(s.audio_s + spec.scene_pad_s for s in spec.scenes)
        return RenderResult(spec.out, 2048, duration, spec.width, spec.height, None, False)
