"""The CLI never prints a password from a backend URL: `reelbot status` (text and JSON) and the
warnings and errors of `reelbot make`, against a backend that echoes the credentials back."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest

from reelbot.cli import main
from tests.providers.fake_servers import EchoAuth, serve

PASSWORD = "hunter2pass"
BASIC = base64.b64encode(f"admin:{PASSWORD}".encode()).decode()


def _assert_clean(text: str) -> None:
    assert "hunter2" not in text and BASIC not in text, text


async def test_status_shows_the_url_without_user_info_and_no_echoed_secret(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # no config.toml: the environment configures Ollama
    async with serve(EchoAuth()) as base:
        monkeypatch.setenv("LOCAL_AI_SERVER", base.replace("http://", f"http://admin:{PASSWORD}@"))
        await asyncio.to_thread(main, ["status", "--json"])
        as_json = capsys.readouterr().out
        await asyncio.to_thread(main, ["status"])
        as_text = capsys.readouterr().out
    row = next(b for b in json.loads(as_json)["backends"] if b["name"] == "ollama")
    assert row["url"] == base and "refused for user admin with password ***" in row["problem"]
    _assert_clean(as_json)
    assert f"at {base}\n" in as_text and "problem: Authorization: Basic *** refused" in as_text
    _assert_clean(as_text)


async def test_make_prints_no_password_when_the_backend_echoes_it(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.toml").write_text('[stages]\nscript = ["ollama"]\n')  # fails fast: no fallback
    async with serve(EchoAuth(status=500)) as base:
        monkeypatch.setenv("LOCAL_AI_SERVER", base.replace("http://", f"http://admin:{PASSWORD}@"))
        code = await asyncio.to_thread(main, ["make", "cats in space", "--out", str(tmp_path / "v.mp4")])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "failed on ollama" in err and "with password ***" in err, err  # the cascade's warning
    _assert_clean(err)


@pytest.fixture(autouse=True)
def _quiet_root_logger():  # type: ignore[no-untyped-def]
    """`main` configures the root logger as an entry point does; put it back afterwards."""
    import logging

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
