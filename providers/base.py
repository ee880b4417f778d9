"""Stage protocols and the values that cross them.

A provider is one small class with one job per stage it serves (see `providers.registry`). It
declares its capabilities as class attributes, is built from its own frozen config dataclass plus
shared dependencies (`ProviderDeps`), and implements one or more of:

    ScriptWriter.write_script(ScriptRequest, StageContext) -> Script
    ImageMaker.make_image(ImageRequest, StageContext)      -> ImageResult   (one scene)
    ClipMaker.make_clip(ClipRequest, StageContext)         -> ClipResult    (one scene, video mode)
    VoiceMaker.speak(VoiceRequest, StageContext)           -> VoiceResult   (one scene)
    VoiceMaker.voices()                                    -> VoiceCatalog  (names it accepts)

Providers write their output files into `request.out_dir` and raise `providers.errors` types on
failure. They never validate *our* acceptance rules (the cascade does), but they do turn the
backend's own failure shapes into the error tree.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

if TYPE_CHECKING:
    import aiohttp

    from providers.config import ProviderConfig

__all__ = [
    "Tier",
    "Stage",
    "Scene",
    "Script",
    "ScriptRequest",
    "ImageRequest",
    "ImageResult",
    "ClipRequest",
    "ClipResult",
    "VoiceRequest",
    "VoiceResult",
    "VoiceCatalog",
    "WordTiming",
    "StageContext",
    "ProviderDeps",
    "Provider",
    "ScriptWriter",
    "ImageMaker",
    "ClipMaker",
    "VoiceMaker",
    "Clock",
    "STAGE_PROTOCOLS",
]

Clock = Callable[[], float]
"""Monotonic seconds. Injected everywhere a cooldown, timeout or throttle is computed."""


class Tier(enum.IntEnum):
    """Where a provider runs. Lower is preferred; a route never falls *up* to a pricier tier."""

    SELF_HOSTED = 0  # the operator's own GPU box
    CLOUD_PREMIUM = 1  # paid cloud (OpenAI)
    CLOUD_FREE = 2  # free cloud services (Groq, HF, Pollinations, StreamElements)
    OFFLINE = 3  # built in, no network, always succeeds

    @property
    def label(self) -> str:
        return {0: "self-hosted", 1: "cloud premium", 2: "cloud free", 3: "offline"}[self.value]


class Stage(str, enum.Enum):
    """Pipeline stages. Values are the wire names used in events and config."""

    SCRIPT = "script"
    IMAGE = "image"
    CLIP = "clip"
    VOICE = "voice"
    RENDER = "render"


# ---------------------------------------------------------------------------- script


@dataclass(frozen=True)
class Scene:
    narration: str  # what the voice says
    visual: str  # what the picture shows (the image prompt, before the shared style)
    key_phrase: str = ""  # a few words set as typography on offline art; optional elsewhere


@dataclass(frozen=True)
class Script:
    title: str
    scenes: tuple[Scene, ...]
    # the language the words are in, when the writer knows it differs from the one asked for (the
    # offline storyboard's nearest templates); "" = the request's. `note` says why, for provenance.
    language: str = ""
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "scenes": [
                {"narration": s.narration, "visual": s.visual, "key_phrase": s.key_phrase}
                for s in self.scenes
            ],
            **({"language": self.language} if self.language else {}),
            **({"note": self.note} if self.note else {}),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Script:
        return cls(
            title=str(data["title"]),
            scenes=tuple(
                Scene(
                    narration=str(s["narration"]),
                    visual=str(s["visual"]),
                    key_phrase=str(s.get("key_phrase", "")),
                )
                for s in data["scenes"]
            ),
            language=str(data.get("language", "")),
            note=str(data.get("note", "")),
        )


@dataclass(frozen=True)
class ScriptRequest:
    topic: str
    length: str  # "short" | "medium" | "long"
    min_scenes: int
    max_scenes: int
    target_seconds: float  # narration length the script should aim for
    language: str = "en"


# ---------------------------------------------------------------------------- images and clips


@dataclass(frozen=True)
class ImageRequest:
    prompt: str  # the scene's visual description
    style: str  # shared style prompt, the same for every scene of a job
    negative: str
    width: int  # output size the renderer wants; providers may generate smaller (renderer fits)
    height: int
    seed: int  # job seed + scene index: scenes look like one film
    scene_index: int
    scene_count: int
    out_dir: Path
    title: str = ""  # the script's title (offline art uses it)
    key_phrase: str = ""  # offline art sets it as typography
    topic: str = ""
    language: str = "en"  # the script's language: the typography's fonts (the prompt stays English)


@dataclass(frozen=True)
class ImageResult:
    path: Path
    width: int
    height: int


@dataclass(frozen=True)
class ClipRequest:
    prompt: str
    style: str
    negative: str
    width: int
    height: int
    seconds: float
    fps: int
    seed: int
    scene_index: int
    scene_count: int
    out_dir: Path
    image: Path | None = None  # the scene's still, for a maker that animates it (image-to-video)


@dataclass(frozen=True)
class ClipResult:
    path: Path
    seconds: float
    width: int
    height: int


# ---------------------------------------------------------------------------- voice


@dataclass(frozen=True)
class WordTiming:
    word: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class VoiceRequest:
    text: str
    voice: str  # a voice name; each provider maps it or uses its configured default when ""
    scene_index: int
    out_dir: Path
    language: str = "en"


@dataclass(frozen=True)
class VoiceCatalog:
    """The voice names a voice provider accepts in `VoiceRequest.voice`, compared case-insensitively.

    `names` are whole names, lower-cased; `variants` (eSpeak's "+f3") may follow any name after a
    "+". `examples` are a few names to show a person whose choice was refused. A job may pick a
    voice only when a provider of its route's voice cascade offers it (agent.engine.voices)."""

    names: frozenset[str]
    examples: tuple[str, ...] = ()
    variants: frozenset[str] = frozenset()

    @classmethod
    def of(cls, names: Iterable[str], examples: Iterable[str] | None = None) -> VoiceCatalog:
        """A fixed list: every name (blank ones dropped); the examples default to its first few."""
        by_lower: dict[str, str] = {}
        for name in names:
            if name and name.strip():
                by_lower.setdefault(name.strip().lower(), name.strip())
        kept = tuple(by_lower.values())
        shown = kept[:4] if examples is None else tuple(examples)
        return cls(frozenset(n.lower() for n in kept), shown)

    def offers(self, voice: str) -> bool:
        key = voice.strip().lower()
        if not key:
            return False
        if key in self.names:
            return True
        base, plus, variant = key.partition("+")
        return bool(plus) and base in self.names and variant in self.variants


@dataclass(frozen=True)
class VoiceResult:
    path: Path  # a WAV file
    duration_s: float
    words: tuple[WordTiming, ...] | None = None  # None when the provider gives no timings
    language: str = ""  # the language it spoke, when the provider knows; "" = the request's


# ---------------------------------------------------------------------------- context and deps


@dataclass
class StageContext:
    """Per-call context: who the call is for, and how to report progress within the item."""

    job_id: str
    report: Callable[[float, str], None] = field(default=lambda fraction, message: None)
    """report(fraction 0..1 within this item, message): e.g. ComfyUI sampler steps."""
    last_call: bool = False
    """True on the last call a job makes to this provider (Ollama may then unload its model)."""


@dataclass
class ProviderDeps:
    """Shared resources a provider may use. One owner (the pipeline's builder) for each."""

    session: aiohttp.ClientSession | None
    clock: Clock
    data_dir: Path


# ---------------------------------------------------------------------------- protocols


@runtime_checkable
class Provider(Protocol):
    """What every provider has. `name` is its config key; `tier` places it in the cascade;
    `config_class` is the frozen dataclass its `[providers.NAME]` table builds. A class is built as
    `cls(config, deps)`. `providers.contract` checks all of this when a class is registered."""

    name: ClassVar[str]
    tier: ClassVar[Tier]
    stages: ClassVar[frozenset[Stage]]
    config_class: ClassVar[type[ProviderConfig]]

    # Not part of the structural check (isinstance and mypy skip __init__); it types `cls(config, deps)`.
    def __init__(self, config: Any, deps: ProviderDeps) -> None: ...

    def secrets(self) -> tuple[str, ...]:
        """Values to scrub from any error text (API keys, tokens)."""
        ...

    async def probe(self) -> dict[str, Any]:
        """A cheap health check for status. Raises a ProviderError when down."""
        ...


@runtime_checkable
class ScriptWriter(Provider, Protocol):
    async def write_script(self, request: ScriptRequest, ctx: StageContext) -> Script: ...


@runtime_checkable
class ImageMaker(Provider, Protocol):
    async def make_image(self, request: ImageRequest, ctx: StageContext) -> ImageResult: ...


@runtime_checkable
class ClipMaker(Provider, Protocol):
    async def make_clip(self, request: ClipRequest, ctx: StageContext) -> ClipResult: ...


@runtime_checkable
class VoiceMaker(Provider, Protocol):
    async def speak(self, request: VoiceRequest, ctx: StageContext) -> VoiceResult: ...

    async def voices(self) -> VoiceCatalog:
        """The names this provider accepts as `VoiceRequest.voice` (others get its default voice)."""
        ...

    # Optional: `async def speaks(self, language: str) -> bool`. A voice provider that has it and
    # answers False is skipped for a job in that language (agent.engine.pipeline); one without it
    # is assumed to speak every language.

STAGE_PROTOCOLS: Mapping[Stage, type] = MappingProxyType({
    Stage.SCRIPT: ScriptWriter,
    Stage.IMAGE: ImageMaker,
    Stage.CLIP: ClipMaker,
    Stage.VOICE: VoiceMaker,
})
"""The protocol a class declaring each stage must implement (render is local, not a provider's)."""
