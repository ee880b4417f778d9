"""Typed, frozen settings: `config.toml` read once at start-up, then environment overrides.

The whole configuration, as the engine and the agent service read it: the sections of the light core
(`agent.config`: [video], [agent], [quotas], [bot], read by every process and checked by the same
strict loader) plus the stage orders, the cascade policy, the routes and every provider's
`[providers.NAME]` table. Every section is a frozen dataclass with a default for each field, so an
empty file is a working configuration (the offline tier). The loader is strict: an unknown key or
a value of the wrong type is a `SettingsError` that names the key (`video.aspect`,
`providers.ollama.model`, ...); `agent.config` says how choices, secrets and overrides are read.

Routes are defined once, here (`_default_routes`). A `[routes.NAME]` table in config.toml adds a
route, or changes only the fields it names of a built-in one (`enabled = false` turns one off).

The provider registry (and with it every provider module) is imported only when the provider
tables are built, so importing this module costs no more than its dataclasses.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from agent.choices import Length, LengthPreset, Mode
from agent.config import (
    AgentSettings,
    BotSettings,
    QuotaSettings,
    SettingsError,
    VideoSettings,
    build_section,
    check_sections,
    read_config,
    section_secrets,
    section_values,
)
from providers.base import Stage
from providers.config import ProviderConfig

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
    "ClusterSettings",
    "load_settings",
    "settings_from_mapping",
]


# Kept for callers that look a length up by its string; the presets live on `agent.choices.Length`.
LENGTHS: Mapping[str, LengthPreset] = types.MappingProxyType({length: length.preset for length in Length})


@dataclass(frozen=True)
class StageOrders:
    """Per stage, the providers to try in order. Unconfigured ones are skipped silently."""

    script: tuple[str, ...] = ("ollama", "openai_compatible", "openai", "groq", "pollinations", "offline")
    image: tuple[str, ...] = ("comfyui", "openai", "huggingface", "pollinations", "offline")
    clip: tuple[str, ...] = ("comfyui", "runway", "luma", "fal", "huggingface")  # premium clips before free ones
    voice: tuple[str, ...] = ("coqui", "elevenlabs", "openai", "streamelements", "offline")

    def for_stage(self, stage: Stage) -> tuple[str, ...]:
        return tuple(getattr(self, stage.value))


@dataclass(frozen=True)
class CascadeSettings:
    """How failing providers cool down (see agent.engine.health for the policy)."""

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
class RouteSettings:
    """A named choice a user can pick (the seed's model dropdown): stage preferences and a price."""

    label: str = ""
    price: int = 0  # credits
    mode: Mode | None = None  # the mode this route requires; None: the job's (--mode / option, else [video] mode)
    script: tuple[str, ...] = ()  # preferred providers per stage; () = the default cascade
    image: tuple[str, ...] = ()
    clip: tuple[str, ...] = ()
    voice: tuple[str, ...] = ()
    enabled: bool = True  # False: listed with its price, never offered
    retired: str = ""  # why this route can never be served (its service shut down): listed, never offered


def _default_routes() -> Mapping[str, RouteSettings]:
    """The seed's model picker: the one definition of the built-in routes. config.toml documents
    them and may add routes or change fields of these (`_build_routes`); it does not repeat them."""
    R = RouteSettings
    return types.MappingProxyType({
        "self-hosted": R(label="Self-hosted (free)"),
        "flux-slideshow": R(label="FLUX stills (Hugging Face, free)", mode=Mode.SLIDESHOW, image=("huggingface",)),
        "cogvideox": R(label="CogVideoX clips (Hugging Face, free)", mode=Mode.VIDEO, clip=("huggingface",)),
        # not priced by the seed; premium stills cost less than premium clips (the name is the seed's)
        "dalle-slideshow": R(label="GPT Image stills (OpenAI)", price=20, mode=Mode.SLIDESHOW,
                             image=("openai",)),
        # the seed's row and price; no call is ever made for it
        "sora": R(label="Sora clips (OpenAI)", price=50, mode=Mode.VIDEO,
                  retired="OpenAI shut the Sora API down on 2026-09-24"),
        "runway": R(label="Runway clips", price=60, mode=Mode.VIDEO, clip=("runway",)),
        "pika": R(label="Pika clips (fal.ai)", price=30, mode=Mode.VIDEO, clip=("fal",)),
        "luma": R(label="Luma Dream Machine clips", price=45, mode=Mode.VIDEO, clip=("luma",)),
    })


@dataclass(frozen=True)
class ClusterSettings:
    """The distributed mode (README "Scaling out"): front doors and GPU-box workers sharing PostgreSQL.

    Off (the default), `reelbot agent` runs every job itself, as it always has. On, `reelbot agent`
    is a front door (API, ledger, events, videos; it runs no job) and `reelbot worker` runs jobs."""

    secret_env: ClassVar[Mapping[str, str]] = {"worker_token": "REELBOT_WORKER_TOKEN"}

    enabled: bool = False  # needs agent.database_url on PostgreSQL
    worker_token: str = ""  # from REELBOT_WORKER_TOKEN only: workers send it, front doors check it
    worker_name: str = ""  # a worker's name in the status ("" = the host name)
    front_door_url: str = ""  # a worker uploads finished videos here (the front doors' URL, or one of them)
    advertise_url: str = ""  # a front door: how the other front doors reach it ("" = http://host:port)
    heartbeat_s: float = 5.0  # how often a worker writes its heartbeat and re-plans its routes
    lost_after_s: float = 20.0  # a worker silent this long is shown lost and its job moves to another
    shutdown_grace_s: float = 60.0  # SIGTERM: a running job may finish this long, then is handed back
    max_attempts: int = 3  # a job is run at most this often (a worker dying mid-job counts one)
    event_poll_s: float = 0.25  # a front door's event streams look for new stored events this often
    unserved_after_s: float = 300.0  # a queued job whose model no live worker serves this long fails, refunded


@dataclass(frozen=True)
class Settings:
    video: VideoSettings = field(default_factory=VideoSettings)
    stages: StageOrders = field(default_factory=StageOrders)
    cascade: CascadeSettings = field(default_factory=CascadeSettings)
    routes: Mapping[str, RouteSettings] = field(default_factory=_default_routes)
    agent: AgentSettings = field(default_factory=AgentSettings)
    quotas: QuotaSettings = field(default_factory=QuotaSettings)
    bot: BotSettings = field(default_factory=BotSettings)
    cluster: ClusterSettings = field(default_factory=ClusterSettings)
    providers: Mapping[str, ProviderConfig] = field(default_factory=dict)
    source: str = "<defaults>"  # where these settings came from, for messages

    def provider(self, name: str) -> ProviderConfig:
        return self.providers[name]

    def secrets(self) -> tuple[str, ...]:
        """Every secret value in force, for scrubbing logs and error text."""
        return self._secrets

    @functools.cached_property
    def _secrets(self) -> tuple[str, ...]:
        # once per Settings (they are frozen): every job asks, and walking every section's fields
        # for URL passwords cost ~0.7 ms of the event loop's time per job
        return section_secrets(self.agent, self.bot, self.cluster, *self.providers.values())


# ---------------------------------------------------------------------------- loading


def load_settings(path: Path | str | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read `path` (default: ./config.toml when it exists), apply `env` (default os.environ)."""
    data, source = read_config(path)
    return settings_from_mapping(data, os.environ if env is None else env, source=source)


def settings_from_mapping(
    data: Mapping[str, Any], env: Mapping[str, str] | None = None, *, source: str = "<mapping>"
) -> Settings:
    env = {} if env is None else env
    check_sections(data, source)
    kwargs: dict[str, Any] = {"source": source}
    hints = typing.get_type_hints(Settings)
    for name in ("video", "stages", "cascade", "agent", "quotas", "bot", "cluster"):
        kwargs[name] = build_section(hints[name], data.get(name, {}), name, env)
    kwargs["routes"] = _build_routes(data.get("routes"), env)
    kwargs["providers"] = _build_providers(data.get("providers", {}), env)
    settings = Settings(**kwargs)
    _check(settings)
    return settings


def _build_routes(raw: Any, env: Mapping[str, str]) -> Mapping[str, RouteSettings]:
    """The built-in routes, merged per route and per field with the file's [routes.NAME] tables:
    a new name adds a route (unset fields take RouteSettings' defaults), a built-in name changes
    only the fields its table sets."""
    if raw is None:
        return _default_routes()
    if not isinstance(raw, Mapping):
        raise SettingsError("routes must be a table of [routes.NAME] tables")
    routes = dict(_default_routes())
    for name, table in raw.items():
        where = f"routes.{name}"
        changes = section_values(RouteSettings, table, where, env)
        base = routes.get(str(name))
        routes[str(name)] = RouteSettings(**changes) if base is None else dataclasses.replace(base, **changes)
    return types.MappingProxyType(routes)


def _build_providers(raw: Any, env: Mapping[str, str]) -> Mapping[str, ProviderConfig]:
    from providers.registry import config_classes  # every provider module: only for the whole config

    if not isinstance(raw, Mapping):
        raise SettingsError("providers must be a table of [providers.NAME] tables")
    classes = config_classes()
    for name in raw:
        if name not in classes:
            raise SettingsError(
                f"unknown provider [providers.{name}]; known: {', '.join(sorted(classes))}"
            )
    return types.MappingProxyType(
        {  # `with_env`: a config that names its own key variable (openai_compatible) reads it here
            name: build_section(cls, raw.get(name, {}), f"providers.{name}", env).with_env(env)
            for name, cls in classes.items()
        }
    )


def _check(s: Settings) -> None:
    """Cross-field checks that a type alone cannot express."""
    if s.video.preset == "ultrafast":
        raise SettingsError("video.preset 'ultrafast' makes files 5-6x larger; use veryfast or slower")
    for name in ("image_concurrency", "voice_concurrency", "fps"):
        if getattr(s.video, name) < 1:
            raise SettingsError(f"video.{name} must be at least 1")
    if not 0.05 <= s.video.size_scale <= 1.0:
        raise SettingsError(f"video.size_scale must be between 0.05 and 1, got {s.video.size_scale}")
    known = set(s.providers)
    for stage in Stage:
        if stage is Stage.RENDER:
            continue
        for name in s.stages.for_stage(stage):
            if name not in known:
                raise SettingsError(f"stages.{stage.value} names unknown provider {name!r}")
    for rname, route in s.routes.items():
        for stage in (Stage.SCRIPT, Stage.IMAGE, Stage.CLIP, Stage.VOICE):
            for name in getattr(route, stage.value):
                if name not in known:
                    raise SettingsError(f"routes.{rname}.{stage.value} names unknown provider {name!r}")
    if s.agent.max_recoveries < 0:
        raise SettingsError("agent.max_recoveries must be 0 or more")
    if not 0 <= s.quotas.reset_hour_utc <= 23:
        raise SettingsError("quotas.reset_hour_utc must be 0..23")
    for name in ("min_free_disk_mb", "max_data_mb"):
        if getattr(s.agent, name) < 0:
            raise SettingsError(f"agent.{name} must be 0 or more")
    c = s.cluster
    if c.enabled and not s.agent.database_url.startswith("postgresql"):
        raise SettingsError("cluster.enabled needs agent.database_url on PostgreSQL (postgresql+asyncpg://...)")
    if c.heartbeat_s <= 0 or c.lost_after_s <= c.heartbeat_s:
        raise SettingsError("cluster.lost_after_s must be more than cluster.heartbeat_s, both above 0")
    if c.max_attempts < 1:
        raise SettingsError("cluster.max_attempts must be at least 1")
    if s.agent.events_retention_h <= 0:
        raise SettingsError("agent.events_retention_h must be more than 0")
