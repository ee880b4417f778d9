"""Telegram start-up (issue 14, defect 1): both forms of the Telegram base URL work. The process-level
start-up and stop tests are in tests/faults/test_bot_lifecycle.py."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.flow import Flow
from bot.telegram_bot import TelegramFrontEnd
from tests.bot.fake_telegram import FakeTelegram


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
