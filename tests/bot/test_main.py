"""`reelbot bot` wiring: the embedded agent answers the same HTTP contract the bots use."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from agent.settings import settings_from_mapping
from bot.agent_client import AgentClient
from bot.main import embedded_agent


async def test_embedded_agent_speaks_the_contract(tmp_path: Path) -> None:
    settings = settings_from_mapping({"agent": {"data_dir": str(tmp_path),
                                                "database_url": f"sqlite+aiosqlite:///{tmp_path}/db.sqlite"}})
    async with embedded_agent(settings) as (url, token), aiohttp.ClientSession() as session:
        assert url.startswith("http://127.0.0.1:") and token
        client = AgentClient(session, url, token)
        quota = await client.quota("telegram", "42")
        assert quota.credits_left == 100 and "self-hosted" in quota.prices
        status = await client.status()
        assert status.mode in ("self-hosted", "cloud", "offline")
