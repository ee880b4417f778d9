import json
import socket

import pytest

from providers.base import ScriptRequest, StageContext
from providers.errors import BadOutput, Misconfigured, RateLimited, Unavailable
from providers.ollama import OllamaConfig, OllamaScriptWriter
from tests.providers.fake_servers import FakeOllama, serve
from tests.providers.fake_servers.ollama import script_json

REQ = ScriptRequest(topic='cats "in" {space}\\', length="short", min_scenes=4, max_scenes=5, target_seconds=25)


def writer(url, deps, **kw):
    return OllamaScriptWriter(OllamaConfig(url=url, **kw), deps)


async def test_writes_a_script_with_schema_options_and_no_streaming(deps):
    fake = FakeOllama()
    async with serve(fake) as url:
        script = await writer(url, deps, temperature=0.3, num_ctx=8192, keep_alive="10m").write_script(REQ, StageContext("j"))
    assert len(script.scenes) == 4 and script.title == "Stars"
    body = fake.requests[0]
    assert body["stream"] is False
    assert body["model"] == "llama3.2:3b"
    assert body["format"]["properties"]["scenes"]["minItems"] == 4
    assert body["options"] == {"temperature": 0.3, "num_ctx": 8192}
    assert body["keep_alive"] == "10m"
    assert body["messages"][-1] == {"role": "user", "content": REQ.topic}  # the topic verbatim, as data


async def test_unloads_on_last_call_only_when_gpu_shared(deps):
    fake = FakeOllama()
    async with serve(fake) as url:
        w = writer(url, deps)
        await w.write_script(REQ, StageContext("j", last_call=True))
        w.set_gpu_shared(True)
        await w.write_script(REQ, StageContext("j", last_call=True))
    assert [r["keep_alive"] for r in fake.requests] == ["5m", 0]


async def test_one_repair_attempt_then_bad_output(deps):
    fake = FakeOllama()
    fake.replies.extend([script_json(2), script_json(4)])
    async with serve(fake) as url:
        script = await writer(url, deps).write_script(REQ, StageContext("j"))
        assert len(script.scenes) == 4
        assert len(fake.requests) == 2
        repair = fake.requests[1]["messages"]
        assert repair[-2]["role"] == "assistant" and "2 scenes" in repair[-1]["content"]
        fake.replies.extend(["not json at all", json.dumps({"title": "x", "scenes": [{"narration": "", "visual": "v"}] * 4})])
        with pytest.raises(BadOutput, match="after one repair.*no narration"):
            await writer(url, deps).write_script(REQ, StageContext("j"))
    assert len(fake.requests) == 4


async def test_missing_model_is_misconfigured_with_pull_hint(deps):
    fake = FakeOllama()
    async with serve(fake) as url:
        with pytest.raises(Misconfigured) as info:
            await writer(url, deps, model="qwen2.5:7b").write_script(REQ, StageContext("j"))
        assert info.value.hint == "run `ollama pull qwen2.5:7b`"
        probe = await writer(url, deps, model="qwen2.5:7b").probe()
    assert probe["hint"] == "run `ollama pull qwen2.5:7b`" and "not pulled" in probe["problem"]


async def test_probe_reports_version_tags_and_loaded_models(deps):
    fake = FakeOllama()
    async with serve(fake) as url:
        info = await writer(url, deps).probe()
    assert info["version"] == "0.5.1"
    assert "llama3.2:3b" in info["models"] and info["loaded"] == ["mistral:latest"]
    assert "problem" not in info


@pytest.mark.parametrize("behaviour, error", [
    ("midstream_error", Unavailable),
    ("busy", RateLimited),
    ("drop", Unavailable),
])
async def test_failures_are_classified(deps, behaviour, error):
    fake = FakeOllama()
    fake.behaviour.append(behaviour)  # midstream_error: the fake streams anyway, as proxies/old builds do
    async with serve(fake) as url:
        with pytest.raises(error):
            await writer(url, deps).write_script(REQ, StageContext("j"))


async def test_streamed_reply_is_understood(deps):
    fake = FakeOllama()
    async with serve(fake) as url:
        w = writer(url, deps)
        raw = b"".join(
            (json.dumps({"message": {"content": c}, "done": False}) + "\n").encode() for c in [script_json()[:10], script_json()[10:]]
        ) + b'{"message":{"content":""},"done":true}\n'
        assert w._content(raw) == script_json()


async def test_timeout_and_refused_connection_are_unavailable(deps):
    fake = FakeOllama()
    fake.behaviour.append("hang")
    async with serve(fake) as url:
        with pytest.raises(Unavailable, match="timed out"):
            await writer(url, deps, timeout_s=0.3).write_script(REQ, StageContext("j"))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(Unavailable, match="cannot connect"):
        await writer(f"http://127.0.0.1:{port}", deps).write_script(REQ, StageContext("j"))


def test_env_overrides_url_and_unset_means_not_configured():
    from agent.settings import settings_from_mapping

    s = settings_from_mapping({}, {"LOCAL_AI_SERVER": "http://gpu:11434"})
    assert s.providers["ollama"].url == "http://gpu:11434" and s.providers["ollama"].configured()
    assert not settings_from_mapping({}).providers["ollama"].configured()


async def test_thinking_is_off_unless_configured_and_options_pass_through(deps):
    # current Ollama turns thinking on for thinking-capable models when `think` is absent
    fake = FakeOllama()
    async with serve(fake) as url:
        await writer(url, deps).write_script(REQ, StageContext("j"))
        await writer(url, deps, think="low", temperature=0.5,
                     options={"num_thread": 8, "num_gpu": 99, "top_p": 0.9, "temperature": 0.2}).write_script(
            REQ, StageContext("j"))
    first, second = fake.requests
    assert first["think"] is False
    assert second["think"] == "low"
    assert second["options"] == {"temperature": 0.2, "num_ctx": 4096, "num_thread": 8, "num_gpu": 99, "top_p": 0.9}


def test_think_and_options_from_config_toml():
    from agent.settings import SettingsError, settings_from_mapping

    s = settings_from_mapping({"providers": {"ollama": {"think": "true", "options": {"num_thread": 4}}}})
    assert s.providers["ollama"].think == "true" and s.providers["ollama"].options == {"num_thread": 4}
    with pytest.raises(SettingsError, match="providers.ollama.think"):
        settings_from_mapping({"providers": {"ollama": {"think": "maybe"}}})
    with pytest.raises(SettingsError, match="providers.ollama.options must be a table"):
        settings_from_mapping({"providers": {"ollama": {"options": {"stop": ["x"]}}}})
