"""The fixed choices of a video — aspect, length, mode — defined once, and the one way to parse them.

Each choice is a `StrEnum` whose values are the strings users type and the wire, the database and
config.toml carry (`Aspect.TALL == "9:16"`), so a member goes into JSON or an ffmpeg argument as it
is. Wherever a choice arrives — config.toml (`agent.settings`), the HTTP API (`agent.service.api`), the
command line (`reelbot make`), a chat message (`bot.flow`) — `parse_choice` turns it into a member or
raises `InvalidChoice`, which words the refusal the same way for all four:

    --aspect must be one of 9:16, 16:9, 1:1 (got '4:3')

Stdlib only, on purpose: the bot imports this module without pulling in the engine.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal, TypeVar

__all__ = [
    "Aspect",
    "Length",
    "LengthPreset",
    "Mode",
    "X264Preset",
    "ClipExtend",
    "Encoder",
    "InvalidChoice",
    "choice_message",
    "parse_choice",
    "parse_literal",
]

C = TypeVar("C", bound=enum.Enum)

MAX_SHOWN_CHARS = 40  # a refused value is echoed back, cut short: it may be a user's whole message


class InvalidChoice(ValueError):
    """`value` is not one of `allowed` for the setting or option `name`. The message says so."""

    def __init__(self, name: str, value: object, allowed: Iterable[str]) -> None:
        self.name = name
        self.value = value
        self.allowed = tuple(allowed)
        super().__init__(choice_message(name, value, self.allowed))


def choice_message(name: str, value: object, allowed: Iterable[str]) -> str:
    """The one wording of a refused choice, e.g. "length must be one of short, medium, long (got 'epic')"."""
    shown = repr(value)
    if len(shown) > MAX_SHOWN_CHARS:
        shown = shown[: MAX_SHOWN_CHARS - 1] + "…"
    return f"{name} must be one of {', '.join(allowed)} (got {shown})"


def parse_choice(kind: type[C], value: object, name: str) -> C:
    """`value` as a member of the enum `kind` (a member or its value); InvalidChoice names `name`."""
    if isinstance(value, kind):
        return value
    if isinstance(value, str):
        try:
            return kind(value)
        except ValueError:
            pass
    raise InvalidChoice(name, value, (str(member.value) for member in kind))


def parse_literal(allowed: Iterable[str], value: object, name: str) -> str:
    """`value` when it is one of `allowed` (the arguments of a `Literal[...]` type), else InvalidChoice."""
    options = tuple(allowed)
    if isinstance(value, str) and value in options:
        return value
    raise InvalidChoice(name, value, options)


# ---------------------------------------------------------------------------- the choices


class Aspect(enum.StrEnum):
    """The frame's shape. The names are the chat shortcuts (--tall, --wide, --square)."""

    TALL = "9:16"  # phones: 1080x1920
    WIDE = "16:9"  # 1920x1080
    SQUARE = "1:1"  # 1080x1080

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) at full quality. Tests and benches may render smaller."""
        return _ASPECT_SIZES[self]

    @property
    def label(self) -> str:
        """How a person sees it in a picker: "9:16 tall (phones)"."""
        return f"{self.value} {self.name.lower()}" + (" (phones)" if self is Aspect.TALL else "")


_ASPECT_SIZES: Mapping[Aspect, tuple[int, int]] = {
    Aspect.TALL: (1080, 1920),
    Aspect.WIDE: (1920, 1080),
    Aspect.SQUARE: (1080, 1080),
}


@dataclass(frozen=True)
class LengthPreset:
    """What a length means to the script writer: how many scenes, about how many seconds."""

    min_scenes: int
    max_scenes: int
    target_seconds: float


class Length(enum.StrEnum):
    """About how long the video is; `preset` says how many scenes that takes."""

    SHORT = "short"  # ~25 s, 4-5 scenes
    MEDIUM = "medium"  # ~45 s, 6-8 scenes
    LONG = "long"  # ~90 s, 10-12 scenes

    @property
    def preset(self) -> LengthPreset:
        return _LENGTH_PRESETS[self]

    @property
    def label(self) -> str:
        """How a person sees it in a picker: "short (~25 s)"."""
        return f"{self.value} (~{self.preset.target_seconds:.0f} s)"


_LENGTH_PRESETS: Mapping[Length, LengthPreset] = {
    Length.SHORT: LengthPreset(4, 5, 25.0),
    Length.MEDIUM: LengthPreset(6, 8, 45.0),
    Length.LONG: LengthPreset(10, 12, 90.0),
}


class Mode(enum.StrEnum):
    """What each scene shows. The names are the chat shortcuts (--slideshow, --video)."""

    SLIDESHOW = "slideshow"  # a still per scene, with Ken Burns motion
    VIDEO = "video"  # a motion clip per scene; a scene whose clip fails becomes a still

    @property
    def label(self) -> str:
        return {Mode.SLIDESHOW: "slideshow (stills with motion)",
                Mode.VIDEO: "video (a motion clip per scene)"}[self]


class Encoder(enum.StrEnum):
    """Which H.264 encoder the renderer uses (config `video.encoder`)."""

    AUTO = "auto"  # the GPU's (NVENC) when it opens, else x264; a job NVENC fails mid-way is redone on x264
    X264 = "x264"  # always the CPU's libx264
    NVENC = "nvenc"  # NVENC asked for; a job it cannot serve still falls back to x264, with a warning


class EventLoop(enum.StrEnum):
    """The event loop the agent's processes run on (config `agent.event_loop`, agent.eventloop)."""

    AUTO = "auto"  # uvloop when it is installed (Linux, macOS: with reelbot), else asyncio's own
    UVLOOP = "uvloop"  # uvloop, or refuse to start
    ASYNCIO = "asyncio"  # asyncio's own loop (what the tests and `--worst-turns` profiling use)


# x264's presets, fastest first. "ultrafast" is a valid preset but refused by the renderer and the
# settings check: it makes files 5-6x larger, so it is kept here only to refuse it by name.
X264Preset = Literal[
    "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo"
]

# How a motion clip shorter than its scene's narration is extended (agent.engine.render.clips).
ClipExtend = Literal["push-in", "ping-pong"]
