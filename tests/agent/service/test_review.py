"""Script review over real HTTP (issue 14): a job submitted with `review` stops after its script; approve,
rewrite, edit and cancel it; an unanswered review expires without charge; a restart keeps it in review."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.support.agent_app import AUTH, Agent, GatedProvider, make_settings, read_sse, run_agent


async def _submit_review(a: Agent, topic: str = "cats in space", request_id: str = "r1") -> dict[str, Any]:
    body = {"request_id": request_id, "user": {"platform": "discord", "id": "42", "name": "Ann"}, "topic": topic,
            "review": True}
    resp = await a.client.post("/v1/jobs", json=body, headers=AUTH)
    assert resp.status == 202, await resp.text()
    return await resp.json()


async def _step(a: Agent, job_id: str, step: str, body: Any = None, expect: int = 202) -> dict[str, Any]:
    resp = await a.client.post(f"/v1/jobs/{job_id}/{step}", json=body, headers=AUTH)
    data = await resp.json()
    assert resp.status == expect, data
    return data


def _kinds(provider: GatedProvider) -> list[str]:
    return [kind for kind, _req in provider.history]


async def test_review_edit_then_approve_renders_the_edited_script(tmp_path: Path) -> None:
    async with run_agent(tmp_path) as a:
        job = await _submit_review(a)
        review = await a.wait_status(job["id"], "review")
        script = review["script"]
        assert review["stage"] == "review" and len(script["narrations"]) == 4 and script["title"]
        assert script["expires_at"].endswith("Z")
        assert _kinds(a.provider) == ["script"] and a.renderer.specs == []  # nothing else ran
        assert (await a.quota())["balance"] == 95  # reserved, not charged

        new = [f"Scene {i} as Ann wants it." for i in range(1, 5)]
        edited = await _step(a, job["id"], "edit", {"narrations": new}, expect=200)
        assert edited["status"] == "review" and edited["script"]["narrations"] == new

        approved = await _step(a, job["id"], "approve")
        assert approved["status"] in ("queued", "running") and approved.get("script") is None
        done = await a.wait_status(job["id"], "done")
        assert _kinds(a.provider).count("script") == 1  # the reviewed script was used, not rewritten
        spoken = [req.text for kind, req in a.provider.history if kind == "voice"]
        assert spoken == new
        assert done["credits"]["charged"] == 5 and (await a.quota())["balance"] == 95
        events = await read_sse(await a.client.get(f"/v1/jobs/{job['id']}/events", headers=AUTH))
        reviews = [e for e in events if e["status"] == "review"]
        assert [e["script"]["narrations"] == new for e in reviews] == [False, True]


async def test_rewrite_writes_a_new_script_and_waits_again(tmp_path: Path) -> None:
    async with run_agent(tmp_path) as a:
        job = await _submit_review(a)
        await a.wait_status(job["id"], "review")
        await _step(a, job["id"], "rewrite")
        await asyncio.sleep(0)
        again = await a.wait_status(job["id"], "review")
        assert _kinds(a.provider) == ["script", "script"] and again["script"]["narrations"]


async def test_cancel_in_review_gives_everything_back(tmp_path: Path) -> None:
    async with run_agent(tmp_path) as a:
        job = await _submit_review(a)
        await a.wait_status(job["id"], "review")
        resp = await a.client.delete(f"/v1/jobs/{job['id']}", headers=AUTH)
        data = await resp.json()
        assert resp.status == 202 and data["status"] == "cancelled" and data["error"]["code"] == "cancelled"
        assert data["credits"]["charged"] == 0 and (await a.quota())["balance"] == 100
        assert (await _step(a, job["id"], "approve", expect=409))["error"]["code"] == "not_in_review"


async def test_an_unanswered_review_expires_without_charge(tmp_path: Path) -> None:
    async with run_agent(tmp_path, make_settings(tmp_path, agent={"review_ttl_s": 0.3})) as a:
        job = await _submit_review(a)
        await a.wait_status(job["id"], "review")
        ended = await a.wait_status(job["id"], "cancelled", timeout_s=5)
        assert ended["error"]["code"] == "review_expired" and "nothing was charged" in ended["error"]["message"]
        assert (await a.quota())["balance"] == 100 and a.renderer.specs == []


async def test_review_steps_refuse_what_they_cannot_do(tmp_path: Path) -> None:
    async with run_agent(tmp_path) as a:
        plain = await a.submit("no review", request_id="plain")
        await a.wait_status(plain["id"], "done")
        assert (await _step(a, plain["id"], "approve", expect=409))["error"]["code"] == "not_in_review"
        assert (await _step(a, "doesnotexist1234", "rewrite", expect=404))["error"]["code"] == "not_found"
        job = await _submit_review(a)
        await a.wait_status(job["id"], "review")
        short = await _step(a, job["id"], "edit", {"narrations": ["only one"]}, expect=400)
        assert short["error"]["code"] == "invalid_input" and short["error"]["field"] == "narrations"
        bad = await _step(a, job["id"], "edit", {"narrations": ["a", "b\u202ec", "d", "e"]}, expect=400)
        assert "scene 2" in bad["error"]["message"] and "control character" in bad["error"]["message"]
        assert (await _step(a, job["id"], "edit", {"text": "x"}, expect=400))["error"]["code"] == "bad_request"
        resp = await a.client.post("/v1/jobs", headers=AUTH, json={
            "request_id": "x", "user": {"platform": "discord", "id": "42"}, "topic": "t", "review": "yes"})
        assert resp.status == 400 and (await resp.json())["error"]["field"] == "review"
        assert (await a.job(job["id"]))["status"] == "review"  # nothing of that touched it


async def test_a_restart_in_review_keeps_the_script_and_the_deadline(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    async with run_agent(tmp_path, settings) as a:
        job = await _submit_review(a)
        first = (await a.wait_status(job["id"], "review"))["script"]
    fresh = GatedProvider()
    async with run_agent(tmp_path, settings, provider=fresh) as b:
        again = await b.wait_status(job["id"], "review")
        assert again["script"] == first and _kinds(fresh) == []  # from the work directory, not rewritten
        await _step(b, job["id"], "approve")
        await b.wait_status(job["id"], "done")
        assert _kinds(fresh).count("script") == 0
