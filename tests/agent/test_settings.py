from pathlib import Path

import pytest

from agent.settings import Settings, SettingsError, load_settings, settings_from_mapping


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
        ({"routes": {"x": {"price": "free"}}}, "routes.x.price"),
        ({"agent": {"min_free_disk_mb": -1}}, "agent.min_free_disk_mb"),
        ({"agent": {"max_data_mb": "lots"}}, "agent.max_data_mb"),
        ({"agent": {"max_data_mb": -5}}, "agent.max_data_mb"),
        ({"agent": {"events_retention_h": 0}}, "agent.events_retention_h"),
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
