"""The agent service under test: the real app (create_app) on 127.0.0.1 with fake providers, a stub
renderer and a wall clock the test moves; plus request helpers and an SSE reader."""

from __future__ import annotations

import asyncio
import codecs
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from agent.service.app import RUNNER, create_app
from agent.engine.backends import Backends
from agent.settings import Settings, settings_from_mapping
from providers.base import Stage, Tier
from tests.fakes import FakeProvider, FakeRenderer
from tests.support.clock import WallClock

__all__ = ["TOKEN", "AUTH", "ORDERS", "GatedProvider", "make_settings", "Agent", "run_agent", "read_sse"]

TOKEN = "test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ORDERS = {Stage.SCRIPT: ("offline",), Stage.IMAGE: ("offline",), Stage.CLIP: (), Stage.VOICE: ("offline",)}


class GatedProvider(FakeProvider):
    """A fake whose script or image step can be held open: `hold(stage)`, then `release(stage)`."""

    def __init__(self) -> None:
        super().__init__("offline", Tier.OFFLINE)
        self.gates: dict[str, asyncio.Event] = {}
        self.entered: dict[str, asyncio.Event] = {}
        self.scene_count = 4

    def hold(self, stage: str) -> None:
        self.gates[stage] = asyncio.Event()
        self.entered[stage] = asyncio.Event()

    def release(self, stage: str) -> None:
        self.gates.pop(stage).set()

    async def _gate(self, stage: str) -> None:
        gate = self.gates.get(stage)
        if gate is not None:
            self.entered[stage].set()
            await gate.wait()

    async def write_script(self, request, ctx):  # type: ignore[no-untyped-def]
        await self._gate("script")
        return await super().write_script(request, ctx)

    async def make_image(self, request, ctx):  # type: ignore[no-untyped-def]
        if request.scene_index == 1:
            await self._gate("image")
        return await super().make_image(request, ctx)


def make_settings(tmp_path: Path, *, agent: dict[str, Any] | None = None, quotas: dict[str, Any] | None = None,
                  routes: dict[str, Any] | None = None, token: str = TOKEN,
                  env: dict[str, str] | None = None) -> Settings:
    """`env`: more environment (REELBOT_CONSOLE_TOKEN, REELBOT_METRICS_TOKEN, ...)."""
    data: dict[str, Any] = {
        "stages": {"script": ["offline"], "image": ["offline"], "clip": [], "voice": ["offline"]},
        "agent": {"data_dir": str(tmp_path / "data"), "database_url": f"sqlite+aiosqlite:///{tmp_path}/agent.db",
                  "workers": 2, "event_flush_s": 0.02, "sse_keepalive_s": 0.5, **(agent or {})},
        "quotas": {"daily_credits": 100, "max_in_flight": 10, **(quotas or {})},
        "routes": routes or {
            "self-hosted": {"label": "Self-hosted", "price": 5},
            "premium": {"label": "Premium", "price": 20, "image": ["offline"]},
            "sora": {"label": "Sora", "price": 50, "enabled": False},
        },
    }
    return settings_from_mapping(data, {**({"REELBOT_AGENT_TOKEN": token} if token else {}), **(env or {})})


@dataclass
class Agent:
    client: TestClient
    app: web.Application
    provider: GatedProvider
    renderer: FakeRenderer
    settings: Settings
    wall: WallClock

    @property
    def runner(self):  # type: ignore[no-untyped-def]
        return self.app[RUNNER]

    async def submit(self, topic: str = "cats in space", *, request_id: str | None = None, user: str = "42",
                     platform: str = "discord", options: dict[str, Any] | None = None, expect: int = 202) -> dict[str, Any]:
        body = {"request_id": request_id or f"req-{topic}-{user}", "user": {"platform": platform, "id": user, "name": "Ann"},
                "topic": topic, "options": options or {}}
        resp = await self.client.post("/v1/jobs", json=body, headers=AUTH)
        data = await resp.json()
        assert resp.status == expect, data
        return data

    async def job(self, job_id: str) -> dict[str, Any]:
        resp = await self.client.get(f"/v1/jobs/{job_id}", headers=AUTH)
        assert resp.status == 200
        return await resp.json()

    async def wait_status(self, job_id: str, *statuses: str, timeout_s: float = 10.0) -> dict[str, Any]:
        async with asyncio.timeout(timeout_s):
            while True:
                job = await self.job(job_id)
                if job["status"] in statuses:
                    return job
                await asyncio.sleep(0.01)

    async def quota(self, user: str = "42", platform: str = "discord") -> dict[str, Any]:
        resp = await self.client.get(f"/v1/users/{platform}/{user}/quota", headers=AUTH)
        assert resp.status == 200
        return await resp.json()


@contextlib.asynccontextmanager
async def run_agent(tmp_path: Path, settings: Settings | None = None, *, provider: GatedProvider | None = None,
                    wall: WallClock | None = None, renderer: FakeRenderer | None = None,
                    **app_kw: Any) -> AsyncIterator[Agent]:
    """`app_kw` goes to create_app as it is (disk_usage=, sleep=, ...)."""
    settings = settings or make_settings(tmp_path)
    provider = provider or GatedProvider()
    renderer = renderer or FakeRenderer()
    wall = wall or WallClock()
    backends = Backends([provider], dict(ORDERS))
    app = create_app(settings, backends=backends, renderer=renderer, wall_clock=wall, **app_kw)
    server = TestServer(app, host="127.0.0.1")
    async with TestClient(server) as client:
        yield Agent(client, app, provider, renderer, settings, wall)


async def sse_events(content: aiohttp.StreamReader) -> AsyncIterator[dict[str, Any]]:
    """The events of an SSE body as they arrive, until the server ends it (each `id:` checked
    against its event's `seq`). Decoded incrementally: a chunk may end inside a UTF-8 character."""
    from agent.protocol import parse_sse_block

    decoder = codecs.getincrementaldecoder("utf-8")()
    buffer = ""
    async for chunk in content.iter_any():
        buffer += decoder.decode(chunk)
        while "\n\n" in buffer:
            block, buffer = buffer.split("\n\n", 1)
            seq, event = parse_sse_block(block)
            if event is not None:
                assert seq == event["seq"]
                yield dict(event)


async def read_sse(resp, stop_after: int | None = None) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    """Events of an SSE response until it ends (or `stop_after` events)."""
    events: list[dict[str, Any]] = []
    async with contextlib.aclosing(sse_events(resp.content)) as stream:
        async for event in stream:
            events.append(event)
            if stop_after is not None and len(events) >= stop_after:
                break
    return events
