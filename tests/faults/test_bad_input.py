"""Bad input at every endpoint of the agent: a clear 4xx, never a 500, never a traceback, no credit moved.

One table, swept against the real app (`create_app` with fake providers) over real HTTP on 127.0.0.1.
Most rows go through aiohttp's client; the rows whose bytes a well-behaved client cannot send (an
undecodable `Authorization` header, a raw byte in `Last-Event-ID`) are written on a raw socket.

Each row names what it sends and what must come back: the status, and the `error.code` when the
request reached the agent's handlers (the few the HTTP parser itself refuses have no JSON body). After
the sweep the users, ledger entries, jobs and balances are exactly as before, and nothing was logged
at ERROR or with a traceback.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.http_exceptions import BadHttpMessage
from sqlalchemy import func, select

from agent.service.app import DATABASE
from storage import QuotaLedger
from storage.models import JobRow, LedgerEntry, User
from tests.support.agent_app import AUTH, TOKEN, Agent, run_agent

pytestmark = pytest.mark.timeout(60)

USER = {"platform": "discord", "id": "1", "name": "Ann"}
SIZE = 2048  # FakeRenderer's video


def _job(**over: Any) -> bytes:
    """A submission that would be accepted, with `over` replacing fields (raw JSON text allowed)."""
    fields = {"request_id": '"bad-1"', "user": json.dumps(USER), "topic": '"cats in space"', "options": "{}"}
    fields.update(over)
    return ("{" + ",".join(f'"{k}":{v}' for k, v in fields.items()) + "}").encode()


@dataclass(frozen=True)
class Row:
    name: str
    method: str
    path: str  # "{job}" is the finished job's id
    status: int
    code: str | None  # error.code; None when the HTTP parser answers before the agent (no JSON)
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    raw_headers: bytes = b""  # written as is on a raw socket (bytes a normal client refuses to send)
    auth: bool = True
    content_range: bool = False  # a 416 must say the size: Content-Range: bytes */SIZE


def _nest(depth: int) -> str:
    return "[" * depth + "]" * depth


SUBMIT = "/v1/jobs"
GRANT = "/v1/users/discord/1/credits"
EVENTS = "/v1/jobs/{job}/events"
VIDEO = "/v1/jobs/{job}/video"

ROWS: list[Row] = [
    # --- lone surrogates, anywhere in the body (json accepts "\ud800" escapes; UTF-8 cannot hold them)
    Row("surrogate in topic", "POST", SUBMIT, 400, "bad_request", _job(topic=r'"cats \ud800"')),
    Row("low surrogate in topic", "POST", SUBMIT, 400, "bad_request", _job(topic=r'"\udfff"')),
    Row("reversed pair in topic", "POST", SUBMIT, 400, "bad_request", _job(topic=r'"x\udc00\ud800"')),
    Row("surrogate in request_id", "POST", SUBMIT, 400, "bad_request", _job(request_id=r'"r\ud800"')),
    Row("surrogate in user.id", "POST", SUBMIT, 400, "bad_request",
        _job(user=r'{"platform":"discord","id":"\ud800"}')),
    Row("surrogate in user.name", "POST", SUBMIT, 400, "bad_request",
        _job(user=r'{"platform":"discord","id":"1","name":"A\ud800"}')),
    Row("surrogate in options.voice", "POST", SUBMIT, 400, "bad_request", _job(options=r'{"voice":"\ud800"}')),
    Row("surrogate in options.model", "POST", SUBMIT, 400, "bad_request", _job(options=r'{"model":"\ud800"}')),
    Row("surrogate in a key", "POST", SUBMIT, 400, "bad_request", _job(options=r'{"\ud800":1}')),
    Row("surrogate in the note of a grant", "POST", GRANT, 400, "bad_request", rb'{"amount":5,"note":"\ud800"}'),
    # --- nesting
    Row("array nested 8000 deep", "POST", SUBMIT, 400, "bad_request", _nest(8000).encode()),
    Row("object nested 2000 deep", "POST", SUBMIT, 400, "bad_request",
        ('{"a":' * 2000 + "1" + "}" * 2000).encode()),
    Row("nested 5000 deep inside options", "POST", SUBMIT, 400, "bad_request", _job(options=_nest(5000))),
    Row("nested 64 deep inside options", "POST", SUBMIT, 400, "bad_request",
        _job(options='{"voice":' + _nest(64) + "}")),
    Row("grant nested 8000 deep", "POST", GRANT, 400, "bad_request", _nest(8000).encode()),
    # --- numbers
    Row("max_bytes 1e400", "POST", SUBMIT, 400, "invalid_input", _job(options='{"max_bytes":1e400}')),
    Row("max_bytes NaN", "POST", SUBMIT, 400, "bad_request", _job(options='{"max_bytes":NaN}')),
    Row("max_bytes -Infinity", "POST", SUBMIT, 400, "bad_request", _job(options='{"max_bytes":-Infinity}')),
    Row("max_bytes with 5000 digits", "POST", SUBMIT, 400, "bad_request", _job(options='{"max_bytes":' + "9" * 5000 + "}")),
    Row("max_bytes 2^64", "POST", SUBMIT, 400, "invalid_input", _job(options='{"max_bytes":18446744073709551616}')),
    Row("user.id 10^100", "POST", SUBMIT, 400, "bad_request",
        _job(user='{"platform":"discord","id":1' + "0" * 100 + "}")),
    Row("grant 1e400", "POST", GRANT, 400, "invalid_input", b'{"amount":1e400}'),
    Row("grant NaN", "POST", GRANT, 400, "bad_request", b'{"amount":NaN}'),
    Row("grant 10^30", "POST", GRANT, 400, "invalid_input", b'{"amount":1' + b"0" * 30 + b"}"),
    Row("grant 5000 digits", "POST", GRANT, 400, "bad_request", b'{"amount":' + b"9" * 5000 + b"}"),
    Row("grant 0", "POST", GRANT, 400, "invalid_input", b'{"amount":0}'),
    # --- wrong types and shapes
    Row("topic a list", "POST", SUBMIT, 400, "invalid_input", _job(topic="[]")),
    Row("topic an object", "POST", SUBMIT, 400, "invalid_input", _job(topic="{}")),
    Row("topic null", "POST", SUBMIT, 400, "invalid_input", _job(topic="null")),
    Row("topic true", "POST", SUBMIT, 400, "invalid_input", _job(topic="true")),
    Row("user a string", "POST", SUBMIT, 400, "bad_request", _job(user='"discord:1"')),
    Row("user.platform a number", "POST", SUBMIT, 400, "bad_request", _job(user='{"platform":5,"id":"1"}')),
    Row("user.id a float", "POST", SUBMIT, 400, "bad_request", _job(user='{"platform":"discord","id":1.5}')),
    Row("user.id true", "POST", SUBMIT, 400, "bad_request", _job(user='{"platform":"discord","id":true}')),
    Row("options a list", "POST", SUBMIT, 400, "bad_request", _job(options="[1]")),
    Row("options.aspect a number", "POST", SUBMIT, 400, "invalid_input", _job(options='{"aspect":9}')),
    Row("options.model a list", "POST", SUBMIT, 400, "invalid_input", _job(options='{"model":["a"]}')),
    Row("request_id a number", "POST", SUBMIT, 400, "bad_request", _job(request_id="5")),
    Row("body null", "POST", SUBMIT, 400, "bad_request", b"null"),
    Row("body a string", "POST", SUBMIT, 400, "bad_request", b'"x"'),
    Row("body a number", "POST", SUBMIT, 400, "bad_request", b"5"),
    Row("body empty", "POST", SUBMIT, 400, "bad_request", b""),
    Row("body not JSON", "POST", SUBMIT, 400, "bad_request", b"{topic: cats}"),
    Row("body invalid UTF-8", "POST", SUBMIT, 400, "bad_request", _job(topic='"\xff"').replace(b"\xc3\xbf", b"\xff")),
    Row("body gzip that is not", "POST", SUBMIT, 400, None, b"not gzip at all", {"Content-Encoding": "gzip"}),
    Row("grant body a list", "POST", GRANT, 400, "bad_request", b"[5]"),
    Row("grant amount a string", "POST", GRANT, 400, "invalid_input", b'{"amount":"5"}'),
    Row("grant amount true", "POST", GRANT, 400, "invalid_input", b'{"amount":true}'),
    Row("grant note a number", "POST", GRANT, 400, "bad_request", b'{"amount":5,"note":5}'),
    # --- topics a user cannot see, or that turn the title around
    Row("topic only U+200B", "POST", SUBMIT, 400, "invalid_input", _job(topic=r'"\u200b"')),
    Row("topic only invisible marks", "POST", SUBMIT, 400, "invalid_input", _job(topic=r'"\u200b \u2060\ufeff\u200d"')),
    Row("topic only a combining mark", "POST", SUBMIT, 400, "invalid_input", _job(topic=r'"\u0301\u0301"')),
    Row("topic only Hangul fillers", "POST", SUBMIT, 400, "invalid_input", _job(topic=r'"\u3164\u3164"')),
    Row("topic with U+202E", "POST", SUBMIT, 400, "invalid_input", _job(topic=r'"Cats \u202egnp.exe"')),
    Row("topic with U+2066..2069", "POST", SUBMIT, 400, "invalid_input", _job(topic=r'"a \u2066b\u2069"')),
    Row("topic with U+200F", "POST", SUBMIT, 400, "invalid_input", _job(topic=r'"cats\u200f"')),
    Row("topic with U+061C", "POST", SUBMIT, 400, "invalid_input", _job(topic=r'"cats\u061c"')),
    # --- path parameters
    Row("job id with a newline", "GET", "/v1/jobs/abcdefgh%0A", 404, "not_found"),
    Row("job id undecodable", "GET", "/v1/jobs/abcdefgh%ED%A0%80", 404, "not_found"),
    Row("job id 5000 long", "GET", "/v1/jobs/" + "a" * 5000, 404, "not_found"),
    Row("cancel job id with a newline", "DELETE", "/v1/jobs/abcdefgh%0A", 404, "not_found"),
    # (an undecodable %-escape stays as its literal text: a user id like any other, read without writing)
    Row("quota user id undecodable", "GET", "/v1/users/discord/%ED%A0%80/quota", 200, None),
    Row("quota user id bytes ff", "GET", "/v1/users/discord/%FF/quota", 200, None),
    Row("quota user id NUL", "GET", "/v1/users/discord/a%00b/quota", 404, "not_found"),
    Row("quota user id U+202E", "GET", "/v1/users/discord/a%E2%80%AEb/quota", 404, "not_found"),
    Row("quota user id 65 long", "GET", "/v1/users/discord/" + "1" * 65 + "/quota", 404, "not_found"),
    Row("quota platform with a newline", "GET", "/v1/users/discord%0A/1/quota", 404, "not_found"),
    Row("grant platform with a newline", "POST", "/v1/users/discord%0A/1/credits", 404, "not_found", b'{"amount":5}'),
    # --- Last-Event-ID (header and query)
    Row("Last-Event-ID 2^63", "GET", EVENTS, 400, "bad_request", headers={"Last-Event-ID": str(2**63)}),
    Row("Last-Event-ID 5000 digits", "GET", EVENTS, 400, "bad_request", headers={"Last-Event-ID": "9" * 5000}),
    Row("Last-Event-ID negative", "GET", EVENTS, 400, "bad_request", headers={"Last-Event-ID": "-1"}),
    Row("Last-Event-ID a fraction", "GET", EVENTS, 400, "bad_request", headers={"Last-Event-ID": "1.5"}),
    Row("Last-Event-ID letters", "GET", EVENTS, 400, "bad_request", headers={"Last-Event-ID": "abc"}),
    Row("Last-Event-ID with underscores", "GET", EVENTS, 400, "bad_request", headers={"Last-Event-ID": "1_0"}),
    Row("Last-Event-ID Arabic-Indic digits", "GET", EVENTS, 400, "bad_request", raw_headers="Last-Event-ID: ١٢\r\n".encode()),
    Row("Last-Event-ID byte ff", "GET", EVENTS, 400, "bad_request", raw_headers=b"Last-Event-ID: 1\xff\r\n"),
    Row("last_event_id query 2^64", "GET", EVENTS + "?last_event_id=18446744073709551616", 400, "bad_request"),
    Row("Last-Event-ID 2^63 on an unknown job", "GET", "/v1/jobs/abcdefghijkl/events", 400, "bad_request",
        headers={"Last-Event-ID": str(2**63)}),
    # --- Range
    Row("Range bytes=-0", "GET", VIDEO, 416, "range_not_satisfiable", headers={"Range": "bytes=-0"}, content_range=True),
    Row("Range past the end", "GET", VIDEO, 416, "range_not_satisfiable", headers={"Range": f"bytes={SIZE}-"},
        content_range=True),
    Row("Range start 10^21", "GET", VIDEO, 416, "range_not_satisfiable", headers={"Range": "bytes=1" + "0" * 21 + "-"},
        content_range=True),
    Row("Range 5000 digits", "GET", VIDEO, 416, "range_not_satisfiable", headers={"Range": "bytes=" + "9" * 5000 + "-"},
        content_range=True),
    Row("Range reversed", "GET", VIDEO, 416, "range_not_satisfiable", headers={"Range": "bytes=5-1"}, content_range=True),
    Row("Range garbage", "GET", VIDEO, 416, "range_not_satisfiable", headers={"Range": "bytes=abc"}, content_range=True),
    Row("Range empty", "GET", VIDEO, 416, "range_not_satisfiable", headers={"Range": "bytes=-"}, content_range=True),
    Row("Range two parts", "GET", VIDEO, 416, "range_not_satisfiable", headers={"Range": "bytes=0-1,4-5"},
        content_range=True),
    Row("Range bytes=-0 on HEAD", "HEAD", VIDEO, 416, None, headers={"Range": "bytes=-0"}, content_range=True),
    # --- Authorization
    Row("Authorization bytes ff", "GET", "/v1/status", 401, "unauthorized", auth=False,
        raw_headers=b"Authorization: Bearer \xff\xfe\r\n"),
    Row("Authorization UTF-8 e-acute", "GET", "/v1/status", 401, "unauthorized", auth=False,
        raw_headers="Authorization: Bearer é\r\n".encode()),
    Row("Authorization undecodable scheme", "POST", SUBMIT, 401, "unauthorized", _job(), auth=False,
        raw_headers=b"Authorization: B\xe9arer x\r\n"),
    Row("Authorization token plus a byte", "GET", "/v1/status", 401, "unauthorized", auth=False,
        raw_headers=f"Authorization: Bearer {TOKEN}".encode() + b"\x80\r\n"),
    Row("Authorization 6000 characters", "GET", "/v1/status", 401, "unauthorized", auth=False,
        headers={"Authorization": "Bearer " + "x" * 6000}),
    Row("Authorization with a NUL", "GET", "/v1/status", 400, None, auth=False,
        raw_headers=b"Authorization: Bearer a\x00b\r\n"),
    # --- routes and methods
    Row("unknown route", "GET", "/v1/nope", 404, "not_found"),
    Row("wrong method", "PUT", SUBMIT, 405, "bad_request", b"{}"),
]


async def _raw(host: str, port: int, method: str, path: str, headers: bytes, body: bytes | None) -> tuple[int, bytes, bytes]:
    """One request on a raw socket: (status, header block, body)."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        head = f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n".encode() + headers
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n".encode()
        writer.write(head + b"\r\n" + (body or b""))
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    header_block, _, payload = data.partition(b"\r\n\r\n")
    return int(header_block.split(b" ", 2)[1]), header_block, payload


async def _send(a: Agent, row: Row, job_id: str) -> tuple[int, dict[str, str], bytes]:
    path = row.path.replace("{job}", job_id)
    headers = {**(AUTH if row.auth else {}), **row.headers}
    if row.raw_headers:
        host, port = a.client.server.host, a.client.server.port
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items()).encode() + row.raw_headers
        status, block, body = await _raw(str(host), int(port), row.method, path, extra, row.body)
        parsed = {}
        for line in block.split(b"\r\n")[1:]:
            key, _, value = line.decode("latin-1").partition(":")
            parsed[key.strip().lower()] = value.strip()
        if parsed.get("transfer-encoding") == "chunked":
            body = body.split(b"\r\n", 1)[1].rsplit(b"\r\n0\r\n", 1)[0]
        return status, parsed, body
    if row.body is not None:
        headers.setdefault("Content-Type", "application/json")
    async with a.client.request(row.method, path, data=row.body, headers=headers, skip_auto_headers=("Content-Type",)
                                if row.body is None else ()) as resp:
        return resp.status, {k.lower(): v for k, v in resp.headers.items()}, await resp.read()


async def _state(a: Agent) -> tuple[Any, ...]:
    db = a.app[DATABASE]
    totals = await QuotaLedger(db).totals()

    def counts(session: Any) -> tuple[int, int, int]:
        return tuple(session.execute(select(func.count()).select_from(t)).scalar_one()  # type: ignore[return-value]
                     for t in (User, LedgerEntry, JobRow))

    return totals, await db.read(counts)


async def test_bad_input_sweep_every_endpoint_4xx_never_500(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async with run_agent(tmp_path) as a:
        job = await a.submit("a finished job", request_id="done-1", user="1")
        await a.wait_status(job["id"], "done")
        before = await _state(a)
        caplog.set_level(logging.INFO)
        caplog.clear()
        failures: list[str] = []
        for row in ROWS:
            try:
                status, headers, body = await asyncio.wait_for(_send(a, row, job["id"]), 10)
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                failures.append(f"{row.name}: no answer ({exc!r})")
                continue
            what = f"{row.name}: {status} {body[:160]!r}"
            if status != row.status:
                failures.append(f"{what} (expected {row.status})")
                continue
            if row.code is not None:
                try:
                    error = json.loads(body)["error"]
                except (ValueError, KeyError, TypeError):
                    failures.append(f"{what} (expected a JSON error)")
                    continue
                if error.get("code") != row.code or not error.get("message"):
                    failures.append(f"{what} (expected code {row.code})")
            if row.content_range and headers.get("content-range") != f"bytes */{SIZE}":
                failures.append(f"{what} (Content-Range {headers.get('content-range')!r})")
        assert not failures, "\n".join(failures)
        assert await _state(a) == before, "bad input changed users, ledger or jobs"
        # aiohttp's own HTTP parser logs the bytes it refuses (a NUL in a header) with a traceback
        # before any of our code runs; everything that reached the agent must be quiet
        noisy = [r for r in caplog.records if (r.levelno >= logging.ERROR or r.exc_info)
                 and not (r.exc_info and isinstance(r.exc_info[1], BadHttpMessage))]
        assert not noisy, [f"{r.name}: {r.getMessage()}" for r in noisy]
        # and the agent still works for good input: a valid pair (an emoji) and a ZWJ sequence are fine
        ok = await a.submit("cats \U0001f431 \U0001f469\u200d\U0001f4bb", request_id="good-1", user="2")
        assert ok["topic"] == "cats \U0001f431 \U0001f469\u200d\U0001f4bb"


async def test_valid_ranges_still_answer_206(tmp_path: Path) -> None:
    async with run_agent(tmp_path) as a:
        job = await a.submit("ranges", request_id="r-1")
        await a.wait_status(job["id"], "done")
        url = f"/v1/jobs/{job['id']}/video"
        whole = await (await a.client.get(url, headers=AUTH)).read()
        for rng, start, end in (("bytes=0-0", 0, 0), ("bytes=-1", SIZE - 1, SIZE - 1), ("bytes=100-", 100, SIZE - 1),
                                ("bytes=-5000", 0, SIZE - 1), ("bytes=10-99999", 10, SIZE - 1),
                                (f"bytes={SIZE - 1}-", SIZE - 1, SIZE - 1)):
            resp = await a.client.get(url, headers={**AUTH, "Range": rng})
            assert resp.status == 206, rng
            assert resp.headers["Content-Range"] == f"bytes {start}-{end}/{SIZE}", rng
            assert await resp.read() == whole[start:end + 1], rng


async def test_quota_get_has_no_side_effects(tmp_path: Path) -> None:
    async with run_agent(tmp_path) as a:
        before = await _state(a)
        for user in ("new-1", "new-2", "\U0001f431", "x" * 64):
            quota = await a.quota(user)
            assert quota["balance"] == 100 and quota["in_flight"] == 0  # a new user's full allowance
        assert await _state(a) == before
