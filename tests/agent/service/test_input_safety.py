"""Client input that used to raise inside a handler (500 and a traceback) or write on a GET.

Lone surrogates and deep nesting in JSON, undecodable `Authorization` bytes, unsatisfiable `Range`s,
odd path parameters, and GET /quota for a user nobody has seen. (The whole sweep over every
endpoint: tests/faults/test_bad_input.py.)
"""

from __future__ import annotations

import asyncio
import logging

import pytest
from sqlalchemy import func, select

from agent.service.app import DATABASE
from agent.service.http_input import MAX_JSON_DEPTH, BadInput, parse_json_body
from storage import QuotaLedger
from storage.models import LedgerEntry, User
from tests.support.agent_app import AUTH, TOKEN, Agent

JOB = '{"request_id":"r1","user":{"platform":"discord","id":"1"},"topic":%s,"options":%s}'


async def _post(a: Agent, path: str, body: str | bytes) -> tuple[int, dict]:  # type: ignore[type-arg]
    data = body.encode() if isinstance(body, str) else body
    resp = await a.client.post(path, data=data, headers={**AUTH, "Content-Type": "application/json"})
    return resp.status, await resp.json()


async def _rows(a: Agent) -> tuple[int, int]:
    return await a.app[DATABASE].read(lambda s: (
        s.execute(select(func.count()).select_from(User)).scalar_one(),
        s.execute(select(func.count()).select_from(LedgerEntry)).scalar_one()))


@pytest.mark.parametrize("body", [
    JOB % (r'"cats \ud800"', "{}"),
    JOB % (r'"\udc00 reversed \ud800"', "{}"),
    JOB % ('"cats"', r'{"voice":"\ud800"}'),
    JOB % ('"cats"', r'{"\udfff":1}'),
    '{"request_id":"r\\ud800","user":{"platform":"discord","id":"1"},"topic":"cats"}',
    '{"request_id":"r","user":{"platform":"discord","id":"1","name":"\\ud83d"},"topic":"cats"}',
])
async def test_a_lone_surrogate_anywhere_is_a_400(agent_factory, body, caplog):
    async with agent_factory() as a:
        status, data = await _post(a, "/v1/jobs", body)
        assert status == 400 and data["error"]["code"] == "bad_request"
        assert "surrogate" in data["error"]["message"]
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert await _rows(a) == (0, 0)


async def test_deep_nesting_and_non_numbers_are_400s(agent_factory, caplog):
    async with agent_factory() as a:
        for body in ("[" * 8000 + "]" * 8000, '{"a":' * 2000 + "1" + "}" * 2000, JOB % ('"x"', "[" * 64 + "]" * 64)):
            status, data = await _post(a, "/v1/jobs", body)
            assert status == 400 and "nested too deeply" in data["error"]["message"]
        for body in (JOB % ('"x"', '{"max_bytes":NaN}'), JOB % ('"x"', '{"max_bytes":Infinity}')):
            status, data = await _post(a, "/v1/jobs", body)
            assert status == 400 and data["error"]["code"] == "bad_request"
        status, data = await _post(a, "/v1/users/discord/1/credits", '{"amount":5,"note":"\\ud800"}')
        assert status == 400 and "surrogate" in data["error"]["message"]
        status, _ = await _post(a, "/v1/users/discord/1/credits", "[" * 8000 + "]" * 8000)
        assert status == 400
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert await _rows(a) == (0, 0)


async def _raw_status(a: Agent, header: bytes) -> tuple[int, bytes]:
    host, port = a.client.server.host, a.client.server.port
    reader, writer = await asyncio.open_connection(str(host), int(port))
    writer.write(b"GET /v1/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + header + b"\r\n\r\n")
    data = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


async def test_undecodable_authorization_bytes_are_a_401(agent_factory):
    async with agent_factory() as a:
        for header in (b"Authorization: Bearer \xff\xfe", f"Authorization: Bearer {TOKEN}".encode() + b"\x80",
                       "Authorization: Bearer é".encode(), b"Authorization: B\xe9arer x"):
            status, body = await _raw_status(a, header)
            assert status == 401 and b"unauthorized" in body, header
        status, _ = await _raw_status(a, f"Authorization: Bearer {TOKEN}".encode())
        assert status == 200


async def test_unsatisfiable_ranges_are_416_with_the_size(agent_factory):
    async with agent_factory() as a:
        job = await a.submit()
        await a.wait_status(job["id"], "done")
        url = f"/v1/jobs/{job['id']}/video"
        for rng in ("bytes=-0", "bytes=2048-", "bytes=5-1", "bytes=0-1,5-6", "bytes=x", "bytes=" + "9" * 5000 + "-"):
            resp = await a.client.get(url, headers={**AUTH, "Range": rng})
            assert resp.status == 416, rng
            assert resp.headers["Content-Range"] == "bytes */2048"
            assert (await resp.json())["error"]["code"] == "range_not_satisfiable"
        head = await a.client.head(url, headers={**AUTH, "Range": "bytes=-0"})
        assert head.status == 416
        part = await a.client.get(url, headers={**AUTH, "Range": "bytes=-10"})
        assert part.status == 206 and part.headers["Content-Range"] == "bytes 2038-2047/2048"
        # an If-Range older than the file: the Range is ignored and the whole file sent (200)
        stale = await a.client.get(url, headers={**AUTH, "Range": "bytes=-0", "If-Range": "Mon, 01 Jan 2001 00:00:00 GMT"})
        assert stale.status == 200 and len(await stale.read()) == 2048


async def test_get_quota_writes_nothing_and_answers_as_for_a_new_user(agent_factory):
    async with agent_factory() as a:
        for user in ("newcomer", "x" * 64, "\U0001f431"):
            quota = await a.quota(user)
            assert quota["balance"] == quota["credits_left"] == 100 and quota["in_flight"] == 0
        assert await _rows(a) == (0, 0)
        assert (await QuotaLedger(a.app[DATABASE]).totals()).allowance == 0
        # a real user: the same numbers before and after their first job; a new quota day shows the top-up
        await a.submit(user="7")
        assert (await a.quota("7"))["balance"] == 95
        rows = await _rows(a)
        a.wall.advance(24 * 3600)
        assert (await a.quota("7"))["balance"] == 100  # what tomorrow's allowance would give, not yet written
        assert await _rows(a) == rows
        # credits still create the user
        resp = await a.client.post("/v1/users/telegram/9/credits", json={"amount": 5}, headers=AUTH)
        assert resp.status == 200 and (await resp.json())["balance"] == 105


@pytest.mark.parametrize("path", ["/v1/users/discord%0A/1/quota", "/v1/users/discord/a%00b/quota",
                                  "/v1/users/discord/a%E2%80%AEb/quota", "/v1/jobs/abcdefgh%0A",
                                  "/v1/jobs/abcdefgh%0A/events"])
async def test_path_parameters_match_whole(agent_factory, path):
    async with agent_factory() as a:
        resp = await a.client.get(path, headers=AUTH)
        assert resp.status == 404 and (await resp.json())["error"]["code"] == "not_found"
        resp = await a.client.post("/v1/users/discord%0A/1/credits", json={"amount": 5}, headers=AUTH)
        assert resp.status == 404
        assert await _rows(a) == (0, 0)


async def test_a_body_that_does_not_decode_is_a_400_without_a_traceback(agent_factory, caplog):
    async with agent_factory() as a:
        resp = await a.client.post("/v1/jobs", data=b"not gzip", headers={**AUTH, "Content-Encoding": "gzip"})
        assert resp.status == 400 and (await resp.json())["error"]["code"] == "bad_request"
        await asyncio.sleep(0.05)
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


# parse_json_body skips its walk of the parsed body when the raw bytes cannot hold what it looks for
# (agent.service.http_input._may_offend): every way they can must still be caught


@pytest.mark.parametrize("raw", [
    b'{"topic":"cats \\ud800"}',  # an escape
    b'{"topic":"cats \xed\xa0\x80"}',  # a surrogate's own UTF-8 bytes (json.loads decodes them)
    '{"topic":"cats \ud800"}'.encode("utf-16-le", "surrogatepass"),  # json.loads takes UTF-16 too
    '{"topic":"cats \ud800"}'.encode("utf-32-be", "surrogatepass"),
])
def test_every_way_to_a_lone_surrogate_is_still_refused(raw):
    with pytest.raises(BadInput, match="surrogate"):
        parse_json_body(raw)


def test_nesting_past_the_limit_is_still_refused_and_at_it_passes():
    with pytest.raises(BadInput, match="nested too deeply"):
        parse_json_body(b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1))
    assert parse_json_body(b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH) is not None
    nested = '{"a":' * MAX_JSON_DEPTH + "1" + "}" * MAX_JSON_DEPTH
    assert parse_json_body(nested.encode("utf-16")) is not None  # the walk runs, and finds nothing


def test_text_that_looks_like_a_surrogate_to_the_bytes_check_passes():
    """Hangul syllables from U+D000 start with the byte 0xED in UTF-8, as surrogates would."""
    assert parse_json_body('{"topic":"우주의 고양이 퀘"}'.encode()) == {"topic": "우주의 고양이 퀘"}
