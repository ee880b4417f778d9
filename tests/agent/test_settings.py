from __future__ import annotations

import dataclasses
import enum
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

import pytest

from agent.choices import Aspect, Length, Mode
from agent.config import build_section as _build
from agent.settings import (
    RouteSettings,
    Settings,
    SettingsError,
    _default_routes,
    load_settings,
    settings_from_mapping,
)


def test_empty_config_is_a_working_offline_configuration():
    s = settings_from_mapping({})
    assert isinstance(s, Settings)
    assert s.video.aspect == "9:16"
    assert s.stages.script[-1] == "offline"
    assert s.providers["offline"].configured()


def test_the_shipped_config_toml_loads():
    root = Path(__file__).resolve().parents[2]
    s = load_settings(root / "config.toml", env={})
    assert s.source.endswith("config.toml")
    assert s.agent.max_recoveries == 2 and s.providers["offline"].synth_timeout_s == 30.0  # type: ignore[attr-defined]
    defaults = settings_from_mapping({}).agent
    for key in ("min_free_disk_mb", "max_data_mb", "events_retention_h"):  # the file shows the defaults
        assert getattr(s.agent, key) == getattr(defaults, key)


@pytest.mark.parametrize(
    "data, needle",
    [
        ({"video": {"aspekt": "9:16"}}, "video.aspekt"),
        ({"vidoe": {}}, "vidoe"),
        ({"video": {"fps": "thirty"}}, "video.fps"),
        ({"video": {"fps": 1.5}}, "video.fps"),
        ({"video": {"crossfade_s": True}}, "video.crossfade_s"),
        ({"stages": {"script": "offline"}}, "stages.script"),
        ({"stages": {"script": ["offline", "nosuch"]}}, "nosuch"),
        ({"providers": {"nosuch": {}}}, "providers.nosuch"),
        ({"providers": {"offline": {"colour": 1}}}, "providers.offline.colour"),
        ({"video": {"aspect": "4:3"}}, "video.aspect"),
        ({"video": {"preset": "ultrafast"}}, "ultrafast"),
        ({"quotas": {"reset_hour_utc": 24}}, "reset_hour_utc"),
        ({"agent": {"max_recoveries": -1}}, "agent.max_recoveries"),
        ({"agent": {"max_recoveries": 1.5}}, "agent.max_recoveries"),
        ({"routes": {"x": {"price": "free"}}}, "routes.x.price"),
        ({"agent": {"min_free_disk_mb": -1}}, "agent.min_free_disk_mb"),
        ({"agent": {"max_data_mb": "lots"}}, "agent.max_data_mb"),
        ({"agent": {"max_data_mb": -5}}, "agent.max_data_mb"),
        ({"agent": {"events_retention_h": 0}}, "agent.events_retention_h"),
        ({"cluster": {"enabled": True}}, "PostgreSQL"),  # the distributed mode shares PostgreSQL
        ({"cluster": {"heartbeat_s": 30, "lost_after_s": 20}}, "cluster.lost_after_s"),
        ({"cluster": {"worker_token": "abc"}}, "REELBOT_WORKER_TOKEN"),
    ],
)
def test_bad_config_names_the_key(data, needle):
    with pytest.raises(SettingsError) as info:
        settings_from_mapping(data)
    assert needle in str(info.value)


def test_secrets_only_from_environment():
    with pytest.raises(SettingsError, match="REELBOT_AGENT_TOKEN"):
        settings_from_mapping({"agent": {"token": "abc"}})
    s = settings_from_mapping({}, {"REELBOT_AGENT_TOKEN": "s3cret-token", "DISCORD_TOKEN": "dtok-123"})
    assert s.agent.token == "s3cret-token"
    assert s.bot.discord_token == "dtok-123"
    assert "s3cret-token" in s.secrets()


def test_the_distributed_mode_takes_its_secrets_from_the_environment():
    env = {"REELBOT_WORKER_TOKEN": "worker-s3cret", "REELBOT_DATABASE_URL": "postgresql+asyncpg://r:pw-s3cret@db/r"}
    s = settings_from_mapping({"cluster": {"enabled": True}}, env)
    assert s.cluster.enabled and s.cluster.worker_token == "worker-s3cret"
    assert s.agent.database_url == env["REELBOT_DATABASE_URL"]
    assert {"worker-s3cret", "pw-s3cret"} <= set(s.secrets())


def test_env_overrides_file(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[bot]\ntelegram_api_base_url = "http://file"\n')
    s = load_settings(cfg, env={"TELEGRAM_API_BASE_URL": "http://env"})
    assert s.bot.telegram_api_base_url == "http://env"


def test_settings_are_frozen():
    s = settings_from_mapping({})
    with pytest.raises(AttributeError):
        s.video.aspect = "1:1"  # type: ignore[misc]


def test_invalid_toml_and_missing_file_are_clear(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[video\naspect=")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(bad, env={})
    with pytest.raises(SettingsError, match="not found"):
        load_settings(tmp_path / "missing.toml", env={})


# ---------------------------------------------------------------------------- choices: Literal and Enum fields


class Colour(enum.StrEnum):
    RED = "red"
    BLUE = "blue"


@dataclass(frozen=True)
class _Section:
    env: ClassVar[Mapping[str, str]] = {"colour": "TEST_COLOUR"}

    colour: Colour = Colour.RED
    speed: Literal["slow", "fast"] = "slow"


def test_loader_reads_enum_and_literal_fields() -> None:
    built = _build(_Section, {"colour": "blue", "speed": "fast"}, "section", {})
    assert built.colour is Colour.BLUE and built.speed == "fast"
    assert _build(_Section, {}, "section", {"TEST_COLOUR": "blue"}).colour is Colour.BLUE


@pytest.mark.parametrize(
    "table, env, message",
    [
        ({"colour": "green"}, {}, "section.colour must be one of red, blue (got 'green')"),
        ({"colour": 1}, {}, "section.colour must be one of red, blue (got 1)"),
        ({"speed": "warp"}, {}, "section.speed must be one of slow, fast (got 'warp')"),
        ({"speed": ["fast"]}, {}, "section.speed must be one of slow, fast (got ['fast'])"),
        ({}, {"TEST_COLOUR": "green"}, "section.colour (from $TEST_COLOUR) must be one of red, blue (got 'green')"),
    ],
)
def test_loader_refuses_a_value_outside_the_choices(table, env, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SettingsError) as info:
        _build(_Section, table, "section", env)
    assert str(info.value) == message


@pytest.mark.parametrize(
    "data, message",
    [
        ({"video": {"mode": "film"}}, "video.mode must be one of slideshow, video (got 'film')"),
        ({"video": {"preset": "quick"}}, "video.preset must be one of ultrafast, superfast, veryfast, faster, fast, "
                                         "medium, slow, slower, veryslow, placebo (got 'quick')"),
        ({"providers": {"ollama": {"share_gpu": "sometimes"}}},
         "providers.ollama.share_gpu must be one of auto, always, never (got 'sometimes')"),
        ({"providers": {"comfyui": {"share_gpu": True}}},
         "providers.comfyui.share_gpu must be one of auto, always, never (got True)"),
        ({"routes": {"mine": {"mode": "3d"}}}, "routes.mine.mode must be one of slideshow, video (got '3d')"),
    ],
)
def test_fixed_choice_settings_refuse_other_values(data, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SettingsError) as info:
        settings_from_mapping(data)
    assert str(info.value) == message


def test_choice_settings_are_enum_members() -> None:
    s = settings_from_mapping({"video": {"aspect": "16:9", "length": "long", "mode": "video"},
                               "providers": {"ollama": {"share_gpu": "never"}}})
    assert (s.video.aspect, s.video.length, s.video.mode) == (Aspect.WIDE, Length.LONG, Mode.VIDEO)
    assert s.video.aspect is Aspect.WIDE and s.providers["ollama"].share_gpu == "never"
    with pytest.raises(SettingsError, match="makes files 5-6x larger"):  # valid x264, refused on purpose
        settings_from_mapping({"video": {"preset": "ultrafast"}})


# ---------------------------------------------------------------------------- routes: defaults once, merged


def test_a_route_table_adds_a_route_and_keeps_the_built_in_ones() -> None:
    s = settings_from_mapping({"routes": {"house": {"label": "House style", "price": 5, "image": ["comfyui"]}}})
    assert list(s.routes) == [*_default_routes(), "house"]
    assert s.routes["house"] == RouteSettings(label="House style", price=5, image=("comfyui",))
    assert s.routes["sora"] == _default_routes()["sora"]


def test_a_route_table_changes_only_the_fields_it_sets() -> None:
    s = settings_from_mapping({"routes": {"runway": {"price": 40}, "dalle-slideshow": {"enabled": False}}})
    default = _default_routes()
    assert s.routes["runway"] == dataclasses.replace(default["runway"], price=40)
    assert s.routes["runway"].clip == ("runway",) and s.routes["runway"].mode is Mode.VIDEO
    assert s.routes["dalle-slideshow"] == dataclasses.replace(default["dalle-slideshow"], enabled=False)
    assert list(s.routes) == list(default)


def test_enabled_false_turns_a_built_in_route_off() -> None:
    from agent.engine.backends import Backends
    from agent.engine.routes import RouteUnavailable, available_routes, plan_route, route_status
    from providers.base import Stage, Tier
    from tests.fakes import FakeProvider

    openai = FakeProvider("openai", Tier.CLOUD_PREMIUM)
    openai.stages = frozenset({Stage.IMAGE, Stage.CLIP})  # type: ignore[misc]
    backends = Backends([openai, FakeProvider("offline", Tier.OFFLINE)], {})
    on = settings_from_mapping({})
    off = settings_from_mapping({"routes": {"dalle-slideshow": {"enabled": False}}})
    assert "dalle-slideshow" in available_routes(on, backends)
    assert "dalle-slideshow" not in available_routes(off, backends)
    with pytest.raises(RouteUnavailable, match="model not available here 'dalle-slideshow'"):
        plan_route(off, backends, "dalle-slideshow")
    row = next(r for r in route_status(off, backends) if r["route"] == "dalle-slideshow")
    assert row["why"] == "turned off (enabled = false)" and row["price"] == 20


@pytest.mark.parametrize(
    "routes, needle",
    [
        ({"sora": {"prise": 40}}, "unknown key routes.sora.prise"),
        ({"mine": {"colour": "red"}}, "unknown key routes.mine.colour"),
        ({"sora": {"price": "free"}}, "routes.sora.price must be an integer"),
        ({"sora": {"clip": ["nosuch"]}}, "routes.sora.clip names unknown provider 'nosuch'"),
        ({"sora": 5}, "routes.sora must be a table"),
        ("sora", "routes must be a table"),
    ],
)
def test_route_tables_stay_strict(routes, needle) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SettingsError) as info:
        settings_from_mapping({"routes": routes})
    assert needle in str(info.value)


def test_the_shipped_config_documents_the_built_in_routes_without_repeating_them() -> None:
    text = (Path(__file__).resolve().parents[2] / "config.toml").read_text(encoding="utf-8")
    assert "routes" not in tomllib.loads(text)  # the defaults live in code only
    for name, route in _default_routes().items():
        line = re.search(rf"^#   {re.escape(name)}\s+(.*)$", text, re.MULTILINE)
        assert line, f"config.toml does not list the built-in route {name}"
        price = "free" if route.price == 0 else f"{route.price} credits"
        assert line[1].startswith(price), (name, line[1])
        assert ("turned off" in line[1]) is (not route.enabled), (name, line[1])


def test_secrets_with_surrounding_whitespace_are_refused():
    for value in ("  ", " tok-12345", "tok-12345\n"):
        with pytest.raises(SettingsError, match=r"\$REELBOT_AGENT_TOKEN") as info:
            settings_from_mapping({}, {"REELBOT_AGENT_TOKEN": value})
        assert "tok-12345" not in str(info.value)
    with pytest.raises(SettingsError, match=r"\$HF_TOKEN"):
        settings_from_mapping({}, {"HF_TOKEN": "hf_abc "})
    assert settings_from_mapping({}, {"REELBOT_AGENT_TOKEN": ""}).agent.token == ""  # empty is unset
