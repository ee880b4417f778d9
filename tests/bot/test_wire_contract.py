"""The wire contract (agent.protocol) against what is really sent: the real agent and the fake one.

Every answer of a submit -> events -> done / failed / cancelled -> quota -> status run is decoded
STRICTLY: a key the Structs do not define fails (`unknown_fields`), and every optional field of the
messages must show up in some answer, so a field added on one side only fails here. The OpenAPI
document is checked against the routes the app really registers.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import msgspec

from agent.service.openapi import OPERATIONS
from agent.protocol import (
    MESSAGES,
    ErrorBody,
    ErrorCode,
    Event,
    Job,
    JobStatus,
    Quota,
    Stage,
    Status,
    convert,
    decode,
    job_from_event,
    parse_sse_block,
    unknown_fields,
)
from bot import wording
from providers.errors import Unavailable
from tests.bot.fake_agent import FakeAgent
from tests.support.agent_app import AUTH, make_settings, run_agent

Seen = dict[str, set[str]]


def _seen(value: Any, info: msgspec.inspect.Type, seen: Seen) -> None:
    """Which fields of which Struct the JSON `value` carried (not null)."""
    if isinstance(info, msgspec.inspect.UnionType):
        for option in info.types:
            _seen(value, option, seen)
    elif isinstance(info, msgspec.inspect.StructType) and isinstance(value, dict):
        for f in info.fields:
            if value.get(f.encode_name) is not None:
                seen[info.cls.__name__].add(f.name)
                _seen(value[f.encode_name], f.type, seen)
    elif isinstance(info, msgspec.inspect.ListType) and isinstance(value, list):
        for item in value:
            _seen(item, info.item_type, seen)
    elif isinstance(info, msgspec.inspect.DictType) and isinstance(value, dict):
        for item in value.values():
            _seen(item, info.value_type, seen)


class Checker:
    """Decodes every answer strictly and remembers which fields were seen."""

    def __init__(self) -> None:
        self.seen: Seen = defaultdict(set)
        self.checked: list[str] = []

    def check(self, what: str, body: Any, kind: type) -> Any:
        assert unknown_fields(body, kind) == [], (what, unknown_fields(body, kind))
        message = convert(body, kind)  # and every field the Struct requires is there, well typed
        _seen(body, msgspec.inspect.type_info(kind), self.seen)
        self.checked.append(f"{what}: {kind.__name__}")
        return message


Request = Callable[..., Awaitable[tuple[int, Any]]]


def _raw_request(session: aiohttp.ClientSession, base: str, headers: dict[str, str]) -> Request:
    async def request(method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with session.request(method, base + path, json=body, headers=headers) as resp:
            text = await resp.text()
            if resp.content_type == "text/event-stream":
                return resp.status, [e for _, e in (parse_sse_block(b) for b in text.split("\n\n")) if e is not None]
            return resp.status, json.loads(text)
    return request


async def _walk(request: Request, c: Checker, finish: Callable[[str, str], Awaitable[None]],
                user: dict[str, str]) -> None:
    """submit -> events -> done, a failure, a cancel, refusals, quota, status: every body checked."""
    status, body = await request("POST", "/v1/jobs", {"request_id": "w1", "user": user, "topic": "cats",
                                                      "options": {"aspect": "16:9"}})
    assert status == 202
    job = c.check("submit", body, Job)
    await finish(job.id, "done")
    status, events = await request("GET", f"/v1/jobs/{job.id}/events")
    for event in events:
        c.check("event", event, Event)
    assert events[-1]["status"] == "done"
    status, body = await request("GET", f"/v1/jobs/{job.id}")
    assert c.check("done job", body, Job).status is JobStatus.DONE

    status, body = await request("POST", "/v1/jobs", {"request_id": "w2", "user": user, "topic": "boom"})
    failing = c.check("submit", body, Job)
    await finish(failing.id, "failed")
    _, events = await request("GET", f"/v1/jobs/{failing.id}/events")
    c.check("failed event", events[-1], Event)
    _, body = await request("GET", f"/v1/jobs/{failing.id}")
    assert c.check("failed job", body, Job).status is JobStatus.FAILED

    status, body = await request("POST", "/v1/jobs", {"request_id": "w3", "user": user, "topic": "stop"})
    cancelling = c.check("submit", body, Job)
    await finish(cancelling.id, "cancel")
    status, body = await request("DELETE", f"/v1/jobs/{cancelling.id}")
    assert status == 202 and c.check("cancel", body, Job).status is JobStatus.CANCELLED
    _, events = await request("GET", f"/v1/jobs/{cancelling.id}/events")
    c.check("cancelled event", events[-1], Event)

    refusals = [
        ("DELETE", f"/v1/jobs/{job.id}", None, 409),  # job_status
        ("GET", f"/v1/jobs/{failing.id}/video", None, 404),
        ("POST", "/v1/jobs", {"request_id": "w4", "user": user, "topic": "x", "options": {"model": "nope"}}, 400),
        ("POST", "/v1/jobs", {"request_id": "w5", "user": user, "topic": "y", "options": {"model": "pricey"}}, 429),
    ]
    for method, path, body_in, expect in refusals:
        status, body = await request(method, path, body_in)
        assert status == expect, (path, body)
        c.check(f"{method} {path} {status}", body, ErrorBody)
    _, body = await request("GET", f"/v1/users/{user['platform']}/{user['id']}/quota")
    c.check("quota", body, Quota)
    _, body = await request("GET", "/v1/status")
    c.check("status", body, Status)


OPTIONAL_SEEN = {  # every optional field of these messages must appear in some answer
    "Event": {"done", "total", "stage_done", "result", "error", "refunded"},
    "Job": {"title", "duration_s", "width", "height", "credits_left", "size_bytes", "result", "error"},
    "JobResult": {"credits_charged", "credits_left"},
    "JobError": {"credits_refunded", "credits_left"},
    "ErrorDetail": {"field", "retry_after_s", "balance", "price", "resets_at", "job_status"},
}


def _assert_all_seen(c: Checker) -> None:
    for struct, fields in OPTIONAL_SEEN.items():
        assert fields <= c.seen[struct], (struct, fields - c.seen[struct])


async def test_every_answer_of_the_real_agent_decodes_strictly(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, routes={"self-hosted": {"label": "Self-hosted", "price": 5},
                                               "pricey": {"label": "Pricey", "price": 500}})
    async with run_agent(tmp_path, settings) as a, aiohttp.ClientSession() as session:
        request = _raw_request(session, str(a.client.make_url("")).rstrip("/"), AUTH)
        a.provider.hold("image")

        async def finish(job_id: str, how: str) -> None:
            if how == "done":
                a.provider.release("image")
                await a.wait_status(job_id, "done")
                a.provider.hold("image")
            elif how == "failed":
                a.provider.release("image")
                a.provider.enqueue(Unavailable("down"))
                await a.wait_status(job_id, "failed")
                a.provider.hold("image")
            # "cancel": the job stays held at its image step until the DELETE

        c = Checker()
        await _walk(request, c, finish, {"platform": "telegram", "id": "7", "name": "Ann"})
        a.provider.release("image")
    _assert_all_seen(c)


async def test_every_answer_of_the_fake_agent_decodes_strictly() -> None:
    fake = FakeAgent()
    fake.prices = {"self-hosted": 5, "pricey": 500}
    await fake.start()
    try:
        async with aiohttp.ClientSession() as session:
            request = _raw_request(session, fake.url, {"Authorization": f"Bearer {fake.token}"})

            async def finish(job_id: str, how: str) -> None:
                if how == "done":
                    await fake.run_default(job_id)
                elif how == "failed":
                    await fake.finish(job_id, "failed", {"code": "all_providers_failed", "message": "down"})
                else:
                    await fake.emit(job_id, stage="image", provider="comfyui", done=1, total=3)

            c = Checker()
            await _walk(request, c, finish, {"platform": "telegram", "id": "7", "name": "Ann"})
    finally:
        await fake.stop()
    _assert_all_seen(c)


def test_a_field_sent_on_one_side_only_is_caught() -> None:
    event = {"seq": 1, "job_id": "j", "status": "queued", "stage": "queued", "progress": 0.0, "message": "",
             "provider": "", "at": "2030-01-01T00:00:00.000Z", "position": 1}
    assert unknown_fields(event, Event) == []
    assert unknown_fields({**event, "queue_position": 1}, Event) == ["$.queue_position"]
    nested = {**event, "status": "failed", "error": {"code": "timeout", "message": "", "refunded": True, "why": 1}}
    assert unknown_fields(nested, Event) == ["$.error.why"]
    assert convert({**event, "queue_position": 1}, Event).position == 1  # the bot itself stays tolerant


def test_events_stored_before_the_structs_still_decode() -> None:
    """`job_events.data` as the agent stored it before agent.protocol had Structs (plain dicts)."""
    stored = [
        '{"seq":1,"job_id":"abc","status":"queued","stage":"queued","progress":0.0,"message":"queued: #1 in line",'
        '"provider":"","at":"2025-05-01T10:00:00.000Z","position":1}',
        '{"seq":4,"job_id":"abc","status":"running","stage":"image","progress":0.3,"message":"scene 1 image",'
        '"provider":"comfyui","at":"2025-05-01T10:00:03.000Z","position":null,"done":1,"total":4,"stage_done":false}',
        '{"seq":9,"job_id":"abc","status":"failed","stage":"failed","progress":0.3,"message":"no image service",'
        '"provider":"comfyui","at":"2025-05-01T10:00:09.000Z","position":null,"refunded":true,"error":{"code":'
        '"all_providers_failed","message":"no image service","refunded":true,"credits_refunded":5,"credits_left":100}}',
        '{"seq":12,"job_id":"abd","status":"done","stage":"done","progress":1.0,"message":"done","provider":"",'
        '"at":"2025-05-01T10:01:00.000Z","position":null,"result":{"title":"Cats","duration_s":27.5,"bytes":1000,'
        '"width":1080,"height":1920,"provenance":{"script":{"ollama":1}},"provenance_line":"script: ollama",'
        '"video_url":"/v1/jobs/abd/video","download_url":null,"credits_charged":5,"credits_left":95}}',
    ]
    events = [decode(data, Event) for data in stored]
    assert all(unknown_fields(json.loads(data), Event) == [] for data in stored)
    assert events[1].stage is Stage.IMAGE and events[1].stage_done is False and events[1].done == 1
    assert events[2].error is not None and events[2].error.code is ErrorCode.ALL_PROVIDERS_FAILED
    assert job_from_event(events[3]).cost == 5 and events[3].credits_left == 95


async def test_a_free_job_that_fails_is_not_reported_refunded(tmp_path: Path) -> None:
    """Issue 10: `refunded` was true for every failed job, free ones included, and the bot's wording
    patched around it. Now it is true only when credits were given back."""
    settings = make_settings(tmp_path, routes={"self-hosted": {"label": "Self-hosted", "price": 0}})
    async with run_agent(tmp_path, settings) as a:
        a.provider.enqueue(Unavailable("down"))
        job = await a.submit("free and failing")
        failed = await a.wait_status(job["id"], "failed")
        assert failed["refunded"] is False and failed["error"]["refunded"] is False
        assert failed["credits"] == {"reserved": 0, "charged": 0, "refunded": 0}
        resp = await a.client.get(f"/v1/jobs/{job['id']}/events", headers=AUTH)
        last = [e for _, e in (parse_sse_block(b) for b in (await resp.text()).split("\n\n")) if e][-1]
        assert last["refunded"] is False and last["error"]["refunded"] is False
        assert last["error"]["credits_refunded"] == 0
        text = wording.job_failed(convert(failed, Job))
        assert "Nothing was charged." in text and "refunded" not in text


async def test_a_paid_job_that_fails_says_refunded(tmp_path: Path) -> None:
    async with run_agent(tmp_path) as a:
        a.provider.enqueue(Unavailable("down"))
        job = await a.submit("paid and failing")
        failed = convert(await a.wait_status(job["id"], "failed"), Job)
        assert failed.refunded and failed.error is not None and failed.error.credits_refunded == 5
        assert "Your credits were refunded." in wording.job_failed(failed)


# ---------------------------------------------------------------------------- OpenAPI


async def test_openapi_lists_every_route_and_every_message(tmp_path: Path) -> None:
    async with run_agent(tmp_path) as a:
        resp = await a.client.get("/v1/openapi.json")
        assert resp.status == 401  # behind the token like every route
        resp = await a.client.get("/v1/openapi.json", headers=AUTH)
        assert resp.status == 200 and resp.content_type == "application/json"
        doc = await resp.json()
        registered = set()
        for route in a.app.router.routes():
            info = route.resource.get_info() if route.resource is not None else {}
            path = info.get("formatter") or info.get("path")
            # the contract is /v1; /metrics and /console are the operators' (agent.service.metrics, .console)
            if route.method != "HEAD" and path and path.startswith("/v1/"):
                registered.add((route.method.lower(), path))
    documented = {(method, path) for path, methods in doc["paths"].items() for method in methods}
    assert registered == documented
    assert {(op.method, op.path) for op in OPERATIONS} == documented
    assert doc["openapi"].startswith("3.1")
    schemas = doc["components"]["schemas"]

    def refs(node: Any) -> list[str]:
        if isinstance(node, dict):
            return ([node["$ref"]] if "$ref" in node else []) + [r for v in node.values() for r in refs(v)]
        return [r for v in node for r in refs(v)] if isinstance(node, list) else []

    for ref in refs(doc):
        assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in schemas, ref
    nested = {t.__name__ for kind in MESSAGES for t in _structs(msgspec.inspect.type_info(kind))}
    assert nested <= set(schemas) and {"JobStatus", "Stage", "ErrorCode"} <= set(schemas)
    assert set(schemas["ErrorCode"]["enum"]) == {c.value for c in ErrorCode}


def _structs(info: msgspec.inspect.Type) -> list[type]:
    if isinstance(info, msgspec.inspect.StructType):
        return [info.cls] + [t for f in info.fields for t in _structs(f.type)]
    if isinstance(info, msgspec.inspect.UnionType):
        return [t for option in info.types for t in _structs(option)]
    if isinstance(info, msgspec.inspect.ListType):
        return _structs(info.item_type)
    if isinstance(info, msgspec.inspect.DictType):
        return _structs(info.value_type)
    return []

