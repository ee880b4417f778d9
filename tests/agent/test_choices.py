"""agent.choices: aspect, length and mode defined once, and one wording for a refused value,
whichever door it came through: config.toml, the HTTP API, `reelbot make`, a chat message."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from agent.choices import Aspect, InvalidChoice, Length, Mode, choice_message, parse_choice, parse_literal
from agent.settings import SettingsError, settings_from_mapping
from bot.flow import ParseError, make_request, parse_video_text
from reelbot.cli import main
from tests.support.agent_app import AUTH, run_agent

ROOT = Path(__file__).resolve().parents[2]
BAD = [(Aspect, "aspect", "4:3"), (Length, "length", "epic"), (Mode, "mode", "3d")]


def _expected(name: str, kind: type[Aspect | Length | Mode], value: object) -> str:
    return choice_message(name, value, [member.value for member in kind])


def test_parse_choice_takes_values_and_members() -> None:
    assert parse_choice(Aspect, "16:9", "aspect") is Aspect.WIDE
    assert parse_choice(Length, Length.LONG, "length") is Length.LONG
    assert parse_choice(Mode, "video", "mode") == "video"  # members are their wire strings
    assert Length.SHORT.preset.min_scenes == 4 and Aspect.TALL.size == (1080, 1920)


@pytest.mark.parametrize("value", ["4:3", "", " 9:16", "WIDE", "wide", 916, None, ["9:16"]])
def test_parse_choice_refuses_anything_else_listing_the_values(value: object) -> None:
    with pytest.raises(InvalidChoice) as info:
        parse_choice(Aspect, value, "aspect")
    assert str(info.value) == f"aspect must be one of 9:16, 16:9, 1:1 (got {value!r})"
    assert info.value.allowed == ("9:16", "16:9", "1:1") and info.value.name == "aspect"


def test_a_long_refused_value_is_cut_short_in_the_message() -> None:
    with pytest.raises(InvalidChoice) as info:
        parse_literal(("slow", "fast"), "x" * 5000, "speed")
    assert len(str(info.value)) < 100 and str(info.value).endswith("…)")


def test_sizes_are_defined_once() -> None:
    from agent.engine.render.spec import ASPECTS
    from bot.media import ASPECT_SIZES

    assert ASPECTS == ASPECT_SIZES == {"9:16": (1080, 1920), "16:9": (1920, 1080), "1:1": (1080, 1080)}


def test_the_choices_module_is_light_enough_for_the_bot() -> None:
    code = ("import sys, agent.choices; heavy = {'numpy', 'cv2', 'PIL', 'aiohttp', 'sqlalchemy'} & set(sys.modules); "
            "print(sorted(heavy))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stderr


# ---------------------------------------------------------------------------- the four doors, one wording


@pytest.mark.parametrize("kind, key, value", BAD)
def test_config_refuses_a_bad_choice(kind, key, value) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SettingsError) as info:
        settings_from_mapping({"video": {key: value}})
    assert str(info.value) == _expected(f"video.{key}", kind, value)


async def test_api_refuses_a_bad_choice(tmp_path: Path) -> None:
    async with run_agent(tmp_path) as a:
        for kind, key, value in [*BAD, (Aspect, "aspect", 16)]:
            body = {"request_id": f"r-{key}", "user": {"platform": "discord", "id": "1"}, "topic": "cats",
                    "options": {key: value}}
            resp = await a.client.post("/v1/jobs", json=body, headers=AUTH)
            assert resp.status == 400
            assert (await resp.json())["error"] == {"code": "invalid_input", "field": key,
                                                    "message": _expected(key, kind, value)}
        assert (await a.quota("1"))["balance"] == 100  # nothing reserved


@pytest.mark.parametrize("kind, key, value", BAD)
def test_cli_refuses_a_bad_choice(kind, key, value, capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    code = main(["make", "cats", f"--{key}", value, "--out", str(tmp_path / "v.mp4")])
    assert code == 2
    assert capsys.readouterr().err == f"reelbot: error: {_expected(f'--{key}', kind, value)}\n"


@pytest.mark.parametrize("kind, key, value", BAD)
def test_chat_refuses_a_bad_choice(kind, key, value) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ParseError) as info:  # Telegram: the typed text
        parse_video_text(f"cats in space --{key} {value}")
    assert str(info.value) == _expected(f"--{key}", kind, value)
    with pytest.raises(ParseError) as info:  # Discord: the slash command's options
        make_request("cats in space", {key: value})
    assert str(info.value) == _expected(f"--{key}", kind, value)


def test_chat_shortcuts_come_from_the_choices() -> None:
    for flag, key, member in [("--tall", "aspect", Aspect.TALL), ("--square", "aspect", Aspect.SQUARE),
                              ("--16:9", "aspect", Aspect.WIDE), ("--medium", "length", Length.MEDIUM),
                              ("--video", "mode", Mode.VIDEO), ("--slideshow", "mode", Mode.SLIDESHOW)]:
        assert dict(parse_video_text(f"cats {flag}").options) == {key: member.value}
