"""Typed, frozen settings: `config.toml` read once at start-up, then environment overrides.

Every section is a frozen dataclass with a default for each field, so an empty file is a working
configuration (the offline tier). The loader is strict: an unknown key or a value of the wrong type
is a `SettingsError` that names the key (`video.aspect`, `providers.ollama.model`, ...).

Secrets (API keys, bot tokens, the agent token) come only from the environment: a dataclass lists
them in its `secret_env` class attribute, and the loader refuses them in the file. `env` lists plain
overrides such as the seed's `LOCAL_AI_SERVER`.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from agent.render.spec import ASPECTS
from providers.base import Stage
from providers.config import ProviderConfig
from providers.registry import config_classes

__all__ = [
    "SettingsError",
    "Settings",
    "VideoSettings",
    "CascadeSettings",
    "StageOrders",
    "LengthPreset",
    "LENGTHS",
    "RouteSettings",
    "AgentSettings",
    "QuotaSettings",
    "BotSettings",
    "load_settings",
    "settings_from_mapping",
]


class SettingsError(ValueError):
    """config.toml (or an override) is invalid. The message names the offending key."""


@dataclass(frozen=True)
class LengthPreset:
    min_scenes: int
    max_scenes: int
    target_seconds: float


LENGTHS: Mapping[str, LengthPreset] = types.MappingProxyType(
    {
        "short": LengthPreset(4, 5, 25.0),
        "medium": LengthPreset(6, 8, 45.0),
        "long": LengthPreset(10, 12, 90.0),
    }
)
MODES = ("slideshow", "video")


@dataclass(frozen=True)
class StageOrders:
    """Per stage, the providers to try in order. Unconfigured ones are skipped silently."""

    script: tuple[str, ...] = ("ollama", "openai", "groq", "pollinations", "offline")
    image: tuple[str, ...] = ("comfyui", "openai", "huggingface", "pollinations", "offline")
    clip: tuple[str, ...] = ("comfyui", "openai", "huggingface")
    voice: tuple[str, ...] = ("coqui", "openai", "streamelements", "offline")

    def for_stage(self, stage: Stage) -> tuple[str, ...]:
        return tuple(getattr(self, stage.value))


@dataclass(frozen=True)
class CascadeSettings:
    """How failing providers cool down (see agent.health for the policy)."""

    failures_before_cooldown: int = 2  # a lone first outage does not cool a provider down
    unavailable_cooldown_s: float = 60.0  # doubles per further failure, up to max_cooldown_s
    max_cooldown_s: float = 900.0
    rate_limited_cooldown_s: float = 30.0  # when the backend gave no retry-after
    auth_cooldown_s: float = 3600.0  # 401/403: at once
    payment_cooldown_s: float = 21600.0  # 402 / credits exhausted: at once
    misconfigured_cooldown_s: float = 600.0  # missing model, rejected workflow: at once
    bad_outputs_before_cooldown: int = 3  # bad output is per item; only a run of them cools
    bad_output_cooldown_s: float = 120.0
    script_timeout_s: float = 180.0  # per call, per provider
    image_timeout_s: float = 300.0
    clip_timeout_s: float = 900.0
    voice_timeout_s: float = 90.0

    def timeout_for(self, stage: Stage) -> float:
        return float(getattr(self, f"{stage.value}_timeout_s"))


@dataclass(frozen=True)
class VideoSettings:
    """Defaults for a job, and how the renderer encodes."""

    aspect: str = "9:16"
    length: str = "short"
    mode: str = "slideshow"
    voice: str = ""  # "" = each provider's configured default voice
    language: str = "en"
    max_bytes: int = 0  # 0 = no size budget
    music: str = ""  # a default background music file, "" = none
    style: str = "cinematic still, coherent colour palette, soft volumetric light, highly detailed"
    negative: str = "text, letters, watermark, logo, blurry, lowres, deformed, extra limbs"
    fps: int = 30
    crf: int = 23
    preset: str = "veryfast"
    audio_kbps: int = 128
    title_card_s: float = 2.0
    crossfade_s: float = 0.5
    scene_pad_s: float = 0.35
    music_gain_db: float = -18.0
    image_concurrency: int = 2
    voice_concurrency: int = 2
    render_timeout_s: float = 1800.0
    output_dir: str = "out"


@dataclass(frozen=True)
class RouteSettings:
    """A named choice a user can pick (the seed's model dropdown): stage preferences and a price."""

    label: str = ""
    price: int = 0  # credits
    mode: str = "slideshow"
    script: tuple[str, ...] = ()  # preferred providers per stage; () = the default cascade
    image: tuple[str, ...] = ()
    clip: tuple[str, ...] = ()
    voice: tuple[str, ...] = ()
    enabled: bool = True  # False: kept for its row and price, no provider exists yet


def _default_routes() -> Mapping[str, RouteSettings]:
    """The seed's model picker; keep in step with the [routes.*] tables of config.toml."""
    R = RouteSettings
    return types.MappingProxyType({
        "self-hosted": R(label="Self-hosted (free)"),
        "flux-slideshow": R(label="FLUX stills (Hugging Face, free)", image=("huggingface",)),
        "cogvideox": R(label="CogVideoX clips (Hugging Face, free)", mode="video", clip=("huggingface",)),
        "dalle-slideshow": R(label="DALL-E stills (OpenAI)", price=20, image=("openai",)),
        "sora": R(label="Sora clips (OpenAI)", price=50, mode="video", clip=("openai",)),
        "runway": R(label="Runway", price=60, mode="video", enabled=False),
        "pika": R(label="Pika", price=30, mode="video", enabled=False),
        "luma": R(label="Luma", price=45, mode="video", enabled=False),
    })


@dataclass(frozen=True)
class AgentSettings:
    """The agent service (issue: agent service)."""

    secret_env: ClassVar[Mapping[str, str]] = {"token": "REELBOT_AGENT_TOKEN"}

    host: str = "127.0.0.1"
    port: int = 8765
    token: str = ""  # from REELBOT_AGENT_TOKEN only
    data_dir: str = "data"
    database_url: str = "sqlite+aiosqlite:///data/reelbot.db"
    public_url: str = ""  # where users can download videos, "" = not offered
    workers: int = 2
    queue_size: int = 100
    job_timeout_s: float = 1800.0
    retention_h: float = 48.0
    max_body_bytes: int = 16384
    retention_check_s: float = 600.0  # how often finished jobs' files are checked for expiry
    event_flush_s: float = 0.2  # job events are stored in batches this often (streamed at once)
    busy_retry_after_s: int = 30  # retry_after_s on a full queue, the in-flight limit or a full disk
    min_free_disk_mb: int = 500  # below this free in data_dir no job starts and submits are refused
    max_data_mb: int = 10240  # job files in data_dir at most; the oldest finished go first; 0 = no bound
    events_retention_h: float = 720.0  # stored events of jobs finished this long ago are pruned (not the last)
    sse_keepalive_s: float = 15.0  # comment line on an idle event stream, so proxies keep it open


@dataclass(frozen=True)
class QuotaSettings:
    daily_credits: int = 100
    reset_hour_utc: int = 0
    max_in_flight: int = 2
    admins: tuple[str, ...] = ()  # "platform:user_id", e.g. "discord:1234"


@dataclass(frozen=True)
class BotSettings:
    """The chat front-ends (issue: chat front-ends)."""

    env: ClassVar[Mapping[str, str]] = {"telegram_api_base_url": "TELEGRAM_API_BASE_URL"}
    secret_env: ClassVar[Mapping[str, str]] = {
        "discord_token": "DISCORD_TOKEN",
        "telegram_token": "TELEGRAM_TOKEN",
    }

    agent_url: str = ""  # "" = embed the agent in the bot's process
    discord_token: str = ""
    discord_guild_id: int = 0  # sync commands to this guild for development; 0 = global
    discord_admin_ids: tuple[int, ...] = ()
    telegram_token: str = ""
    telegram_api_base_url: str = ""  # a local Bot API server allows 2000 MB uploads
    telegram_admin_ids: tuple[int, ...] = ()
    state_file: str = "data/bot-deliveries.json"  # active deliveries, resumed after a restart
    edit_interval_s: float = 1.5  # at most one progress edit per message this often
    discord_handoff_s: float = 780.0  # move to a channel message before the 15-min token dies


@dataclass(frozen=True)
class Settings:
    video: VideoSettings = field(default_factory=VideoSettings)
    stages: StageOrders = field(default_factory=StageOrders)
    cascade: CascadeSettings = field(default_factory=CascadeSettings)
    routes: Mapping[str, RouteSettings] = field(default_factory=_default_routes)
    agent: AgentSettings = field(default_factory=AgentSettings)
    quotas: QuotaSettings = field(default_factory=QuotaSettings)
    bot: BotSettings = field(default_factory=BotSettings)
    providers: Mapping[str, ProviderConfig] = field(default_factory=dict)
    source: str = "<defaults>"  # where these settings came from, for messages

    def provider(self, name: str) -> ProviderConfig:
        return self.providers[name]

    def secrets(self) -> tuple[str, ...]:
        """Every secret value in force, for scrubbing logs and error text."""
        found: list[str] = []
        for section in (self.agent, self.bot, *self.providers.values()):
            for name in getattr(section, "secret_env", {}):
                value = getattr(section, name, "")
                if value:
                    found.append(str(value))
        return tuple(found)


# ---------------------------------------------------------------------------- loading


def load_settings(path: Path | str | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read `path` (default: ./config.toml when it exists), apply `env` (default os.environ)."""
    env = os.environ if env is None else env
    data: dict[str, Any] = {}
    source = "<defaults>"
    if path is None and Path("config.toml").is_file():
        path = Path("config.toml")
    if path is not None:
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SettingsError(f"config file not found: {path}") from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{path}: not valid TOML: {exc}") from None
        source = str(path)
    return settings_from_mapping(data, env, source=source)


def settings_from_mapping(
    data: Mapping[str, Any], env: Mapping[str, str] | None = None, *, source: str = "<mapping>"
) -> Settings:
    env = {} if env is None else env
    data = dict(data)
    kwargs: dict[str, Any] = {"source": source}
    sections = {f.name for f in dataclasses.fields(Settings)} - {"source"}
    for key in data:
        if key not in sections:
            raise SettingsError(
                f"unknown section or key {key!r} in {source}; known: {', '.join(sorted(sections))}"
            )
    hints = typing.get_type_hints(Settings)
    for name in ("video", "stages", "cascade", "agent", "quotas", "bot"):
        kwargs[name] = _build(hints[name], data.get(name, {}), name, env)
    kwargs["routes"] = _build_routes(data.get("routes"), env)
    kwargs["providers"] = _build_providers(data.get("providers", {}), env)
    settings = Settings(**kwargs)
    _check(settings)
    return settings


def _build_routes(raw: Any, env: Mapping[str, str]) -> Mapping[str, RouteSettings]:
    if raw is None:
        return _default_routes()
    if not isinstance(raw, Mapping):
        raise SettingsError("routes must be a table of [routes.NAME] tables")
    routes = {
        str(name): _build(RouteSettings, table, f"routes.{name}", env) for name, table in raw.items()
    }
    return types.MappingProxyType(routes)


def _build_providers(raw: Any, env: Mapping[str, str]) -> Mapping[str, ProviderConfig]:
    if not isinstance(raw, Mapping):
        raise SettingsError("providers must be a table of [providers.NAME] tables")
    classes = config_classes()
    for name in raw:
        if name not in classes:
            raise SettingsError(
                f"unknown provider [providers.{name}]; known: {', '.join(sorted(classes))}"
            )
    return types.MappingProxyType(
        {
            name: _build(cls, raw.get(name, {}), f"providers.{name}", env)
            for name, cls in classes.items()
        }
    )


def _build(cls: type, table: Any, where: str, env: Mapping[str, str]) -> Any:
    """Build dataclass `cls` from a TOML table, strictly, then apply env overrides."""
    if not isinstance(table, Mapping):
        raise SettingsError(f"{where} must be a table, got {type(table).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    hints = typing.get_type_hints(cls)
    secret_env: Mapping[str, str] = getattr(cls, "secret_env", {})
    plain_env: Mapping[str, str] = getattr(cls, "env", {})
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in fields:
            raise SettingsError(f"unknown key {where}.{key}")
        if key in secret_env:
            raise SettingsError(
                f"{where}.{key} is a secret: set it in the environment as {secret_env[key]}, "
                "never in a file"
            )
        values[key] = _coerce(hints[key], value, f"{where}.{key}")
    for key, var in {**plain_env, **secret_env}.items():
        if env.get(var):
            values[key] = _coerce(hints[key], env[var], f"{where}.{key} (from ${var})")
    return cls(**values)


def _coerce(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        return _coerce(options[0], value, where)
    if origin is tuple:
        (item_tp, *_rest) = typing.get_args(tp)
        if not isinstance(value, list):
            raise SettingsError(f"{where} must be a list, got {type(value).__name__}")
        return tuple(_coerce(item_tp, v, f"{where}[{i}]") for i, v in enumerate(value))
    if tp is bool:
        if not isinstance(value, bool):
            raise SettingsError(f"{where} must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise SettingsError(f"{where} must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                raise SettingsError(f"{where} must be a number, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SettingsError(f"{where} must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise SettingsError(f"{where} must be a string, got {value!r}")
        return value
    if isinstance(tp, type) and isinstance(value, Mapping) and dataclasses.is_dataclass(tp):
        return _build(tp, value, where, {})
    raise SettingsError(f"{where}: unsupported setting type {tp!r}")


def _check(s: Settings) -> None:
    """Cross-field checks that a type alone cannot express."""
    if s.video.aspect not in ASPECTS:
        raise SettingsError(f"video.aspect must be one of {', '.join(ASPECTS)}, got {s.video.aspect!r}")
    if s.video.length not in LENGTHS:
        raise SettingsError(f"video.length must be one of {', '.join(LENGTHS)}")
    if s.video.mode not in MODES:
        raise SettingsError(f"video.mode must be one of {', '.join(MODES)}")
    if s.video.preset == "ultrafast":
        raise SettingsError("video.preset 'ultrafast' makes files 5-6x larger; use veryfast or slower")
    for name in ("image_concurrency", "voice_concurrency", "fps"):
        if getattr(s.video, name) < 1:
            raise SettingsError(f"video.{name} must be at least 1")
    known = set(s.providers)
    for stage in Stage:
        if stage is Stage.RENDER:
            continue
        for name in s.stages.for_stage(stage):
            if name not in known:
                raise SettingsError(f"stages.{stage.value} names unknown provider {name!r}")
    for rname, route in s.routes.items():
        if route.mode not in MODES:
            raise SettingsError(f"routes.{rname}.mode must be one of {', '.join(MODES)}")
        for stage in (Stage.SCRIPT, Stage.IMAGE, Stage.CLIP, Stage.VOICE):
            for name in getattr(route, stage.value):
                if name not in known:
                    raise SettingsError(f"routes.{rname}.{stage.value} names unknown provider {name!r}")
    if not 0 <= s.quotas.reset_hour_utc <= 23:
        raise SettingsError("quotas.reset_hour_utc must be 0..23")
    for name in ("min_free_disk_mb", "max_data_mb"):
        if getattr(s.agent, name) < 0:
            raise SettingsError(f"agent.{name} must be 0 or more")
    if s.agent.events_retention_h <= 0:
        raise SettingsError("agent.events_retention_h must be more than 0")
