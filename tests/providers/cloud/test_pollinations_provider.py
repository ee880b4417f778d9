"""Pollinations against a fake host: prompt in the path, omitted booleans, per-scene seeds, and the
placeholder image served with HTTP 200."""

from __future__ import annotations

import hashlib
import json
from urllib.parse import unquote

import pytest
from aiohttp import web

from providers.base import ImageRequest, ScriptRequest, Tier
from providers.errors import AuthFailed, BadOutput, PaymentRequired
from providers.pollinations import PollinationsConfig, PollinationsImageMaker, PollinationsScriptWriter
from tests.providers.cloud.cloud_fakes import SCRIPT, fixture, json_response, png_bytes


def config(cloud, **kw):
    return PollinationsConfig(anonymous=True, image_url=cloud.url("/prompt"), text_url=cloud.url("/text"),
                              models_url=cloud.url("/models"), **kw)


def image_request(tmp_path, prompt="a lighthouse at dusk", i=0, seed=100):
    return ImageRequest(prompt=prompt, style="cinematic", negative="", width=1080, height=1920, seed=seed + i,
                        scene_index=i, scene_count=4, out_dir=tmp_path)


def config_paths(cloud):
    return [unquote(s.path) for s in cloud.history if s.path.startswith("/prompt/")]


def test_configuration_policy():
    assert not PollinationsConfig().configured()  # code default: no third-party calls
    assert PollinationsConfig(anonymous=True).configured()
    assert PollinationsConfig(token="pk_1234").configured()
    assert PollinationsConfig(token="pk_1234").image_base() == "https://gen.pollinations.ai/image"
    assert PollinationsConfig(anonymous=True).image_base() == "https://image.pollinations.ai/prompt"


async def test_image_query_seeds_and_omitted_booleans(cloud, deps, ctx, tmp_path):
    cloud.enqueue_prefix("GET", "/prompt/", *[web.Response(body=png_bytes(576, 1024, hue=i * 50), content_type="image/jpeg")
                         for i in range(2)])
    maker = PollinationsImageMaker(config(cloud), deps)
    assert maker.tier is Tier.CLOUD_FREE
    for i in range(2):
        result = await maker.make_image(image_request(tmp_path, i=i), ctx)
        assert (result.width, result.height) == (576, 1024)
    calls = [s for s in cloud.history if s.path.startswith("/prompt/")]
    assert config_paths(cloud)[0] == "/prompt/a lighthouse at dusk. cinematic"
    assert calls[0].query == {"width": "576", "height": "1024", "seed": "100", "model": "flux",
                              "nologo": "true", "private": "true"}
    assert calls[1].query["seed"] == "101"
    assert all("false" not in q.query.values() for q in calls)
    assert "Authorization" not in calls[0].headers  # anonymous


async def test_token_goes_in_the_header(cloud, deps, ctx, tmp_path):
    cloud.enqueue_prefix("GET", "/prompt/", *[web.Response(body=png_bytes(576, 1024), content_type="image/png")])
    await PollinationsImageMaker(config(cloud, token="pk_SECRET_1234"), deps).make_image(image_request(tmp_path), ctx)
    seen = [s for s in cloud.history if s.path.startswith("/prompt/")][0]
    assert seen.headers["Authorization"] == "Bearer pk_SECRET_1234" and "key" not in seen.query


async def test_placeholder_wrong_size_is_bad_output(cloud, deps, ctx, tmp_path):
    cloud.enqueue_prefix("GET", "/prompt/", *[web.Response(body=png_bytes(512, 512), content_type="image/jpeg")])
    with pytest.raises(BadOutput, match="placeholder"):
        await PollinationsImageMaker(config(cloud), deps).make_image(image_request(tmp_path), ctx)


async def test_same_bytes_for_different_prompts_is_a_placeholder(cloud, deps, ctx, tmp_path):
    same = png_bytes(576, 1024, hue=3)
    cloud.enqueue_prefix("GET", "/prompt/", *[web.Response(body=same, content_type="image/jpeg") for _ in range(3)])
    maker = PollinationsImageMaker(config(cloud), deps)
    await maker.make_image(image_request(tmp_path, prompt="a lighthouse"), ctx)
    with pytest.raises(BadOutput, match="different prompt"):
        await maker.make_image(image_request(tmp_path, prompt="a desert"), ctx)
    with pytest.raises(BadOutput, match="known placeholder"):  # now remembered as one
        await maker.make_image(image_request(tmp_path, prompt="a lighthouse"), ctx)


async def test_known_placeholder_hash_and_non_image_answers(cloud, deps, ctx, tmp_path):
    known = png_bytes(576, 1024, hue=9)
    cloud.enqueue_prefix("GET", "/prompt/", *[web.Response(body=known, content_type="image/jpeg"),
                         web.Response(text="<html>busy</html>", content_type="text/html"),
                         web.Response(body=b"\xff\xd8garbage" * 200, content_type="image/jpeg")])
    maker = PollinationsImageMaker(config(cloud, placeholder_sha256=(hashlib.sha256(known).hexdigest(),)), deps)
    for match in ("known placeholder", "expected an image", "does not decode"):
        with pytest.raises(BadOutput, match=match):
            await maker.make_image(image_request(tmp_path), ctx)


@pytest.mark.parametrize(("status", "name", "kind"),
                         [(401, "pollinations_error_401.json", AuthFailed),
                          (402, "pollinations_error_402.json", PaymentRequired)])
async def test_error_bodies(cloud, deps, ctx, tmp_path, status, name, kind):
    cloud.enqueue_prefix("GET", "/prompt/", *[json_response(fixture(name), status)])
    with pytest.raises(kind):
        await PollinationsImageMaker(config(cloud), deps).make_image(image_request(tmp_path), ctx)


async def test_script_via_the_text_endpoint(cloud, deps, ctx):
    cloud.enqueue_prefix("GET", "/text/", web.Response(text=json.dumps(SCRIPT), content_type="text/plain"))
    request = ScriptRequest(topic="cats in space", length="short", min_scenes=4, max_scenes=5, target_seconds=25)
    script = await PollinationsScriptWriter(config(cloud), deps).write_script(request, ctx)
    assert len(script.scenes) == 4
    seen = [s for s in cloud.history if s.path.startswith("/text/")][0]
    assert "cats in space" in unquote(seen.path)
    assert seen.query["json"] == "true" and seen.query["model"] == "openai" and "JSON" in seen.query["system"]


async def test_seed_is_reduced_into_the_gateways_signed_32_bit_range(cloud, deps, ctx, tmp_path):
    def gateway(seen):  # the gateway validates seed as a signed 32-bit integer
        if not -2**31 <= int(seen.query["seed"]) < 2**31:
            return json_response({"error": "Bad Request", "message": "seed: Number must be less than or equal "
                                  "to 2147483647"}, 400)
        return web.Response(body=png_bytes(576, 1024), content_type="image/jpeg")

    cloud.enqueue_prefix("GET", "/prompt/", gateway)
    maker = PollinationsImageMaker(config(cloud), deps)
    result = await maker.make_image(image_request(tmp_path, seed=3_900_000_000), ctx)  # a job seed near 2^32
    assert result.path.is_file()
    assert int(cloud.history[-1].query["seed"]) == 3_900_000_000 % 2**31


def test_the_shipped_config_does_not_enable_the_keyless_hosts():
    from pathlib import Path

    from agent.settings import load_settings

    shipped = Path(__file__).resolve().parents[3] / "config.toml"
    assert not load_settings(shipped, env={}).providers["pollinations"].configured()
    with_token = load_settings(shipped, env={"POLLINATIONS_TOKEN": "pk_test_1234"}).providers["pollinations"]
    assert with_token.configured() and with_token.image_base() == "https://gen.pollinations.ai/image"
