"""A password in a backend URL never leaves the agent: not in /v1/status, the log, the stored
provider attempts, nor the job's events, even when the backend echoes the credentials back."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
from collections.abc import Iterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from agent.service.app import RUNNER, create_app
from agent.engine.backends import Backends
from agent.settings import Settings, settings_from_mapping
from providers.base import Stage
from providers.ollama import OllamaScriptWriter
from reelbot.logs import SecretFilter
from tests.support.agent_app import AUTH, ORDERS, TOKEN, GatedProvider, WallClock, read_sse
from tests.fakes import FakeRenderer
from tests.providers.fake_servers import EchoAuth, serve

PASSWORD = "hunter2pass"
BASIC = base64.b64encode(f"admin:{PASSWORD}".encode()).decode()


def _settings(tmp_path, ollama_url: str) -> Settings:  # type: ignore[no-untyped-def]
    data = {
        "stages": {"script": ["ollama", "offline"], "image": ["offline"], "clip": [], "voice": ["offline"]},
        "agent": {"data_dir": str(tmp_path / "data"), "database_url": f"sqlite+aiosqlite:///{tmp_path}/agent.db",
                  "event_flush_s": 0.02, "sse_keepalive_s": 0.5},
    }
    return settings_from_mapping(data, {"REELBOT_AGENT_TOKEN": TOKEN, "LOCAL_AI_SERVER": ollama_url})


@pytest.fixture
def agent_log(request: pytest.FixtureRequest) -> Iterator[tuple[io.StringIO, list[SecretFilter]]]:
    """Everything logged while the test runs, through the entry points' filter (set by the test)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    filters: list[SecretFilter] = []
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream, filters
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def _assert_clean(text: str, where: str) -> None:
    assert PASSWORD not in text, f"{where} leaks the password: {text[:2000]}"
    assert BASIC not in text, f"{where} leaks the Basic credential: {text[:2000]}"
    assert "hunter2" not in text, f"{where} leaks part of the password"


async def test_a_password_in_the_backend_url_reaches_no_sink(tmp_path, deps, agent_log):
    stream, _ = agent_log
    echo = EchoAuth()
    async with serve(echo) as base:
        url = base.replace("http://", f"http://admin:{PASSWORD}@")
        settings = _settings(tmp_path, url)
        # this test's own handler (pytest's capture handlers are shared by every test: never filter those)
        handler = next(h for h in logging.getLogger().handlers if getattr(h, "stream", None) is stream)
        handler.addFilter(SecretFilter(settings.secrets()))  # as configure_logging does
        ollama = OllamaScriptWriter(settings.providers["ollama"], deps)  # type: ignore[arg-type]
        orders = {**ORDERS, Stage.SCRIPT: ("ollama", "offline")}
        app = create_app(settings, backends=Backends([ollama, GatedProvider()], orders), renderer=FakeRenderer(),
                         wall_clock=WallClock())
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            body = {"request_id": "r1", "user": {"platform": "discord", "id": "42"}, "topic": "cats in space",
                    "options": {}}
            resp = await client.post("/v1/jobs", json=body, headers=AUTH)
            job = await resp.json()
            assert resp.status == 202, job
            events = await asyncio.wait_for(read_sse(await client.get(f"/v1/jobs/{job['id']}/events",
                                                                      headers=AUTH)), 30)
            assert events[-1]["status"] == "done", events[-1]
            status = await (await client.get("/v1/status", headers=AUTH)).text()
            attempts = await app[RUNNER].store.attempts(job["id"])

    # the backend really was sent the credentials, and really echoed them
    assert echo.seen and echo.seen[0] == f"Basic {BASIC}"
    # 1. the status JSON, over HTTP: the URL without user-info, the echo scrubbed
    _assert_clean(status, "/v1/status")
    row = next(b for b in json.loads(status)["backends"] if b["name"] == "ollama")
    assert row["url"] == base and row["up"] is False and "Basic ***" in row["problem"]
    # 2. the provider_attempts rows
    failed = [a for a in attempts if a.provider == "ollama"]
    assert failed and failed[0].outcome == "auth_failed"
    for a in attempts:
        _assert_clean(a.message, "provider_attempts")
    assert "with password ***" in failed[0].message
    # 3. the job's events (streamed and stored)
    _assert_clean(json.dumps(events), "the events")
    # 4. the log: the cascade's warning is there, scrubbed
    logged = stream.getvalue()
    assert "failed on ollama" in logged
    _assert_clean(logged, "the log")
