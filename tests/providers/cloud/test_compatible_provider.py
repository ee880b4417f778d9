"""Any OpenAI-compatible server as a script writer (vLLM, LM Studio, llama.cpp, OpenRouter...):
base URL, model, an optional key read from the variable the config names, the operator's tier."""

from __future__ import annotations

import json

import pytest

from agent.engine.backends import build_backends
from agent.settings import SettingsError, settings_from_mapping
from providers.base import ProviderDeps, ScriptRequest, Stage, Tier
from providers.compatible import CompatibleConfig, CompatibleScriptWriter
from providers.errors import ModelRetired
from tests.providers.cloud.cloud_fakes import SCRIPT, chat_answer, json_response

REQUEST = ScriptRequest(topic="tides", length="short", min_scenes=4, max_scenes=5, target_seconds=25)


async def test_a_local_server_without_a_key(cloud, deps, ctx):
    cloud.default("POST", "/v1/chat/completions", chat_answer(json.dumps(SCRIPT)))
    writer = CompatibleScriptWriter(CompatibleConfig(base_url=cloud.url("/v1"), model="Qwen/Qwen3-8B"), deps)
    assert writer.tier is Tier.SELF_HOSTED and writer.name == "openai_compatible"
    script = await writer.write_script(REQUEST, ctx)
    assert len(script.scenes) == 4
    seen = cloud.calls("POST", "/v1/chat/completions")[0]
    assert "Authorization" not in seen.headers
    body = seen.json()
    assert body["model"] == "Qwen/Qwen3-8B" and body["max_tokens"] == 4000 and "temperature" not in body
    assert body["response_format"]["type"] == "json_schema"


async def test_the_key_comes_from_the_variable_the_config_names_and_the_tier_is_the_operators(cloud, tmp_path):
    import aiohttp

    env = {"OPENROUTER_API_KEY": "sk-or-SECRET-1234"}
    s = settings_from_mapping({"providers": {"openai_compatible": {
        "base_url": cloud.url("/or/v1"), "model": "meta-llama/llama-4-scout", "api_key_env": "OPENROUTER_API_KEY",
        "tier": "cloud-free", "token_field": "max_completion_tokens", "temperature": 0.6}}}, env)
    cfg = s.providers["openai_compatible"]
    assert cfg.api_key == "sk-or-SECRET-1234" and "sk-or-SECRET-1234" in s.secrets()
    async with aiohttp.ClientSession() as session:
        backends = build_backends(s, ProviderDeps(session, lambda: 0.0, tmp_path))
        assert backends.tier_of("openai_compatible") is Tier.CLOUD_FREE
        writer = backends.get("openai_compatible", Stage.SCRIPT)
        cloud.default("POST", "/or/v1/chat/completions", chat_answer(json.dumps(SCRIPT)))
        from providers.base import StageContext

        await writer.write_script(REQUEST, StageContext("j"))  # type: ignore[union-attr]
    seen = cloud.calls("POST", "/or/v1/chat/completions")[0]
    assert seen.headers["Authorization"] == "Bearer sk-or-SECRET-1234"
    assert seen.json()["max_completion_tokens"] == 4000 and seen.json()["temperature"] == 0.6


def test_configuration():
    assert not CompatibleConfig().configured() and not CompatibleConfig(base_url="http://x/v1").configured()
    assert CompatibleConfig(base_url="http://x/v1", model="m").configured()
    with pytest.raises(SettingsError, match="is a secret"):
        settings_from_mapping({"providers": {"openai_compatible": {"api_key": "sk-in-a-file"}}})
    with pytest.raises(SettingsError, match="tier"):
        settings_from_mapping({"providers": {"openai_compatible": {"tier": "premium"}}})
    s = settings_from_mapping({"providers": {"openai_compatible": {"base_url": "http://x/v1", "model": "m"}}},
                              {"OPENAI_COMPATIBLE_API_KEY": "sk-default-1234"})
    assert s.providers["openai_compatible"].api_key == "sk-default-1234"


async def test_probe_says_when_the_model_is_not_served(cloud, deps):
    cloud.enqueue("GET", "/v1/models", json_response({"object": "list", "data": [{"id": "other-model"}]}))
    info = await CompatibleScriptWriter(CompatibleConfig(base_url=cloud.url("/v1"), model="mine"), deps).probe()
    assert info["problem"] == "model 'mine' is not listed by the server" and info["tier"] == "self-hosted"


async def test_a_retired_model_is_misconfigured_and_never_called_again(cloud, deps, ctx):
    cloud.default("POST", "/v1/chat/completions", json_response({"error": {
        "message": "The model `old-model` has been decommissioned.", "type": "invalid_request_error",
        "code": "model_decommissioned"}}, 404))
    cfg = CompatibleConfig(base_url=cloud.url("/v1"), model="old-model")
    with pytest.raises(ModelRetired) as info:
        await CompatibleScriptWriter(cfg, deps).write_script(REQUEST, ctx)
    assert "[providers.openai_compatible]" in info.value.hint
    with pytest.raises(ModelRetired):
        await CompatibleScriptWriter(cfg, deps).write_script(REQUEST, ctx)
    assert len(cloud.calls("POST")) == 1
