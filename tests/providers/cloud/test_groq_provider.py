"""Groq against a fake OpenAI-compatible endpoint: json_schema -> json_object fallback, 429."""

from __future__ import annotations

import json

import pytest

from providers.base import ScriptRequest, Tier
from providers.errors import RateLimited
from providers.groq import GroqConfig, GroqScriptWriter
from tests.providers.cloud.cloud_fakes import SCRIPT, chat_answer, fixture, json_response

KEY = "gsk_test_SECRET_abcdef"


def request():
    return ScriptRequest(topic="cats in space", length="short", min_scenes=4, max_scenes=5, target_seconds=25)


def writer(cloud, deps):
    return GroqScriptWriter(GroqConfig(api_key=KEY, base_url=cloud.url("/openai/v1")), deps)


async def test_schema_rejected_falls_back_to_json_object_and_remembers(cloud, deps, ctx):
    path = "/openai/v1/chat/completions"
    cloud.enqueue("POST", path, json_response(fixture("groq_error_json_schema_unsupported.json"), 400))
    cloud.default("POST", path, chat_answer("```json\n" + json.dumps(SCRIPT) + "\n```"))
    w = writer(cloud, deps)
    assert w.tier is Tier.CLOUD_FREE and w.name == "groq"
    script = await w.write_script(request(), ctx)
    assert len(script.scenes) == 4
    kinds = [c.json()["response_format"]["type"] for c in cloud.calls("POST", path)]
    assert kinds == ["json_schema", "json_object"]
    assert cloud.calls("POST", path)[0].json()["model"] == "llama-3.3-70b-versatile"
    await w.write_script(request(), ctx)
    kinds = [c.json()["response_format"]["type"] for c in cloud.calls("POST", path)]
    assert kinds == ["json_schema", "json_object", "json_object"]


async def test_rate_limit_uses_header_then_message(cloud, deps, ctx):
    path = "/openai/v1/chat/completions"
    cloud.enqueue("POST", path, json_response(fixture("groq_error_rate_limit.json"), 429, {"retry-after": "7"}),
                  json_response(fixture("groq_error_rate_limit.json"), 429))
    w = writer(cloud, deps)
    with pytest.raises(RateLimited) as first:
        await w.write_script(request(), ctx)
    with pytest.raises(RateLimited) as second:
        await w.write_script(request(), ctx)
    assert first.value.retry_after_s == 7.0
    assert second.value.retry_after_s == 3.0  # "Please try again in 3s"


async def test_probe_and_configuration(cloud, deps):
    assert not GroqConfig().configured() and GroqConfig(api_key="gsk_1234").configured()
    cloud.default("GET", "/openai/v1/models", json_response({"data": [{"id": "llama-3.3-70b-versatile"}]}))
    assert (await writer(cloud, deps).probe())["script_model_listed"] is True
