"""The shared HTTP edge: statuses and bodies into the error tree, retry-after, size bounds."""

from __future__ import annotations

import email.utils
import json

import pytest
from aiohttp import web

from providers.errors import (
    AuthFailed,
    BadOutput,
    Misconfigured,
    PaymentRequired,
    RateLimited,
    Unavailable,
)
from providers.http import CloudHTTP, classify_status, error_message, parse_retry_after
from tests.providers.cloud.cloud_fakes import fixture, json_response


def body(name: str) -> bytes:
    return json.dumps(fixture(name)).encode()


def test_retry_after_sources_in_priority_order():
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert parse_retry_after({"retry-after": "7"}) == 7.0
    date = email.utils.formatdate(1_000_030, usegmt=True)
    assert parse_retry_after({"retry-after": date}, now=1_000_000) == pytest.approx(30, abs=1)
    assert parse_retry_after({}, "Please try again in 5.289s. Visit") == pytest.approx(5.289)
    assert parse_retry_after({}, "try again in 1m30s") == 90
    assert parse_retry_after({}, "try again in 250ms") == 0.25
    assert parse_retry_after({}, "slow down") is None


@pytest.mark.parametrize(
    ("status", "fixture_name", "kind"),
    [
        (401, "openai_error_invalid_api_key.json", AuthFailed),
        (429, "openai_error_rate_limit.json", RateLimited),
        (400, "openai_error_content_policy.json", BadOutput),
        (429, "groq_error_rate_limit.json", RateLimited),
        (402, "hf_error_credits_exceeded.json", PaymentRequired),
        (401, "pollinations_error_401.json", AuthFailed),
        (402, "pollinations_error_402.json", PaymentRequired),
        (401, "streamelements_error_401.json", AuthFailed),
        (400, "groq_error_json_schema_unsupported.json", BadOutput),
    ],
)
def test_fixture_bodies_classify(status, fixture_name, kind):
    error = classify_status("svc", status, {}, body(fixture_name))
    assert type(error) is kind
    assert error.status == status and error.provider == "svc"


def test_other_statuses_and_codes():
    quota = json.dumps({"error": {"message": "You exceeded your current quota", "code": "insufficient_quota"}})
    assert type(classify_status("o", 429, {}, quota.encode())) is PaymentRequired
    assert type(classify_status("o", 503, {}, b"<html><body>Bad gateway</body></html>")) is Unavailable
    assert type(classify_status("o", 408, {}, b"")) is Unavailable
    missing = classify_status("o", 404, {}, b'{"error":{"message":"The model `x` does not exist","code":"model_not_found"}}',
                              model="x")
    assert isinstance(missing, Misconfigured) and "'x'" in missing.hint
    assert type(classify_status("o", 498, {}, b'{"error":{"message":"capacity_exceeded"}}')) is RateLimited
    rate = classify_status("o", 429, {"retry-after": "20"}, body("openai_error_rate_limit.json"))
    assert rate.retry_after_s == 20.0


def test_error_text_is_scrubbed_and_short():
    echo = json.dumps({"error": {"message": "Incorrect API key provided: sk-live-SECRET123. " + "x" * 2000}})
    error = classify_status("openai", 401, {}, echo.encode(), ("sk-live-SECRET123",))
    assert "SECRET123" not in str(error) and "***" in error.message
    assert len(error.message) < 400
    assert error_message(b"<h1>502 Bad Gateway</h1>")[0] == "502 Bad Gateway"


async def test_request_bounds_the_body_and_classifies_transport_errors(cloud, session):
    cloud.default("GET", "/big", web.Response(body=b"x" * 5000))
    http = CloudHTTP("svc", session, ("tok-SECRET",))
    with pytest.raises(BadOutput, match="limit"):
        await http.request("GET", cloud.url("/big"), max_bytes=1000)
    assert (await http.request("GET", cloud.url("/big"), max_bytes=10_000)).body == b"x" * 5000
    port = cloud.base.rsplit(":", 1)[1]
    await cloud.close()
    with pytest.raises(Unavailable, match="cannot reach"):
        await http.request("GET", f"http://127.0.0.1:{port}/gone")


async def test_request_without_a_session_is_unavailable():
    with pytest.raises(Unavailable):
        await CloudHTTP("svc", None).request("GET", "http://127.0.0.1:9/")


async def test_timeouts_are_unavailable(cloud, session):
    import asyncio

    async def slow(seen):
        await asyncio.sleep(1)
        return json_response({})

    cloud.default("GET", "/slow", slow)
    with pytest.raises(Unavailable, match="timed out"):
        await CloudHTTP("svc", session).request("GET", cloud.url("/slow"), timeout_s=0.1)
