"""The agent's event loop (agent.eventloop, `agent.event_loop`): uvloop where installed, else
asyncio's; and the agent working end to end on uvloop, as `reelbot agent` runs it. (The rest of the
suite runs on asyncio's loop, as pytest-asyncio sets it up.)"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from agent.choices import EventLoop
from agent.eventloop import EventLoopUnavailable, loop_factory, loop_name
from agent.settings import settings_from_mapping
from tests.support.agent_app import AUTH, read_sse, run_agent

uvloop = pytest.importorskip("uvloop", reason="uvloop has no Windows build: auto is asyncio's loop there")


def _made(kind: EventLoop) -> str:
    loop = loop_factory(kind)()
    try:
        return loop_name(loop)
    finally:
        loop.close()


def test_auto_and_uvloop_give_uvloop_and_asyncio_gives_asyncios_own() -> None:
    assert _made(EventLoop.AUTO) == "uvloop"
    assert _made(EventLoop.UVLOOP) == "uvloop"
    assert _made(EventLoop.ASYNCIO) == "asyncio"
    assert settings_from_mapping({}, {}).agent.event_loop is EventLoop.AUTO


def test_without_uvloop_auto_falls_back_and_uvloop_is_refused_saying_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # as where it is not installed: import fails
    assert _made(EventLoop.AUTO) == "asyncio"
    with pytest.raises(EventLoopUnavailable, match="uvloop is not installed"):
        loop_factory(EventLoop.UVLOOP)


def test_the_agent_serves_submissions_streams_and_cancels_on_uvloop(tmp_path: Path) -> None:
    async def scenario() -> None:
        assert loop_name(asyncio.get_running_loop()) == "uvloop"
        async with run_agent(tmp_path) as a:
            job = await a.submit("cats in space", request_id="uv-1")
            resp = await a.client.get(f"/v1/jobs/{job['id']}/events", headers=AUTH)
            events = await read_sse(resp)
            assert events[-1]["status"] == "done"
            assert [e["seq"] for e in events] == list(range(1, len(events) + 1))

            a.provider.hold("image")
            held = await a.submit("dogs in space", request_id="uv-2")
            await asyncio.wait_for(a.provider.entered["image"].wait(), 5)
            resp = await a.client.delete(f"/v1/jobs/{held['id']}", headers=AUTH)
            assert resp.status == 202
            a.provider.release("image")
            cancelled = await a.wait_status(held["id"], "cancelled")
            assert cancelled["credits"]["refunded"] == cancelled["price"]
            assert (await a.quota())["balance"] == 100 - job["price"]

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(scenario())
