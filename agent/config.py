"""The light core of the settings: config.toml read and checked strictly, without the engine.

Every process reads `config.toml`, but not every process runs the engine: a chat bot that talks to a
remote agent needs its own `[bot]` table and the `[agent]` one (the token, the data directory, the
public URL), not the providers, Pillow, numpy or SQLAlchemy. This module is stdlib-only (plus the
choice enums of `agent.choices`, stdlib-only too), so `bot/` may import it:

    read_config(path)                       config.toml as a dict, and where it came from
    build_section(cls, table, where, env)   one frozen dataclass from one TOML table, strictly
    load_front_end_settings(path)           the bot's view: [agent] and [bot], checked strictly

The whole configuration (`agent.settings.Settings`: these sections plus the stage orders, cascade
policy, routes and every `[providers.NAME]` table) is built by `agent.settings`, which the engine
imports; it uses the same strict builder, so the rules below hold everywhere.

The loader is strict: an unknown key or a value of the wrong type is a `SettingsError` that names
the key (`video.aspect`, `providers.ollama.model`, ...). A field typed with a choice enum
(`agent.choices`) or a `Literal[...]` accepts only those values, and the error lists them. Secrets
(API keys, bot tokens, the agent token) come only from the environment: a dataclass lists them in
its `secret_env` class attribute, and the loader refuses them in the file. `env` lists plain
overrides such as the seed's `LOCAL_AI_SERVER`.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

from agent.choices import (
    Aspect,
    ClipExtend,
    Encoder,
    EventLoop,
    InvalidChoice,
    Length,
    Mode,
    X264Preset,
    parse_choice,
    parse_literal,
)

__all__ = [
    "SettingsError",
    "SECTIONS",
    "VideoSettings",
    "AgentSettings",
    "QuotaSettings",
    "BotSettings",
    "FrontEndView",
    "FrontEndSettings",
    "read_config",
    "check_sections",
    "build_section",
    "section_values",
    "section_secrets",
    "load_front_end_settings",
    "front_end_settings_from_mapping",
]

# The top-level tables of config.toml. `agent.settings.Settings` has one field per name (a test
# keeps the two in step), so a typo'd section fails in every process, not only in the agent.
SECTIONS: frozenset[str] = frozenset({"video", "stages", "cascade", "routes", "agent", "quotas", "bot", "providers",
                                      "cluster"})


class SettingsError(ValueError):
    """config.toml (or an override) is invalid. The message names the offending key."""


@dataclass(frozen=True)
class VideoSettings:
    """Defaults for a job, and how the renderer encodes."""

    aspect: Aspect = Aspect.TALL
    length: Length = Length.SHORT
    mode: Mode = Mode.SLIDESHOW
    voice: str = ""  # "" = each provider's configured default voice
    language: str = "en"
    max_bytes: int = 0  # 0 = no size budget
    music: str = ""  # a default background music file, "" = none
    style: str = "cinematic still, coherent colour palette, soft volumetric light, highly detailed"
    negative: str = "text, letters, watermark, logo, blurry, lowres, deformed, extra limbs"
    fps: int = 30
    crf: int = 23
    preset: X264Preset = "veryfast"  # "ultrafast" is refused in agent.settings._check
    encoder: Encoder = Encoder.AUTO  # auto: the GPU's NVENC when it opens, else x264
    overlap: bool = True  # voice first, then the renderer encodes each scene as soon as its image exists
    audio_kbps: int = 128
    title_card_s: float = 2.0
    crossfade_s: float = 0.5
    scene_pad_s: float = 0.35
    clip_extend: ClipExtend = "push-in"  # a clip shorter than its narration: hold + slow push-in, or ping-pong
    music_gain_db: float = -18.0
    image_concurrency: int = 2
    voice_concurrency: int = 2
    render_timeout_s: float = 1800.0
    output_dir: str = "out"
    size_scale: float = 1.0  # the agent renders at this fraction of the aspect's size (previews, tests)


@dataclass(frozen=True)
class AgentSettings:
    """The agent service (issue: agent service)."""

    secret_env: ClassVar[Mapping[str, str]] = {
        "token": "REELBOT_AGENT_TOKEN",
        "console_token": "REELBOT_CONSOLE_TOKEN",
        "metrics_token": "REELBOT_METRICS_TOKEN",
    }
    # a PostgreSQL URL carries its password: it may come from the environment instead of the file
    env: ClassVar[Mapping[str, str]] = {"database_url": "REELBOT_DATABASE_URL"}

    host: str = "127.0.0.1"
    port: int = 8765
    token: str = ""  # from REELBOT_AGENT_TOKEN only
    console_token: str = ""  # REELBOT_CONSOLE_TOKEN: the operator console's sign-in; "" = no /console
    metrics_token: str = ""  # REELBOT_METRICS_TOKEN: bearer for /metrics; "" = loopback clients only
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
    review_ttl_s: float = 1800.0  # a script waiting for review this long is cancelled without charge
    max_recoveries: int = 2  # an interrupted job is resumed at most this often; then failed (quarantined)
    event_loop: EventLoop = EventLoop.AUTO  # auto: uvloop when installed, else asyncio's (agent.eventloop)


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
    review_chats: tuple[int, ...] = ()  # Telegram chats, Discord servers or channels: scripts wait for review


class FrontEndView(Protocol):
    """What the chat front-ends read: both `FrontEndSettings` and the whole `Settings` have it."""

    @property
    def agent(self) -> AgentSettings: ...

    @property
    def bot(self) -> BotSettings: ...

    def secrets(self) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class FrontEndSettings:
    """The bot process's settings when the agent runs elsewhere (`bot.agent_url` set): [agent] and
    [bot], checked strictly. The other sections are the agent's to check; their names still are."""

    agent: AgentSettings = field(default_factory=AgentSettings)
    bot: BotSettings = field(default_factory=BotSettings)
    source: str = "<defaults>"  # where these settings came from, for messages

    def secrets(self) -> tuple[str, ...]:
        return section_secrets(self.agent, self.bot)


# ---------------------------------------------------------------------------- loading


def read_config(path: Path | str | None = None) -> tuple[dict[str, Any], str]:
    """config.toml's tables and where they came from (default: ./config.toml when it exists, else
    nothing: the defaults)."""
    if path is None and Path("config.toml").is_file():
        path = Path("config.toml")
    if path is None:
        return {}, "<defaults>"
    path = Path(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8")), str(path)
    except FileNotFoundError:
        raise SettingsError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: not valid TOML: {exc}") from None


def check_sections(data: Mapping[str, Any], source: str) -> None:
    """Refuse a top-level key that is not one of `SECTIONS`."""
    for key in data:
        if key not in SECTIONS:
            raise SettingsError(
                f"unknown section or key {key!r} in {source}; known: {', '.join(sorted(SECTIONS))}"
            )


def load_front_end_settings(path: Path | str | None = None, env: Mapping[str, str] | None = None) -> FrontEndSettings:
    """Read `path` for a bot that talks to a remote agent; apply `env` (default os.environ)."""
    data, source = read_config(path)
    return front_end_settings_from_mapping(data, os.environ if env is None else env, source=source)


def front_end_settings_from_mapping(
    data: Mapping[str, Any], env: Mapping[str, str] | None = None, *, source: str = "<mapping>"
) -> FrontEndSettings:
    env = {} if env is None else env
    check_sections(data, source)
    return FrontEndSettings(
        agent=build_section(AgentSettings, data.get("agent", {}), "agent", env),
        bot=build_section(BotSettings, data.get("bot", {}), "bot", env),
        source=source,
    )


def section_secrets(*sections: object) -> tuple[str, ...]:
    """Every secret value set in `sections`: the fields their `secret_env` names, and the passwords
    (and the Basic credentials made from them) of URLs such as `database_url` or `agent_url`."""
    # stdlib-only, imported when secrets are first asked for, so loading settings stays light
    from providers.config import config_secrets

    found: list[str] = []
    for section in sections:
        found.extend(config_secrets(section))
    return tuple(dict.fromkeys(found))


def build_section(cls: type, table: Any, where: str, env: Mapping[str, str]) -> Any:
    """Build dataclass `cls` from a TOML table, strictly, then apply env overrides."""
    return cls(**section_values(cls, table, where, env))


def section_values(cls: type, table: Any, where: str, env: Mapping[str, str]) -> dict[str, Any]:
    """The fields a TOML table (and the environment) set for dataclass `cls`, checked and coerced."""
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
            if key in secret_env:
                _check_secret(var, env[var])
            values[key] = _coerce(hints[key], env[var], f"{where}.{key} (from ${var})")
    return values


def _check_secret(var: str, value: str) -> None:
    """A token of spaces, or with spaces or a newline around it (a paste, an env file), would be used
    as is: an agent that refuses every request, or a bot refused by its platform, with no clue why.
    Refused at load time, naming the variable and never showing the value."""
    if not value.strip():
        raise SettingsError(f"${var} is set but holds only whitespace; set the real value or unset it")
    if value != value.strip():
        raise SettingsError(f"${var} has whitespace (spaces or a newline) before or after it; remove it")


def _coerce(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        allowed = typing.get_args(tp)
        if not all(isinstance(a, str) for a in allowed):
            raise SettingsError(f"{where}: unsupported setting type {tp!r} (Literal of strings only)")
        try:
            return parse_literal(allowed, value, where)
        except InvalidChoice as exc:
            raise SettingsError(str(exc)) from None
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return parse_choice(tp, value, where)
        except InvalidChoice as exc:
            raise SettingsError(str(exc)) from None
    if origin in (types.UnionType, typing.Union):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        return _coerce(options[0], value, where)
    if origin is dict:  # a table passed through as is (Ollama's `options`): scalar values only
        if not isinstance(value, Mapping) or not all(
                isinstance(v, str | int | float | bool) for v in value.values()):
            raise SettingsError(f"{where} must be a table of strings, numbers or booleans")
        return {str(k): v for k, v in value.items()}
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
        return build_section(tp, value, where, {})
    raise SettingsError(f"{where}: unsupported setting type {tp!r}")
