"""The light settings core (agent.config): what a bot talking to a remote agent loads.

It reads [agent] and [bot] as strictly as the whole loader does, refuses unknown sections, and leaves
the engine's tables to the engine; `reelbot bot` checks the whole file when it embeds the agent.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from agent.config import (
    SECTIONS,
    FrontEndSettings,
    SettingsError,
    front_end_settings_from_mapping,
    load_front_end_settings,
)
from agent.settings import Settings, load_settings, settings_from_mapping
from reelbot.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_sections_are_the_whole_settings_fields() -> None:
    assert SECTIONS == {f.name for f in dataclasses.fields(Settings)} - {"source"}


def test_the_shipped_config_loads_for_the_bot_as_for_the_agent() -> None:
    env = {"DISCORD_TOKEN": "dtok-1234", "REELBOT_AGENT_TOKEN": "atok-5678"}
    light = load_front_end_settings(ROOT / "config.toml", env=env)
    whole = load_settings(ROOT / "config.toml", env=env)
    assert isinstance(light, FrontEndSettings)
    assert (light.agent, light.bot) == (whole.agent, whole.bot)
    assert set(light.secrets()) == {"dtok-1234", "atok-5678"} <= set(whole.secrets())


@pytest.mark.parametrize(("data", "needle"), [
    ({"bot": {"agent_ulr": "http://x"}}, "unknown key bot.agent_ulr"),
    ({"agent": {"port": "eighty"}}, "agent.port must be an integer"),
    ({"bot": {"discord_token": "x"}}, "set it in the environment as DISCORD_TOKEN"),
    ({"botz": {}}, "unknown section or key 'botz'"),
])
def test_the_bot_sections_are_checked_strictly(data: dict, needle: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(SettingsError, match=needle):
        front_end_settings_from_mapping(data)


def test_the_engine_tables_are_left_to_the_engine() -> None:
    data = {"bot": {"agent_url": "http://agent:8765"}, "providers": {"ollama": {"modle": "x"}},
            "video": {"aspect": "4:3"}}
    assert front_end_settings_from_mapping(data).bot.agent_url == "http://agent:8765"
    with pytest.raises(SettingsError, match="video.aspect"):
        settings_from_mapping(data)
    with pytest.raises(SettingsError, match="providers.ollama.modle"):
        settings_from_mapping({**data, "video": {}})


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_reelbot_bot_with_a_remote_agent_reads_only_its_tables(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A typo in a provider table is the remote agent's business: the bot gets as far as its tokens."""
    cfg = _config(tmp_path, '[bot]\nagent_url = "http://127.0.0.1:9"\n[providers.ollama]\nmodle = "x"\n')
    assert main(["bot", "--config", str(cfg)]) == 2
    assert "no front-end configured" in capsys.readouterr().err


def test_reelbot_bot_embedding_the_agent_checks_the_whole_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = _config(tmp_path, '[providers.ollama]\nmodle = "x"\n')
    assert main(["bot", "--config", str(cfg)]) == 2
    assert "unknown key providers.ollama.modle" in capsys.readouterr().err


async def test_embedding_needs_the_whole_configuration() -> None:
    from bot.main import embedded_agent

    with pytest.raises(TypeError, match="whole configuration"):
        async with embedded_agent(FrontEndSettings()):
            pass
