"""`reelbot bot` start-up (issue 14, defect 1): both forms of the Telegram base URL work, and a
front-end that cannot start says why in one line and exits 2 (no traceback)."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.flow import Flow
from bot.telegram_bot import TelegramFrontEnd
from tests.bot.fake_telegram import FakeTelegram

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.mark.parametrize("suffix", ["", "/", "/bot", "/bot/"])
async def test_base_url_with_or_without_bot(tg: FakeTelegram, flow: Flow, suffix: str) -> None:
    """PTB's own default base URL ends in /bot; reelbot used to add another and die on /bot/bot<token>."""
    front = TelegramFrontEnd(flow, "123:ABC", base_url=tg.url + suffix)
    await front.app.initialize()
    try:
        assert front.app.bot.username == "MyFoxBot"
        assert [m for m, _ in tg.calls] == ["getMe"]
    finally:
        await front.app.shutdown()


async def _reelbot_bot(tmp_path: Path, api_url: str) -> tuple[int, str]:
    config = tmp_path / "config.toml"
    config.write_text('[agent]\npublic_url = ""\n[bot]\nagent_url = "http://127.0.0.1:9"\n'
                      f'state_file = "{tmp_path / "deliveries.json"}"\n')
    env = {**os.environ, "TELEGRAM_TOKEN": "123:ABC", "TELEGRAM_API_BASE_URL": api_url,
           "REELBOT_AGENT_TOKEN": "t0ken-for-this-test"}
    env.pop("DISCORD_TOKEN", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "reelbot", "bot", "--config", str(config), cwd=ROOT, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode or 0, err.decode()


async def test_a_refused_token_is_one_line_and_exit_2(tg: FakeTelegram, tmp_path: Path) -> None:
    tg.refuse_token = True
    code, err = await _reelbot_bot(tmp_path, tg.url)
    assert code == 2, err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == (
        "reelbot: error: Telegram refused the bot token ($TELEGRAM_TOKEN); check it with @BotFather")
    assert "123:ABC" not in err


async def test_an_unreachable_api_is_one_line_and_exit_2(tmp_path: Path) -> None:
    code, err = await _reelbot_bot(tmp_path, "http://127.0.0.1:9")
    assert code == 2, err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("reelbot: error: could not reach the Telegram Bot API at http://127.0.0.1:9"), last
