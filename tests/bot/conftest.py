"""Fixtures for the bot tests: a fake agent on loopback, a client with instant backoff, a tiny MP4."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.agent_client import AgentClient
from bot.flow import Flow
from bot.store import DeliveryStore
from tests.bot.fake_agent import FakeAgent
from tests.support.waiting import fast_sleep


@pytest.fixture(autouse=True)
def _ptb_timedelta(monkeypatch: pytest.MonkeyPatch) -> None:
    """As `reelbot bot` does: PTB 22 warns on int retry_after unless opted in to timedelta."""
    monkeypatch.setenv("PTB_TIMEDELTA", "1")


@pytest.fixture(scope="session")
def tiny_mp4(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    import imageio_ffmpeg

    out = tmp_path_factory.mktemp("mp4") / "tiny.mp4"
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-f", "lavfi",
         "-i", "testsrc=size=144x256:rate=10:duration=1", "-pix_fmt", "yuv420p", "-c:v", "libx264",
         "-preset", "veryfast", "-movflags", "+faststart", str(out)],
        check=True, timeout=60,
    )
    return out.read_bytes()


@pytest.fixture
async def agent(tiny_mp4: bytes) -> AsyncIterator[FakeAgent]:
    fake = FakeAgent()
    fake.video = tiny_mp4
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
def client(session: aiohttp.ClientSession, agent: FakeAgent) -> AgentClient:
    return AgentClient(session, agent.url, agent.token, backoff_s=(0.01, 0.01, 0.01), sleep=fast_sleep)


@pytest.fixture
def flow(client: AgentClient, tmp_path: Path) -> Flow:
    store = DeliveryStore(tmp_path / "deliveries.json")
    return Flow(client, store, tmp_path / "work", public_url="https://reels.example", edit_interval_s=0.05,
                tick_s=30, activity_every_s=0.05)
