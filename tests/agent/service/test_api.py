"""Submit, get, auth, bad input, idempotency, quota, status, video with Range."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.agent_app import AUTH, make_settings, read_sse


async def test_submit_runs_to_done_with_result_and_charge(agent_factory):
    async with agent_factory() as a:
        job = await a.submit()
        assert job["status"] == "queued" and job["position"] == 1 and job["price"] == 5
        assert len(job["id"]) >= 16 and job["message"]
        resp = await a.client.get(f"/v1/jobs/{job['id']}/events", headers=AUTH)
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        events = await read_sse(resp)
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
        assert events[0]["status"] == "queued" and events[0]["position"] == 1
        last = events[-1]
        assert last["status"] == "done" and last["progress"] == 1.0
        result = last["result"]
        assert result["credits_charged"] == 5 and result["credits_left"] == 95
        assert result["provenance"]["image"] == {"offline": 4}
        assert result["video_url"] == f"/v1/jobs/{job['id']}/video"
        for e in events:
            assert {"seq", "job_id", "status", "stage", "progress", "message", "provider", "at"} <= set(e)
            assert 0.0 <= e["progress"] <= 1.0
        done = await a.job(job["id"])
        assert done["status"] == "done" and done["cost"] == 5 and done["credits_left"] == 95
        assert (await a.quota())["balance"] == 95


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic x"},
                                     {"Authorization": "Bearer"}])
async def test_auth_failures(agent_factory, headers):
    async with agent_factory() as a:
        for method, path in (("GET", "/v1/status"), ("POST", "/v1/jobs"), ("GET", "/v1/jobs/abcdefghijkl"),
                             ("GET", "/v1/users/discord/1/quota")):
            resp = await a.client.request(method, path, headers=headers, json={})
            assert resp.status == 401
            assert (await resp.json())["error"]["code"] == "unauthorized"


BAD = [
    ("not json", None, 400, "bad_request"),
    ([1, 2], None, 400, "bad_request"),
    ({"user": {"platform": "discord", "id": "1"}, "topic": "x"}, None, 400, "bad_request"),  # no request_id
    ({"request_id": "r", "topic": "x"}, None, 400, "bad_request"),  # no user
    ({"request_id": "r", "user": {"platform": "Dis cord", "id": "1"}, "topic": "x"}, "user.platform", 400, "bad_request"),
    ({"request_id": "r", "user": {"platform": "discord", "id": ""}, "topic": "x"}, "user.id", 400, "bad_request"),
    ({"request_id": "r" * 200, "user": {"platform": "discord", "id": "1"}, "topic": "x"}, "request_id", 400, "bad_request"),
    ({"request_id": "r", "user": {"platform": "discord", "id": "1"}, "topic": ""}, "topic", 400, "invalid_input"),
    ({"request_id": "r", "user": {"platform": "discord", "id": "1"}, "topic": "   "}, "topic", 400, "invalid_input"),
    ({"request_id": "r", "user": {"platform": "discord", "id": "1"}, "topic": "a" * 301}, "topic", 400, "invalid_input"),
    ({"request_id": "r", "user": {"platform": "discord", "id": "1"}, "topic": "cats\nin space"}, "topic", 400, "invalid_input"),
    ({"request_id": "r", "user": {"platform": "discord", "id": "1"}, "topic": 5}, "topic", 400, "invalid_input"),
    ({"request_id": "r", "user": {"platform": "discord", "id": "1"}, "topic": "x", "options": {"aspect": "4:3"}}, "aspect", 400, "invalid_input"),
    ({"request_id": "r", "user": {"platform": "discord", "id": "1"}, "topic": "x", "options": {"length": "epic"}}, "length", 400, "invalid_input"),
    ({"request_id": "r", "user": {"platform": "discord", "id": "1"}, "topic": "x", "options": {"mode": "3d"}}, "mode", 400, "invalid_input"),
    ({"request_id": "r", "user": {"platform": "discord", "id": "1"}, "topic": "x", "options": {"model": "nope"}}, "model", 400, "invalid_input"),
    ({"request_id": "r", "user": {"platform": "discord", "id": "1"}, "topic": "x", "options": {"model": "sora"}}, "model", 400, "invalid_input"),
    ({"request_id": "r", "user": {"platform": "discord", "id": "1"}, "topic": "x", "options": {"max_bytes": 10}}, "max_bytes", 400, "invalid_input"),
    ({"request_id": "r", "user": {"platform": "discord", "id": "1"}, "topic": "x", "options": {"max_bytes": "big"}}, "max_bytes", 400, "invalid_input"),
    ({"request_id": "r", "user": {"platform": "discord", "id": "1"}, "topic": "x", "options": {"voice": "a\x00b"}}, "options.voice", 400, "bad_request"),
    ({"request_id": "r", "user": {"platform": "discord", "id": "1"}, "topic": "x", "options": {"colour": "red"}}, "options", 400, "bad_request"),
    ({"request_id": "r", "user": {"platform": "discord", "id": "1"}, "topic": "x", "extra": 1}, None, 400, "bad_request"),
]


async def test_each_bad_input_is_a_clear_400(agent_factory):
    async with agent_factory() as a:
        for body, field, status, code in BAD:
            if isinstance(body, str):
                resp = await a.client.post("/v1/jobs", data=body, headers=AUTH)
            else:
                resp = await a.client.post("/v1/jobs", json=body, headers=AUTH)
            data = await resp.json()
            assert resp.status == status, (body, data)
            assert data["error"]["code"] == code, (body, data)
            assert data["error"]["message"], body
            if field:
                assert data["error"].get("field") == field, (body, data)
        # oversized body
        resp = await a.client.post("/v1/jobs", data=b"{" + b" " * 20000 + b"}", headers=AUTH)
        assert resp.status == 413 and (await resp.json())["error"]["code"] == "payload_too_large"
        # nothing was created or charged
        assert (await a.quota("1"))["balance"] == 100
        # unknown or malformed job ids are plain 404s
        for path in ("/v1/jobs/..%2F..%2Fetc", "/v1/jobs/short", "/v1/jobs/abcdefghijklmnop/video"):
            resp = await a.client.get(path, headers=AUTH)
            assert resp.status == 404 and (await resp.json())["error"]["code"] == "not_found"


async def test_idempotent_resubmit_same_job_charged_once(agent_factory):
    async with agent_factory() as a:
        a.provider.hold("script")
        first = await a.submit(request_id="abc")
        again = await a.submit(request_id="abc")
        assert again["id"] == first["id"]
        # concurrently, too
        many = await asyncio.gather(*(a.submit(request_id="xyz") for _ in range(10)))
        assert len({j["id"] for j in many}) == 1
        quota = await a.quota()
        assert quota["balance"] == 100 - 2 * 5 and quota["in_flight"] == 2
        a.provider.release("script")
        await a.wait_status(first["id"], "done")
        after = await a.submit(request_id="abc")  # still the same (finished) job, not a new charge
        assert after["id"] == first["id"] and after["status"] == "done"
        # another user may use the same request_id
        other = await a.submit(request_id="abc", user="7")
        assert other["id"] != first["id"]


async def test_video_range_and_not_ready(agent_factory):
    async with agent_factory() as a:
        a.provider.hold("script")
        job = await a.submit()
        resp = await a.client.get(f"/v1/jobs/{job['id']}/video", headers=AUTH)
        assert resp.status == 409 and (await resp.json())["error"]["code"] == "not_ready"
        a.provider.release("script")
        await a.wait_status(job["id"], "done")
        full = await a.client.get(f"/v1/jobs/{job['id']}/video", headers=AUTH)
        assert full.status == 200 and full.headers["Content-Type"] == "video/mp4"
        body = await full.read()
        assert len(body) == 2048
        part = await a.client.get(f"/v1/jobs/{job['id']}/video", headers={**AUTH, "Range": "bytes=100-199"})
        assert part.status == 206
        assert part.headers["Content-Range"] == "bytes 100-199/2048"
        assert await part.read() == body[100:200]


async def test_quota_prices_and_grant(agent_factory):
    async with agent_factory() as a:
        q = await a.quota("9", "telegram")
        assert q["balance"] == 100 and q["daily_credits"] == 100
        assert q["prices"]["premium"] == {"label": "Premium", "price": 20, "mode": "slideshow", "available": True}
        assert q["prices"]["sora"]["available"] is False
        assert q["resets_at"] == "2025-03-02T00:00:00.000Z" and q["resets_in_s"] == 12 * 3600
        resp = await a.client.post("/v1/users/telegram/9/credits", json={"amount": 50, "note": "thanks"}, headers=AUTH)
        assert resp.status == 200 and (await resp.json())["balance"] == 150
        resp = await a.client.post("/v1/users/telegram/9/credits", json={"amount": "lots"}, headers=AUTH)
        assert resp.status == 400


async def test_status_includes_backends_and_queue(agent_factory):
    async with agent_factory() as a:
        resp = await a.client.get("/v1/status", headers=AUTH)
        data = await resp.json()
        assert resp.status == 200 and data["mode"] in ("self-hosted", "cloud", "offline")
        assert data["queue"] == {"queued": 0, "running": 0, "workers": 2, "queue_size": 100}
        assert any(b["name"] == "offline" for b in data["backends"])


async def test_no_token_on_loopback_is_open(tmp_path):
    from tests.support.agent_app import run_agent

    async with run_agent(tmp_path, make_settings(tmp_path, token="")) as a:
        resp = await a.client.get("/v1/status")
        assert resp.status == 200


def test_non_loopback_without_token_refused():
    from agent.service.app import BindRefused, check_bind

    check_bind("127.0.0.1", "")
    check_bind("::1", "")
    check_bind("0.0.0.0", "tok")
    with pytest.raises(BindRefused):
        check_bind("0.0.0.0", "")
    with pytest.raises(BindRefused):
        check_bind("192.168.1.5", "")


def test_cli_refuses_public_bind_without_token(capsys):
    from reelbot.cli import main

    assert main(["agent", "--host", "0.0.0.0", "--port", "8765"]) == 2
    assert "REELBOT_AGENT_TOKEN" in capsys.readouterr().err
