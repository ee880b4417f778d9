"""The operator console in real headless Chromium, against an agent whose self-hosted backends are
the fake Ollama, ComfyUI and Coqui servers, with the real renderer (the video must play).

One operator's session, in order: refused with a wrong token, signed in, the SELF-HOSTED badge and the
backends, a video made from the form and watched live without a reload, played in the page, a hung
job cancelled, credits granted, a cross-site form refused, signed out; and a browser with no session
sees nothing. Screenshots of every page at desktop and phone width go to the artifacts folder.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from agent.engine import render as render_module
from agent.engine.backends import Backends
from agent.service.app import RUNNER, create_app
from agent.settings import Settings, settings_from_mapping
from providers.base import ProviderDeps, Stage
from providers.comfyui import ComfyImageMaker
from providers.coqui import CoquiVoice
from providers.ollama import OllamaScriptWriter
from tests.providers.fake_servers import FakeComfy, FakeCoqui, FakeOllama, serve
from tests.support.agent_app import AUTH, TOKEN, GatedProvider
from tests.support.waiting import wait_until

CONSOLE_TOKEN = "console-token-for-chromium-0123"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
WAIT_MS = 30_000


@dataclass
class Console:
    client: TestClient
    url: str  # the console's base URL, http://127.0.0.1:PORT/console
    ollama: FakeOllama
    comfy: FakeComfy
    coqui: FakeCoqui

    async def submit(self, topic: str) -> dict[str, Any]:
        body = {"request_id": f"req-{topic}", "user": {"platform": "discord", "id": "42", "name": "Ann"},
                "topic": topic, "options": {"length": "short"}}
        resp = await self.client.post("/v1/jobs", json=body, headers=AUTH)
        assert resp.status == 202, await resp.text()
        return await resp.json()

    async def job(self, job_id: str) -> dict[str, Any]:
        return await (await self.client.get(f"/v1/jobs/{job_id}", headers=AUTH)).json()

    async def balance(self, platform: str, user: str) -> int:
        resp = await self.client.get(f"/v1/users/{platform}/{user}/quota", headers=AUTH)
        return int((await resp.json())["balance"])


def _settings(tmp_path: Path, ollama: str, comfy: str, coqui: str) -> Settings:
    data = {
        "stages": {"script": ["ollama", "offline"], "image": ["comfyui", "offline"], "clip": [],
                   "voice": ["coqui", "offline"]},
        "video": {"size_scale": 0.25, "image_concurrency": 1, "voice_concurrency": 1},
        "agent": {"data_dir": str(tmp_path / "data"), "database_url": f"sqlite+aiosqlite:///{tmp_path}/agent.db",
                  "workers": 1, "event_flush_s": 0.05, "sse_keepalive_s": 1.0},
        "providers": {"ollama": {"url": ollama}, "comfyui": {"url": comfy, "poll_interval_s": 0.05},
                      "coqui": {"url": coqui}},
    }
    return settings_from_mapping(data, {"REELBOT_AGENT_TOKEN": TOKEN, "REELBOT_CONSOLE_TOKEN": CONSOLE_TOKEN})


@contextlib.asynccontextmanager
async def console_agent(tmp_path: Path, deps: ProviderDeps) -> AsyncIterator[Console]:
    fo, fc, fq = FakeOllama(), FakeComfy(), FakeCoqui()
    fc.step_delay_s = 0.15  # slow enough to watch the progress move
    async with serve(fo) as o, serve(fc) as c, serve(fq) as q:
        settings = _settings(tmp_path, o, c, q)
        p = settings.providers
        providers = [OllamaScriptWriter(p["ollama"], deps), ComfyImageMaker(p["comfyui"], deps),  # type: ignore[arg-type]
                     CoquiVoice(p["coqui"], deps), GatedProvider()]  # type: ignore[arg-type]
        orders = {Stage.SCRIPT: ("ollama", "offline"), Stage.IMAGE: ("comfyui", "offline"), Stage.CLIP: (),
                  Stage.VOICE: ("coqui", "offline")}
        app = create_app(settings, backends=Backends(providers, orders), renderer=render_module.render)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            yield Console(client, str(client.make_url("/console")), fo, fc, fq)


async def shots(page: Any, artifacts: Path, name: str) -> None:
    """The page at desktop and at phone width; at phone width nothing may overflow sideways."""
    await page.screenshot(path=str(artifacts / f"{name}-desktop.png"), full_page=True)
    await page.set_viewport_size(PHONE)
    overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    await page.screenshot(path=str(artifacts / f"{name}-phone.png"), full_page=True)
    await page.set_viewport_size(DESKTOP)
    assert overflow <= 1, f"the {name} page is wider than a phone by {overflow}px"


async def progress_of(page: Any, job_id: str) -> tuple[float, str] | None:
    return await page.evaluate("""(id) => {
        const el = document.querySelector('li.job[data-job-id="' + id + '"]');
        if (!el) return null;
        return [el.querySelector('progress').value, el.dataset.status];
    }""", job_id)


async def test_an_operator_session_in_chromium(tmp_path: Path, deps: ProviderDeps, browser: Any,
                                               artifacts: Path) -> None:
    async with console_agent(tmp_path, deps) as console:
        context = await browser.new_context(viewport=DESKTOP)
        page = await context.new_page()
        page.set_default_timeout(WAIT_MS)

        # no session: the sign-in page; a wrong token: refused
        await page.goto(console.url + "/")
        assert page.url.endswith("/console/login")
        await page.fill("#token", "not-the-token")
        await page.click("#sign-in")
        await page.wait_for_selector("p.error")
        assert "not the console token" in await page.inner_text("p.error")
        await shots(page, artifacts, "login")

        # signed in: the badge follows what serves each stage, the backends as the fakes report them
        await page.fill("#token", CONSOLE_TOKEN)
        await page.click("#sign-in")
        await page.wait_for_selector("#badge")
        assert await page.inner_text("#badge") == "SELF-HOSTED"
        stages = await page.inner_text("#stages")
        assert "ollama" in stages and "comfyui" in stages and "coqui" in stages
        for name in ("ollama", "comfyui", "coqui"):
            row = await page.inner_text(f'tr[data-backend="{name}"]')
            assert "ready" in row, row
        assert "llama3.2:3b" in await page.inner_text('tr[data-backend="ollama"]')
        assert "GiB free" in await page.inner_text('tr[data-backend="comfyui"]')
        await shots(page, artifacts, "overview")

        # make a video: the seed's picker, FREE badges, unavailable routes greyed with the reason
        await page.click("text=Make a video")
        await page.wait_for_selector("#make-form")
        free = await page.inner_text('label.route[data-route="self-hosted"]')
        assert "FREE" in free
        greyed = page.locator('label.route.unavailable[data-route="sora"]')
        assert await greyed.count() == 1
        assert await greyed.locator("input").is_disabled()
        assert "openai" in (await greyed.inner_text()).lower()
        await shots(page, artifacts, "make")
        console.comfy.outcomes.extend(["ok", "oom", "ok", "ok"])  # scene 2 falls back to the offline tier
        await page.fill("#topic", "the life cycle of a star")
        await page.check('label.route[data-route="self-hosted"] input')
        await page.select_option("select[name=length]", "short")
        await page.click("#make")
        await page.wait_for_url("**/console/jobs?new=*")
        job_id = page.url.rsplit("=", 1)[1]

        # the job's progress moves with no reload (the marker set now would not survive one)
        await page.evaluate("window.__sameDocument = 'yes'")
        seen: list[float] = []
        shot_taken = False
        async with asyncio.timeout(60):
            while True:
                state = await progress_of(page, job_id)
                if state is not None:
                    if not seen or state[0] != seen[-1]:
                        seen.append(state[0])
                    if not shot_taken and state[1] == "running" and state[0] > 0.1:
                        await shots(page, artifacts, "jobs-first")
                        shot_taken = True
                if await page.locator(f'#finished-jobs tr[data-job-id="{job_id}"]').count():
                    break
                await asyncio.sleep(0.05)
        assert await page.evaluate("window.__sameDocument") == "yes"
        assert len(seen) >= 3 and seen == sorted(seen), seen
        assert await page.get_attribute(f'#finished-jobs tr[data-job-id="{job_id}"]', "data-status") == "done"
        assert shot_taken

        # the finished job: provenance, timings, and the video plays in the page (fetched with Range)
        ranges: list[str] = []
        page.on("request", lambda r: ranges.append(r.headers.get("range", "")) if r.url.endswith("/video") else None)
        await page.click(f'#finished-jobs tr[data-job-id="{job_id}"] a')
        await page.wait_for_selector("#video")
        duration = await page.evaluate("""() => new Promise((ok, fail) => {
            const v = document.getElementById('video');
            if (v.readyState >= 1) return ok(v.duration);
            v.addEventListener('loadedmetadata', () => ok(v.duration));
            v.addEventListener('error', () => fail(new Error('the video did not load: ' + (v.error && v.error.code))));
            v.load();
        })""")
        assert duration > 1.0
        assert any(r.startswith("bytes=") for r in ranges), ranges
        assert "comfyui" in await page.inner_text("#attempts")
        fallback = await page.inner_text("#fallbacks")
        assert "image scene 2" in fallback and "comfyui" in fallback and "served by offline" in fallback, fallback
        assert "render" in await page.inner_text("#timings")
        await shots(page, artifacts, "job")

        # a job a bot submits appears in the open list by itself; then it hangs in ComfyUI: cancel it
        await page.goto(console.url + "/jobs")
        await page.wait_for_selector("#live-state >> text=live")
        await page.evaluate("window.__sameDocument = 'still'")
        console.comfy.outcomes.append("hang")
        hung = await console.submit("a hanging job")
        cancel = page.locator(f'li.job[data-job-id="{hung["id"]}"] button[data-action="cancel"]')
        await cancel.wait_for()
        assert await page.evaluate("window.__sameDocument") == "still"
        runner = console.client.app[RUNNER]
        await wait_until(lambda: getattr(runner.live(hung["id"]), "stage", "") == "image", 30)
        await shots(page, artifacts, "jobs")  # one running, one finished
        await cancel.click()
        await page.wait_for_selector(f'#finished-jobs tr[data-job-id="{hung["id"]}"][data-status="cancelled"]')
        assert (await console.job(hung["id"]))["status"] == "cancelled"

        # users and credits: grant, see the balance and the ledger entry
        await page.click("nav >> text=Users")
        before = await console.balance("discord", "42")
        await page.fill("#grant-form input[name=user]", "discord:42")
        await page.fill("#grant-form input[name=amount]", "250")
        await page.fill("#grant-form input[name=note]", "thanks for testing")
        await page.click("#grant")
        await page.wait_for_selector("#message")
        assert f"discord:42 now has {before + 250} credits" in await page.inner_text("#message")
        assert await page.inner_text('tr[data-user="discord:42"] [data-field="balance"]') == str(before + 250)
        assert "thanks for testing" in await page.inner_text("#ledger")
        await shots(page, artifacts, "users")

        # a form on another site (same host, another port: the cookie goes along) is refused
        balance = await console.balance("discord", "42")
        evil = web.Application()
        attack = (f'<form id="f" method="post" action="{console.url}/users/grant">'
                  '<input name="user" value="discord:42"><input name="amount" value="100000">'
                  '<input name="csrf" value="guessed"></form><script>document.getElementById("f").submit()</script>')

        async def attacker(request: web.Request) -> web.Response:
            return web.Response(text=attack, content_type="text/html")

        evil.router.add_get("/", attacker)
        async with serve(evil) as evil_url:
            async with page.expect_response(f"{console.url}/users/grant") as answer:
                await page.goto(evil_url + "/")
            assert (await answer.value).status == 403
        assert await console.balance("discord", "42") == balance

        # sign out: the session is gone
        await page.goto(console.url + "/")
        await page.click("#sign-out")
        await page.wait_for_url("**/console/login")
        await page.goto(console.url + "/jobs")
        assert page.url.endswith("/console/login")

        # a browser that never signed in: nothing but the sign-in page
        stranger = await browser.new_context()
        other = await stranger.new_page()
        await other.goto(console.url + "/users")
        assert other.url.endswith("/console/login")
        for path in ("/events", f"/jobs/{job_id}/video", "/jobs/rows"):
            assert (await stranger.request.get(console.url + path)).status == 401, path
        await stranger.close()
        await context.close()
