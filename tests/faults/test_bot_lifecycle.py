"""`reelbot bot` as a process (issue 14, defects 1 and 5): a front-end that cannot start says why in
one line and exits 2, and SIGTERM stops the bot cleanly with its deliveries saved."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot import wording
from tests.bot.fake_agent import FakeAgent
from tests.bot.fake_telegram import ALICE, FakeTelegram, command
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def agent() -> AsyncIterator[FakeAgent]:
    fake = FakeAgent()
    await fake.start()
    yield fake
    await fake.stop()


async def _start_bot(tmp_path: Path, api_url: str, agent_url: str = "http://127.0.0.1:9",
                     agent_token: str = "t0ken-for-this-test") -> asyncio.subprocess.Process:
    config = tmp_path / "config.toml"
    config.write_text(f'[agent]\npublic_url = ""\ndata_dir = "{tmp_path / "data"}"\n'
                      f'[bot]\nagent_url = "{agent_url}"\nstate_file = "{tmp_path / "deliveries.json"}"\n'
                      'edit_interval_s = 0.05\n')
    env = {**os.environ, "TELEGRAM_TOKEN": "123:ABC", "TELEGRAM_API_BASE_URL": api_url,
           "REELBOT_AGENT_TOKEN": agent_token, "PTB_TIMEDELTA": "1"}
    env.pop("DISCORD_TOKEN", None)
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "reelbot", "bot", "--config", str(config), cwd=ROOT, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)


async def _reelbot_bot(tmp_path: Path, api_url: str) -> tuple[int, str]:
    proc = await _start_bot(tmp_path, api_url)
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


async def test_sigterm_stops_cleanly_and_keeps_the_delivery(tg: FakeTelegram, agent: FakeAgent,
                                                             tmp_path: Path) -> None:
    """Issue 14, defect 5: SIGTERM used to kill the bot silently mid-job. Now it stops taking commands,
    says so under the progress message, saves the delivery (the next start resumes it) and exits 0."""
    proc = await _start_bot(tmp_path, tg.url, agent.url, agent.token)
    try:
        tg.updates.append(command("/video a graceful stop"))
        job = await agent.wait_job(timeout_s=30)
        await agent.emit(job.id, stage="script", provider="ollama", stage_done=True)
        await wait_until(lambda: bool(tg.in_chat(ALICE)) and "script ✔" in tg.in_chat(ALICE)[0].text, 30)
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    text = err.decode()
    assert proc.returncode == 0, text
    assert "Traceback" not in text and "SIGTERM received: stopping" in text
    progress = tg.in_chat(ALICE)[0]
    assert progress.text.endswith(wording.PAUSED)
    saved = json.loads((tmp_path / "deliveries.json").read_text())
    assert [d["job_id"] for d in saved] == [job.id] and saved[0]["last_event_id"] >= 2
    assert agent.jobs[job.id].status == "running"  # nothing cancelled: it is resumed at the next start
