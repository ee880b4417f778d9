"""A job's voice must be one its route offers (400 otherwise), and a crash in the eSpeak child
process costs one scene: the cascade falls back and the job finishes.

Issue 9, defect 1: `options.voice` of `!v/m1`, 64 "+" or "en+" and 37 characters went unfiltered to
eSpeak and crashed the agent.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from agent.service.app import create_app
from agent.engine.backends import Backends
from providers.base import ProviderDeps, Scene, Script, Stage, Tier
from providers.offline import OfflineConfig, OfflineVoice
from tests.support.agent_app import AUTH, Agent, GatedProvider, WallClock, make_settings
from tests.fakes import FakeProvider, FakeRenderer
from tests.providers.offline import child_faults

POISON = ["!v/m1", "+" * 64, "en+" + "a" * 37]


def _body(voice: str, request_id: str = "r1", user: str = "42") -> dict[str, object]:
    return {"request_id": request_id, "user": {"platform": "discord", "id": user}, "topic": "cats in space",
            "options": {"voice": voice}}


async def _refused(a: Agent, voice: str) -> dict[str, object]:
    resp = await a.client.post("/v1/jobs", json=_body(voice), headers=AUTH)
    data = await resp.json()
    assert resp.status == 400, data
    error = data["error"]
    assert error["code"] == "invalid_input" and error["field"] == "voice", error
    return error


async def test_a_voice_no_provider_offers_is_a_400_naming_some_that_work(agent_factory) -> None:
    async with agent_factory() as a:
        for voice in [*POISON, "alloy", "fake-voice2", "fake-voice+f3"]:
            error = await _refused(a, voice)
            assert "fake-voice, other-voice" in str(error["message"]), voice
            assert "leave the voice out" in str(error["message"])
        assert (await a.quota())["balance"] == 100  # nothing reserved
        assert a.provider.history == []  # nothing ran


async def test_a_voice_the_route_offers_is_used(agent_factory) -> None:
    async with agent_factory() as a:
        job = await a.submit(options={"voice": " Other-Voice "})
        await a.wait_status(job["id"], "done")
        voices = {req.voice for kind, req in a.provider.history if kind == "voice"}
        assert voices == {"Other-Voice"}
        plain = await a.submit(request_id="default", options={"voice": ""})  # the default voice
        await a.wait_status(plain["id"], "done")


# ---------------------------------------------------------------------------- the real offline voice


class CrashingVoice(OfflineVoice):
    """The real offline voice; its child crashes in native code on a marked narration."""

    synthesize_in_child = staticmethod(child_faults.crash_on_marker)


@contextlib.asynccontextmanager
async def real_voice_agent(tmp_path: Path, voice: OfflineVoice) -> AsyncIterator[tuple[Agent, FakeProvider]]:
    """The agent with fake script and image providers, the real offline voice and a fake backup voice
    after it (the cascade's next provider)."""
    settings = make_settings(tmp_path)
    box = GatedProvider()
    box.name, box.tier = "box", Tier.SELF_HOSTED  # type: ignore[misc]
    backup = FakeProvider("backup", Tier.OFFLINE)
    orders = {Stage.SCRIPT: ("box",), Stage.IMAGE: ("box",), Stage.CLIP: (), Stage.VOICE: ("offline", "backup")}
    renderer, wall = FakeRenderer(), WallClock()
    app = create_app(settings, backends=Backends([box, voice, backup], orders), renderer=renderer, wall_clock=wall)
    try:
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            yield Agent(client, app, box, renderer, settings, wall), backup
    finally:
        await voice.aclose()


def _offline(cls: type[OfflineVoice] = OfflineVoice) -> OfflineVoice:
    return cls(OfflineConfig(), ProviderDeps(None, time.monotonic, Path(".")))  # type: ignore[arg-type]


async def test_the_real_offline_voice_refuses_poison_and_takes_its_own_names(tmp_path: Path) -> None:
    voice = _offline()
    async with real_voice_agent(tmp_path, voice) as (a, backup):
        for name in [*POISON, "alloy"]:
            error = await _refused(a, name)
            assert "en-us, en-gb, en-us+f3" in str(error["message"])
            # the backup fake offers its own names: they are listed too
            assert "fake-voice" in str(error["message"])
        job = await a.submit(options={"voice": "EN-GB+f3"})
        done = await a.wait_status(job["id"], "done")
        assert done["result"]["provenance"]["voice"] == {"offline": 4}
        assert backup.history == []


async def test_a_crash_in_the_synthesiser_costs_one_scene_and_the_job_finishes(tmp_path: Path) -> None:
    voice = _offline(CrashingVoice)
    async with real_voice_agent(tmp_path, voice) as (a, backup):
        scenes = tuple(Scene(f"Scene {i} of the story, told plainly.", f"visual {i}") for i in range(4))
        marked = Scene(f"Scene 2 {child_faults.CRASH_MARKER} of the story.", "visual 2")
        a.provider.enqueue(Script("A story", scenes[:2] + (marked,) + scenes[3:]))
        job = await a.submit()
        done = await a.wait_status(job["id"], "done", timeout_s=60)
        assert done["result"]["provenance"]["voice"] == {"offline": 3, "backup": 1}
        attempts = await a.runner.store.attempts(job["id"])
        crashed = [(t.item, t.provider, t.outcome) for t in attempts if t.stage == "voice" and t.outcome != "ok"]
        assert crashed == [("scene 3", "offline", "bad_output")]
        assert any("SIGABRT" in t.message for t in attempts)
        assert [req.scene_index for kind, req in backup.history if kind == "voice"] == [2]
        assert voice._worker.started == 2  # one fresh child after the crash, not one per scene
        # this process and the agent in it are alive and serving
        resp = await a.client.get("/v1/status", headers=AUTH)
        assert resp.status == 200 and os.getpid() > 0
        assert (await a.quota())["balance"] == 95
