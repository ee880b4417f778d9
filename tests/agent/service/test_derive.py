"""Derived jobs over real HTTP (issue 14): Redo scene N, another shape, priced by what they make again and
quoted before they start; made from the parent's files; a parent whose files are gone is said plainly."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

from tests.support.agent_app import AUTH, Agent, run_agent


async def _done_parent(a: Agent) -> dict[str, Any]:
    parent = await a.submit("foxes in winter", request_id="parent")
    await a.wait_status(parent["id"], "done")
    a.provider.history.clear()
    a.renderer.specs.clear()
    return parent


async def _quote(a: Agent, job_id: str, changes: list[dict[str, Any]], expect: int = 200) -> dict[str, Any]:
    resp = await a.client.post(f"/v1/jobs/{job_id}/quote", json={"changes": changes}, headers=AUTH)
    data = await resp.json()
    assert resp.status == expect, data
    return data


async def _derive(a: Agent, parent: dict[str, Any], changes: list[dict[str, Any]], request_id: str,
                  expect: int = 202) -> dict[str, Any]:
    body = {"request_id": request_id, "user": {"platform": "discord", "id": "42"}, "topic": parent["topic"],
            "parent_job_id": parent["id"], "changes": changes}
    resp = await a.client.post("/v1/jobs", json=body, headers=AUTH)
    data = await resp.json()
    assert resp.status == expect, data
    return data


async def test_redo_one_scene_makes_only_that_scene_and_costs_its_share(tmp_path: Path) -> None:
    async with run_agent(tmp_path) as a:
        parent = await _done_parent(a)
        change = [{"kind": "redo_scene", "scene": 2}]
        quote = await _quote(a, parent["id"], change)
        assert quote == {"price": 2, "regenerated": 2, "reused": 6}  # 5 credits x 2 of 8 items, rounded up
        child = await _derive(a, parent, change, "redo-2")
        assert child["price"] == 2 and child["topic"] == parent["topic"]
        done = await a.wait_status(child["id"], "done")
        made = [(kind, req.scene_index) for kind, req in a.provider.history]
        assert sorted(made) == [("image", 1), ("voice", 1)]  # scene 2 only; no script
        assert len(a.renderer.specs) == 1 and done["credits"]["charged"] == 2
        assert (await a.quota())["balance"] == 100 - 5 - 2


async def test_another_shape_is_a_free_re_render(tmp_path: Path) -> None:
    async with run_agent(tmp_path) as a:
        parent = await _done_parent(a)
        change = [{"kind": "aspect", "aspect": "16:9"}]
        assert (await _quote(a, parent["id"], change))["price"] == 0
        child = await _derive(a, parent, change, "wide")
        done = await a.wait_status(child["id"], "done")
        assert a.provider.history == [] and done["options"]["aspect"] == "16:9"
        spec = a.renderer.specs[0]
        assert spec.width > spec.height and done["credits"]["charged"] == 0


async def test_a_parent_whose_files_are_gone_is_said_plainly(tmp_path: Path) -> None:
    async with run_agent(tmp_path) as a:
        parent = await _done_parent(a)
        await asyncio.to_thread(shutil.rmtree, a.runner.workdir(parent["id"]))
        change = [{"kind": "redo_scene", "scene": 1}]
        assert (await _quote(a, parent["id"], change, expect=409))["error"]["code"] == "parent_expired"
        refused = await _derive(a, parent, change, "late", expect=409)
        assert refused["error"]["code"] == "parent_expired" and "deleted" in refused["error"]["message"]
        assert (await a.quota())["balance"] == 95  # nothing charged for it


async def test_changes_that_cannot_apply_are_refused(tmp_path: Path) -> None:
    async with run_agent(tmp_path) as a:
        parent = await _done_parent(a)
        bad = await _quote(a, parent["id"], [{"kind": "redo_scene", "scene": 9}], expect=400)
        assert bad["error"]["field"] == "changes" and "1 to 4" in bad["error"]["message"]
        assert (await _quote(a, parent["id"], [{"kind": "louder"}], expect=400))["error"]["code"] == "bad_request"
        assert (await _quote(a, parent["id"], [], expect=400))["error"]["field"] == "changes"
        a.provider.hold("script")
        running = await a.submit("still running", request_id="running")
        not_done = await _derive(a, running, [{"kind": "aspect", "aspect": "1:1"}], "early", expect=400)
        assert "has not finished" in not_done["error"]["message"]
        a.provider.release("script")
        resp = await a.client.post("/v1/jobs", headers=AUTH, json={
            "request_id": "x", "user": {"platform": "discord", "id": "42"}, "topic": "t",
            "changes": [{"kind": "aspect", "aspect": "1:1"}]})
        assert resp.status == 400 and (await resp.json())["error"]["field"] == "changes"


async def test_other_voice_is_quoted_with_the_voices_to_pick_then_redoes_every_voice(tmp_path: Path) -> None:
    async with run_agent(tmp_path) as a:
        parent = await _done_parent(a)
        quote = await _quote(a, parent["id"], [{"kind": "voice"}])
        assert quote["price"] == 3 and quote["regenerated"] == 4 and quote["voices"]  # 5 x 4 of 8, rounded up
        voice = quote["voices"][0]
        child = await _derive(a, parent, [{"kind": "voice", "voice": voice}], "voice")
        done = await a.wait_status(child["id"], "done")
        assert [(k, r.voice) for k, r in a.provider.history] == [("voice", voice)] * 4
        assert done["options"]["voice"] == voice and done["credits"]["charged"] == 3
        missing = await _derive(a, parent, [{"kind": "voice"}], "no-voice", expect=400)
        assert missing["error"]["field"] == "changes"
