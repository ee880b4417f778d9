"""A token of spaces, or with spaces around it, stops `reelbot agent` and `reelbot bot` at start.

Such a token used to start an agent that refused every request (401) with nothing said. The check
is where settings are loaded, so every entry point gets it; the message names the variable and
never shows the value.
"""

from __future__ import annotations

import pytest

from reelbot.cli import main

SECRET = "s3cret-value-123"


@pytest.mark.parametrize("value, needle", [
    ("   ", "only whitespace"),
    ("\t\n", "only whitespace"),
    (f" {SECRET}", "whitespace (spaces or a newline) before or after"),
    (f"{SECRET}\n", "whitespace (spaces or a newline) before or after"),
])
@pytest.mark.parametrize("command", [["agent", "--port", "8765"], ["bot"]])
def test_a_token_with_whitespace_refuses_to_start(command, value, needle, monkeypatch, capsys, tmp_path):
    monkeypatch.chdir(tmp_path)  # no config.toml: the defaults
    monkeypatch.setenv("REELBOT_AGENT_TOKEN", value)
    assert main(command) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "$REELBOT_AGENT_TOKEN" in err and needle in err, err
    assert SECRET not in err


def test_the_bot_tokens_are_checked_the_same_way(monkeypatch, capsys, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("REELBOT_AGENT_TOKEN", raising=False)
    monkeypatch.setenv("TELEGRAM_TOKEN", f"{SECRET} ")
    assert main(["bot"]) == 2
    err = capsys.readouterr().err
    assert "$TELEGRAM_TOKEN" in err and SECRET not in err
