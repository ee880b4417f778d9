"""The job's mode: a flag (the chat option) first, then a route that requires one, then config.toml's
[video] mode. A video that ended as stills says so and is charged as a slideshow."""

from __future__ import annotations

import dataclasses

from agent.choices import Mode
from tests.support.agent_app import make_settings, run_agent

ROUTES = {
    "self-hosted": {"label": "Self-hosted", "price": 5},  # requires no mode
    "stills": {"label": "Stills", "price": 5, "mode": "slideshow"},
    "clips": {"label": "Clips", "price": 12, "mode": "video"},
}


def settings_with(tmp_path, mode: Mode):
    s = make_settings(tmp_path, routes=ROUTES)
    return dataclasses.replace(s, video=dataclasses.replace(s.video, mode=mode))


async def test_config_video_mode_applies_unless_a_flag_or_route_says_otherwise(tmp_path):
    async with run_agent(tmp_path, settings_with(tmp_path, Mode.VIDEO)) as a:
        plain = await a.submit("plain")
        flagged = await a.submit("flagged", options={"mode": "slideshow"})
        stills_route = await a.submit("stills route", options={"model": "stills"})
        prices = (await a.quota())["prices"]
    assert plain["options"]["mode"] == "video"  # was "slideshow": the default route's mode won
    assert flagged["options"]["mode"] == "slideshow"
    assert stills_route["options"]["mode"] == "slideshow"
    assert prices["self-hosted"]["mode"] == "video" and prices["clips"]["mode"] == "video"


async def test_a_route_requiring_video_overrides_a_slideshow_config(tmp_path):
    async with run_agent(tmp_path, settings_with(tmp_path, Mode.SLIDESHOW)) as a:
        job = await a.submit("clips route", options={"model": "clips"})
    assert job["options"]["mode"] == "video"


async def test_a_video_route_that_ended_as_stills_is_charged_as_a_slideshow(tmp_path):
    # no clip maker at all (stages.clip = []): every scene becomes a still
    async with run_agent(tmp_path, settings_with(tmp_path, Mode.SLIDESHOW)) as a:
        job = await a.submit("clips route", options={"model": "clips"})
        assert job["price"] == 12
        done = await a.wait_status(job["id"], "done", "failed")
        balance = (await a.quota())["balance"]
    assert done["status"] == "done"
    assert done["result"]["stills_note"] == "4 of 4 scenes are stills: no clip maker is configured"
    assert done["cost"] == 5 and balance == 95  # the slideshow's price, the rest refunded



def test_stills_are_charged_pro_rata_at_the_slideshow_price(tmp_path):
    from agent.engine.routes import RoutePlan, charged_price

    s = settings_with(tmp_path, Mode.SLIDESHOW)  # self-hosted (the slideshow price) costs 5
    plan = RoutePlan("clips", 12, Mode.VIDEO, {}, {})
    assert charged_price(s, plan, {}, ["clip"] * 4) == 12
    assert charged_price(s, plan, {}, ["clip", "still", "clip", "clip"]) == 5 + 7 * 3 // 4
    assert charged_price(s, plan, {}, ["still"] * 4) == 5
    assert charged_price(s, plan, {}) == 12  # no scene list (an older caller): the route's price
