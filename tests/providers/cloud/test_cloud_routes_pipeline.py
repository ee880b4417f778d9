"""Routes and whole jobs: the real Pipeline with real cloud clients pointed at the fake server.

Self-hosted and offline stand-ins are tests.fakes providers; OpenAI, Runway, Groq and StreamElements
are the real classes talking HTTP to 127.0.0.1.
"""

from __future__ import annotations

import json
import logging

import pytest
from aiohttp import web

from agent.engine.backends import Backends
from agent.engine.health import HealthBoard
from agent.engine.pipeline import JobSpec, Pipeline
from agent.engine.routes import RouteUnavailable, available_routes, charged_price, plan_route, route_status
from agent.settings import settings_from_mapping
from providers.base import Stage, Tier
from providers.errors import Unavailable
from providers.groq import GroqConfig, GroqScriptWriter
from providers.huggingface import HuggingFaceConfig, HuggingFaceImageMaker
from providers.openai import OpenAIConfig, OpenAIImageMaker, OpenAIScriptWriter, OpenAIVoice
from providers.runway import RunwayClipMaker, RunwayConfig
from providers.streamelements import StreamElementsConfig, StreamElementsVoice
from tests.fakes import FakeProvider, FakeRenderer
from tests.providers.cloud.cloud_fakes import SCRIPT, chat_answer, fixture, json_response

OPENAI_KEY = "sk-pipeline-SECRET-987654"
SE_TOKEN = "se-pipeline-SECRET-1234"
HF_TOKEN = "hf_pipeline_SECRET_5678"
RUNWAY_KEY = "key_pipeline_SECRET_4321"
ORDERS = {Stage.SCRIPT: ("ollama", "openai", "groq", "pollinations", "offline"),
          Stage.IMAGE: ("comfyui", "openai", "huggingface", "pollinations", "offline"),
          Stage.CLIP: ("comfyui", "runway", "huggingface"),
          Stage.VOICE: ("coqui", "openai", "streamelements", "offline")}


def settings():
    return settings_from_mapping({"stages": {k.value: list(v) for k, v in ORDERS.items()}})


def fake(name, tier, *stages):
    p = FakeProvider(name, tier)
    p.stages = frozenset(stages)  # type: ignore[misc]
    return p


def cloud_providers(cloud, deps, *, openai=True, hf=True):
    out = []
    if openai:
        cfg = OpenAIConfig(api_key=OPENAI_KEY, base_url=cloud.url("/v1"))
        out += [cls(cfg, deps) for cls in (OpenAIScriptWriter, OpenAIImageMaker, OpenAIVoice)]
        out.append(RunwayClipMaker(RunwayConfig(api_key=RUNWAY_KEY, base_url=cloud.url("/runway"), poll_s=0.005),
                                   deps))
    if hf:
        out.append(HuggingFaceImageMaker(HuggingFaceConfig(token=HF_TOKEN, router_url=cloud.base), deps))
    out.append(GroqScriptWriter(GroqConfig(api_key="gsk_pipeline_1234", base_url=cloud.url("/groq/v1")), deps))
    out.append(StreamElementsVoice(StreamElementsConfig(token=SE_TOKEN, url=cloud.url("/se/speech")), deps))
    return out


def test_routes_available_by_key_and_disabled_rows():
    s = settings()
    only_free = Backends([fake("huggingface", Tier.CLOUD_FREE, Stage.IMAGE, Stage.CLIP),
                          fake("offline", Tier.OFFLINE, Stage.SCRIPT, Stage.IMAGE, Stage.VOICE)], ORDERS)
    assert available_routes(s, only_free) == ["self-hosted", "flux-slideshow", "cogvideox"]
    with pytest.raises(RouteUnavailable) as info:
        plan_route(s, only_free, "runway")
    assert "available now: self-hosted, flux-slideshow, cogvideox" in str(info.value)
    with pytest.raises(RouteUnavailable, match="OpenAI shut the Sora API down on 2026-09-24"):
        plan_route(s, only_free, "sora")
    with pytest.raises(RouteUnavailable, match="unknown model 'runwayml'"):
        plan_route(s, only_free, "runwayml")
    rows = {r["route"]: r for r in route_status(s, only_free)}
    assert rows["sora"]["why"] == "OpenAI shut the Sora API down on 2026-09-24" and rows["sora"]["price"] == 50
    assert rows["runway"] == {"route": "runway", "label": "Runway clips", "price": 60, "mode": "video",
                              "available": False, "why": "not configured (clip: runway)"}
    assert rows["pika"]["why"] == "not configured (clip: fal)" and rows["luma"]["why"] == "not configured (clip: luma)"
    assert {rows[n]["price"] for n in ("pika", "luma")} == {30, 45}
    assert {rows[n]["price"] for n in ("self-hosted", "flux-slideshow", "cogvideox")} == {0}


def test_route_orders_never_climb_to_a_pricier_tier():
    backends = Backends([
        fake("comfyui", Tier.SELF_HOSTED, Stage.IMAGE, Stage.CLIP),
        fake("openai", Tier.CLOUD_PREMIUM, Stage.SCRIPT, Stage.IMAGE, Stage.VOICE),
        fake("runway", Tier.CLOUD_PREMIUM, Stage.CLIP),
        fake("huggingface", Tier.CLOUD_FREE, Stage.IMAGE, Stage.CLIP),
        fake("pollinations", Tier.CLOUD_FREE, Stage.SCRIPT, Stage.IMAGE),
        fake("offline", Tier.OFFLINE, Stage.SCRIPT, Stage.IMAGE, Stage.VOICE),
    ], ORDERS)
    s = settings()
    runway = plan_route(s, backends, "runway")
    assert runway.mode == "video" and runway.price == 60
    assert runway.orders[Stage.CLIP] == ("runway", "huggingface")  # not back up to comfyui
    assert runway.orders[Stage.SCRIPT] == ORDERS[Stage.SCRIPT]  # no preference: the default cascade
    # a Runway scene whose clip fails becomes a still from premium or cheaper, not the GPU box
    assert runway.orders[Stage.IMAGE] == ("openai", "huggingface", "pollinations", "offline")
    cog = plan_route(s, backends, "cogvideox")
    assert cog.orders[Stage.IMAGE] == ("huggingface", "pollinations", "offline")  # never openai
    flux = plan_route(s, backends, "flux-slideshow")
    assert flux.orders[Stage.IMAGE] == ("huggingface", "pollinations", "offline")  # never openai
    assert plan_route(s, backends, None).name == "self-hosted"
    assert charged_price(s, runway, {"clip": {"runway": 3}}) == 60
    assert charged_price(s, runway, {"clip": {"huggingface": 4}}) == 0  # fell back: not charged for Runway


async def test_route_fallback_goes_down_and_provenance_shows_it(cloud, deps, tmp_path, clock):
    # flux-slideshow: HF is out of credits mid-job; images fall to offline, never up to OpenAI.
    cloud.default("POST", "/hf-inference/models/black-forest-labs/FLUX.1-schnell",
                  json_response(fixture("hf_error_credits_exceeded.json"), 402))
    offline = fake("offline", Tier.OFFLINE, Stage.SCRIPT, Stage.IMAGE, Stage.VOICE)
    backends = Backends([*cloud_providers(cloud, deps), offline], ORDERS)
    s = settings()
    plan = plan_route(s, backends, "flux-slideshow")
    health = HealthBoard(s.cascade, clock)
    pipeline = Pipeline(settings=s, backends=backends, health=health, renderer=FakeRenderer(), clock=clock)
    cloud.default("POST", "/v1/chat/completions", chat_answer(json.dumps(SCRIPT)))
    cloud.default("POST", "/v1/audio/speech", json_response({"error": {"message": "down"}}, 503))
    cloud.default("GET", "/se/speech", json_response(fixture("streamelements_error_401.json"), 401))
    job = JobSpec(job_id="route1", topic="cats in space", size=(320, 568), seed=5, route=plan.name)
    result = await pipeline.run(job, tmp_path / "w", orders=plan.orders)
    assert result.provenance["image"] == {"offline": 4}
    assert not cloud.calls("POST", "/v1/images/generations")  # OpenAI images never tried
    image_attempts = [(a.provider, a.outcome) for a in result.attempts if a.stage == "image"]
    assert image_attempts[0] == ("huggingface", "payment_required")
    assert ("huggingface", "skipped") in image_attempts  # cooling down after the 402
    assert health.get("huggingface", "image").cooldown_reason == "payment_required"
    assert charged_price(s, plan, result.provenance) == 0


async def test_every_stage_ends_on_a_different_tier(cloud, deps, tmp_path, clock, caplog, clip_mp4):
    """video mode: script on cloud free (Groq, after Ollama is down and OpenAI rate-limits),
    clips on cloud premium (Runway animating each scene's still, drawn first on the self-hosted box;
    one scene's clip is refused by moderation and stays a still), and voice offline (OpenAI out of credits, StreamElements 401)."""
    caplog.set_level(logging.INFO)
    ollama = fake("ollama", Tier.SELF_HOSTED, Stage.SCRIPT).enqueue(Unavailable("connection refused"))
    comfyui = fake("comfyui", Tier.SELF_HOSTED, Stage.IMAGE)  # image only: it serves the still
    coqui = fake("coqui", Tier.SELF_HOSTED, Stage.VOICE).enqueue(*[Unavailable("down")] * 8)
    offline = fake("offline", Tier.OFFLINE, Stage.SCRIPT, Stage.IMAGE, Stage.VOICE)

    def echo_key_429(seen):
        body = fixture("openai_error_rate_limit.json")
        body["error"]["message"] += f" (key {seen.headers['Authorization'][7:]})"
        return json_response(body, 429, {"retry-after": "20"})

    cloud.default("POST", "/v1/chat/completions", echo_key_429)
    cloud.default("POST", "/groq/v1/chat/completions", chat_answer(json.dumps(SCRIPT)))
    created = [0]

    def create(seen):
        created[0] += 1
        return json_response({"id": f"task-{created[0]}"})

    cloud.default("POST", "/runway/v1/image_to_video", create)
    for n in range(1, 5):
        final = ({"id": f"task-{n}", "status": "FAILED", "createdAt": "2026-11-30T08:00:00Z",
                  "failure": "The prompt was flagged by moderation.", "failureCode": "SAFETY.INPUT.TEXT"}
                 if n == 2 else
                 {"id": f"task-{n}", "status": "SUCCEEDED", "createdAt": "2026-11-30T08:00:00Z",
                  "output": [cloud.url(f"/storage/task-{n}.mp4")]})
        cloud.enqueue("GET", f"/runway/v1/tasks/task-{n}",
                      json_response({"id": f"task-{n}", "status": "RUNNING", "progress": 0.4,
                                     "createdAt": "2026-11-30T08:00:00Z"}), json_response(final))
        cloud.default("GET", f"/storage/task-{n}.mp4", web.Response(body=clip_mp4, content_type="video/mp4"))
    cloud.default("POST", "/v1/audio/speech", json_response(
        {"error": {"message": "You exceeded your current quota", "type": "insufficient_quota",
                   "code": "insufficient_quota"}}, 429))
    cloud.default("GET", "/se/speech", json_response(fixture("streamelements_error_401.json"), 401))

    backends = Backends([ollama, comfyui, coqui, *cloud_providers(cloud, deps, hf=False), offline], ORDERS)
    s = settings_from_mapping({"stages": {k.value: list(v) for k, v in ORDERS.items()},
                               "video": {"voice_concurrency": 1}})
    health = HealthBoard(s.cascade, clock)
    pipeline = Pipeline(settings=s, backends=backends, health=health, renderer=FakeRenderer(), clock=clock)
    job = JobSpec(job_id="tiers1", topic="cats in space", mode="video", size=(320, 568), seed=9)
    result = await pipeline.run(job, tmp_path / "w")

    assert result.provenance == {"script": {"groq": 1}, "image": {"comfyui": 4}, "clip": {"runway": 3},
                                 "voice": {"offline": 4}, "render": {"local": 1}}
    assert set(result.tiers["script"]) == {Tier.CLOUD_FREE}
    assert set(result.tiers["clip"]) == {Tier.CLOUD_PREMIUM}
    assert set(result.tiers["image"]) == {Tier.SELF_HOSTED}
    assert set(result.tiers["voice"]) == {Tier.OFFLINE}
    outcomes = [(a.stage, a.provider, a.outcome) for a in result.attempts if a.outcome != "ok"]
    assert outcomes[:2] == [("script", "ollama", "unavailable"), ("script", "openai", "rate_limited")]
    assert ("clip", "runway", "bad_output") in outcomes  # failed-as-200 (moderation)
    assert ("voice", "openai", "payment_required") in outcomes
    assert ("voice", "streamelements", "auth_failed") in outcomes
    assert ("voice", "streamelements", "skipped") in outcomes  # cooling down, not retried per scene
    assert len(cloud.calls("GET", "/se/speech")) == 1 and len(cloud.calls("POST", "/v1/audio/speech")) == 1
    # cooldowns by type: 429 for as long as asked; 401/402 at once and long
    assert health.get("openai", "script").remaining_s(clock()) == 20.0
    assert health.get("streamelements", "voice").cooldown_reason == "auth_failed"
    assert health.get("openai", "voice").cooldown_reason == "payment_required"
    assert not health.get("runway", "clip").cooling(clock())  # one refusal is not an outage
    asked = cloud.calls("POST", "/runway/v1/image_to_video")[0].json()
    assert asked["ratio"] == "720:1280" and asked["promptImage"].startswith("data:image/")
    assert not cloud.calls("POST", "/runway/v1/text_to_video")
    # the key the server echoed back is in no attempt and no log line
    everything = caplog.text + json.dumps([a.to_json() for a in result.attempts])
    assert OPENAI_KEY not in everything and SE_TOKEN not in everything
    assert "Rate limit reached" in everything and "***" in everything
    assert "script: groq" in result.provenance_line()
