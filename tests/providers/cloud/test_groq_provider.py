"""Groq against a fake OpenAI-compatible endpoint: json_schema -> json_object fallback, 429, the
current default model, a decommissioned model, and strict schemas without array bounds."""

from __future__ import annotations

import json

import pytest

from providers.base import ScriptRequest, Tier
from agent.engine.health import HealthBoard
from agent.settings import CascadeSettings
from providers.errors import ModelRetired, RateLimited
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
    assert cloud.calls("POST", path)[0].json()["model"] == "openai/gpt-oss-120b"
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
    cloud.default("GET", "/openai/v1/models", json_response({"data": [{"id": "openai/gpt-oss-120b"}]}))
    assert (await writer(cloud, deps).probe())["script_model_listed"] is True


def test_the_default_model_is_not_the_decommissioned_one():
    assert GroqConfig().script_model == "openai/gpt-oss-120b"


async def test_model_decommissioned_is_a_configuration_error_with_cooldown_and_hint(cloud, deps, ctx, clock):
    path = "/openai/v1/chat/completions"
    cloud.default("POST", path, json_response(fixture("groq_error_model_decommissioned.json"), 400))
    w = GroqScriptWriter(GroqConfig(api_key=KEY, base_url=cloud.url("/openai/v1"),
                                    script_model="llama-3.3-70b-versatile"), deps)
    with pytest.raises(ModelRetired) as info:
        await w.write_script(request(), ctx)
    assert info.value.kind == "model_retired" and info.value.status == 400
    assert "[providers.groq]" in info.value.hint and "llama-3.3-70b-versatile" in info.value.hint
    board = HealthBoard(CascadeSettings(), clock)
    assert board.record_failure("groq", "script", info.value) == CascadeSettings().misconfigured_cooldown_s
    assert board.get("groq", "script").hint == info.value.hint
    with pytest.raises(ModelRetired):  # not called again
        await w.write_script(request(), ctx)
    assert len(cloud.calls("POST", path)) == 1  # the json_schema retry did not fire either
    cloud.default("GET", "/openai/v1/models", json_response({"data": [{"id": "openai/gpt-oss-120b"}]}))
    info2 = await w.probe()
    assert "llama-3.3-70b-versatile is retired" in info2["problem"]
    assert info2["hint"] == 'set [providers.groq] script_model = "openai/gpt-oss-120b"'


async def test_strict_schema_has_no_array_bounds_so_json_schema_is_kept(cloud, deps, ctx):
    path = "/openai/v1/chat/completions"

    def groq(seen):  # Groq refuses minItems/maxItems in strict mode
        fmt = seen.json()["response_format"]
        if fmt["type"] == "json_schema" and "minItems" in json.dumps(fmt):
            return json_response(fixture("groq_error_strict_array_bounds.json"), 400)
        return chat_answer(json.dumps(SCRIPT))

    cloud.default("POST", path, groq)
    w = writer(cloud, deps)
    await w.write_script(request(), ctx)
    await w.write_script(request(), ctx)
    sent = cloud.calls("POST", path)
    assert [c.json()["response_format"]["type"] for c in sent] == ["json_schema", "json_schema"]
    body = sent[0].json()
    assert body["response_format"]["json_schema"]["strict"] is True
    assert body["max_completion_tokens"] == 8000 and "temperature" not in body
