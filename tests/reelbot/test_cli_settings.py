"""Every subcommand that loads settings fails the same way on a bad config: one line, exit 2."""

from __future__ import annotations

import pytest

from reelbot.cli import main


@pytest.mark.parametrize("command", [["agent"], ["bot"], ["make", "a topic"], ["status"]])
def test_a_bad_config_is_one_line_and_exit_2(command, monkeypatch, capsys, tmp_path):
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "bad.toml"
    bad.write_text("[agent\n", encoding="utf-8")
    assert main([*command, "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("reelbot: error: ") and err.count("\n") == 1, err
    assert "bad.toml" in err, err


def test_the_bot_with_a_remote_agent_reads_only_the_front_end_settings(monkeypatch, capsys, tmp_path):
    """A remote bot ignores the engine's sections: a bad [render] value does not stop it at load."""
    monkeypatch.chdir(tmp_path)
    cfg = tmp_path / "c.toml"
    cfg.write_text('[bot]\nagent_url = "http://127.0.0.1:9"\n[video]\nfps = "many"\n', encoding="utf-8")
    code = main(["bot", "--config", str(cfg)])
    err = capsys.readouterr().err
    assert "fps" not in err, err  # failed later (no front-end configured), not on the engine's settings
    assert code == 2 and err.startswith("reelbot: error: ")
