"""`reelbot status` with every cloud key set, against fakes of every service on 127.0.0.1: each route
is available, `sora` is listed unavailable with its reason, and announced shutdowns show as warnings."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

from aiohttp import web

from reelbot.cli import main
from tests.providers.cloud.cloud_fakes import FakeCloud, json_response

KEYS = {
    "OPENAI_API_KEY": "sk-status-SECRET-1", "GROQ_API_KEY": "gsk_status_SECRET_2", "HF_TOKEN": "hf_status_SECRET_3",
    "POLLINATIONS_TOKEN": "pk_status_SECRET_4", "STREAMELEMENTS_TOKEN": "se_status_SECRET_5",
    "RUNWAYML_API_SECRET": "key_status_SECRET_6", "LUMAAI_API_KEY": "luma_status_SECRET_7",
    "FAL_KEY": "fal_status_SECRET_8", "ELEVENLABS_API_KEY": "xi_status_SECRET_9",
    "OPENROUTER_API_KEY": "sk-or-status-SECRET-10",
}


def every_service(cloud: FakeCloud, voice_shutdown: str) -> None:
    def models(*ids: tuple[str, str | None]) -> web.Response:
        return json_response({"object": "list", "data": [{"id": i, "object": "model", "shutdown_date": d}
                                                         for i, d in ids]})

    cloud.default("GET", "/openai/v1/models", models(("gpt-5.4-mini", None), ("gpt-image-2", None),
                                                     ("gpt-4o-mini-tts", voice_shutdown)))
    cloud.default("GET", "/groq/v1/models", models(("openai/gpt-oss-120b", None)))
    cloud.default("GET", "/or/v1/models", models(("meta-llama/llama-4-scout", None)))
    cloud.default("GET", "/api/whoami-v2", json_response({"name": "operator"}))
    cloud.default("GET", "/poll/models", json_response(["flux", "turbo"]))
    cloud.default("GET", "/se/speech", web.Response(body=b"ID3" + b"\x00" * 64, content_type="audio/mpeg"))
    cloud.default("GET", "/runway/v1/organization", json_response({"creditBalance": 900, "tier": {}}))
    cloud.default("GET", "/luma/credits", json_response({"credit_balance": 2500.0}))
    cloud.default("GET", "/fal/v1/models", json_response({"models": [
        {"endpoint_id": "fal-ai/pika/v2.2/text-to-video", "metadata": {"status": "active"}}]}))
    cloud.default("GET", "/xi/v1/models", json_response([{"model_id": "eleven_multilingual_v2"}]))


def config_toml(base: str) -> str:
    return f"""
[providers.groq]
base_url = "{base}/groq/v1"
[providers.huggingface]
router_url = "{base}"
hub_url = "{base}"
[providers.pollinations]
models_url = "{base}/poll/models"
[providers.streamelements]
url = "{base}/se/speech"
[providers.luma]
base_url = "{base}/luma"
[providers.fal]
api_url = "{base}/fal/v1"
queue_url = "{base}/fal/queue"
[providers.elevenlabs]
base_url = "{base}/xi"
[providers.openai_compatible]
base_url = "{base}/or/v1"
model = "meta-llama/llama-4-scout"
api_key_env = "OPENROUTER_API_KEY"
tier = "cloud-free"
"""


async def test_status_with_every_key_shows_every_route_and_sora_with_its_reason(tmp_path, monkeypatch, capsys):
    cloud = FakeCloud()
    await cloud.start()
    try:
        soon = (dt.date.today() + dt.timedelta(days=37)).isoformat()
        every_service(cloud, soon)
        monkeypatch.chdir(tmp_path)
        (tmp_path / "config.toml").write_text(config_toml(cloud.base))
        for name, value in KEYS.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("OPENAI_BASE_URL", cloud.url("/openai/v1"))
        monkeypatch.setenv("RUNWAYML_BASE_URL", cloud.url("/runway"))
        await asyncio.to_thread(main, ["status", "--json"])
        report = json.loads(capsys.readouterr().out)
        await asyncio.to_thread(main, ["status"])
        text = capsys.readouterr().out
    finally:
        await cloud.close()
    print(text)  # shown with -s: the report as an operator sees it
    rows = {b["name"]: b for b in report["backends"]}
    cloud_names = ("openai_compatible", "openai", "runway", "luma", "fal", "elevenlabs", "groq", "huggingface",
                   "pollinations", "streamelements")
    for name in cloud_names:
        assert rows[name]["configured"] and rows[name]["up"] and rows[name]["ready"], rows[name]
    assert rows["openai"]["warnings"] == [f"gpt-4o-mini-tts shuts down {soon}"]
    assert rows["openai_compatible"]["tier"] == "cloud free"  # the operator's tier, not the class default
    routes = {r["route"]: r for r in report["routes"]}
    for name in ("self-hosted", "flux-slideshow", "cogvideox", "dalle-slideshow", "runway", "pika", "luma"):
        assert routes[name]["available"], routes[name]
    assert routes["sora"] == {"route": "sora", "label": "Sora clips (OpenAI)", "price": 50, "mode": "video",
                              "available": False, "why": "OpenAI shut the Sora API down on 2026-09-24"}
    assert "unavailable: sora: OpenAI shut the Sora API down on 2026-09-24" in text
    assert f"warning: gpt-4o-mini-tts shuts down {soon}" in text
    assert "runway (60 credits)" in text and "pika (30 credits)" in text and "luma (45 credits)" in text
    for secret in KEYS.values():
        assert secret not in text and secret not in json.dumps(report)
    assert not [s for s in cloud.history if s.method != "GET"]  # status only looks: nothing generated
