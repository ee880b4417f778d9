"""The operator console over real HTTP (the browser tests in tests/browser drive it in Chromium):
off without its token, nothing without a session, sign-in cookie flags, CSRF refusals, grants."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from agent.service.console.auth import SESSION_TTL_S, WRONG_TOKEN_DELAY_S
from tests.support.agent_app import AUTH, make_settings, run_agent

CONSOLE_TOKEN = "console-token-abcdef012345"
HTML = {"Accept": "text/html"}


def console_settings(tmp_path: Path, **kw):  # type: ignore[no-untyped-def]
    return make_settings(tmp_path, env={"REELBOT_CONSOLE_TOKEN": CONSOLE_TOKEN}, **kw)


async def sign_in(agent) -> str:  # type: ignore[no-untyped-def]
    """Signs the test client in; returns the page's CSRF token."""
    origin = str(agent.client.make_url("")).rstrip("/")
    resp = await agent.client.post("/console/login", data={"token": CONSOLE_TOKEN}, headers={"Origin": origin},
                                   allow_redirects=False)
    assert resp.status == 303, await resp.text()
    resp = await agent.client.get("/console/users", headers=HTML)
    assert resp.status == 200
    found = re.search(r'name="csrf" value="([^"]+)"', await resp.text())
    assert found
    return found.group(1)


async def test_no_console_without_its_token(tmp_path: Path) -> None:
    async with run_agent(tmp_path) as agent:
        for path in ("/console", "/console/login", "/console/jobs"):
            resp = await agent.client.get(path, headers={**HTML, **AUTH}, allow_redirects=False)
            assert resp.status == 404, path


async def test_nothing_without_a_session(tmp_path: Path) -> None:
    async with run_agent(tmp_path, console_settings(tmp_path)) as agent:
        resp = await agent.client.get("/console/", headers=HTML, allow_redirects=False)
        assert resp.status == 303 and resp.headers["Location"] == "/console/login"
        for path in ("/console/jobs/rows", "/console/events", "/console/users", "/console/make",
                     "/console/static/console.js", "/console/jobs/abcdefgh12345678/video"):
            resp = await agent.client.get(path, allow_redirects=False)
            assert resp.status == 401, path
        # the agent's bearer token is not a console session
        resp = await agent.client.get("/console/jobs/rows", headers=AUTH, allow_redirects=False)
        assert resp.status == 401
        resp = await agent.client.post("/console/users/grant", data={"user": "discord:42", "amount": "500"},
                                       allow_redirects=False)
        assert resp.status == 401
        assert (await agent.quota("42"))["balance"] == 100
        # the sign-in page and the stylesheet are the only things served
        assert (await agent.client.get("/console/login")).status == 200
        assert (await agent.client.get("/console/static/console.css")).status == 200
        # and the API keeps its own token: /console's exemption is no way around it
        assert (await agent.client.get("/v1/status")).status == 401


async def test_a_wrong_token_signs_nobody_in(tmp_path: Path) -> None:
    async with run_agent(tmp_path, console_settings(tmp_path)) as agent:
        resp = await agent.client.post("/console/login", data={"token": "not-it"}, allow_redirects=False)
        assert resp.status == 401
        assert "reelbot_console" not in resp.cookies
        assert "not the console token" in await resp.text()
        resp = await agent.client.get("/console/jobs/rows", allow_redirects=False)
        assert resp.status == 401


async def test_sign_in_sets_a_strict_http_only_cookie_and_sign_out_ends_it(tmp_path: Path) -> None:
    async with run_agent(tmp_path, console_settings(tmp_path)) as agent:
        origin = str(agent.client.make_url("")).rstrip("/")
        resp = await agent.client.post("/console/login", data={"token": CONSOLE_TOKEN},
                                       headers={"Origin": origin}, allow_redirects=False)
        assert resp.status == 303
        cookie = next(v for k, v in resp.headers.items() if k == "Set-Cookie")
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console" in cookie
        assert CONSOLE_TOKEN not in cookie
        page = await agent.client.get("/console/", headers=HTML)
        assert page.status == 200
        assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
        csrf = re.search(r'name="csrf" value="([^"]+)"', await page.text())
        assert csrf
        resp = await agent.client.post("/console/logout", data={"csrf": csrf.group(1)},
                                       headers={"Origin": origin}, allow_redirects=False)
        assert resp.status == 303
        assert (await agent.client.get("/console/jobs/rows", allow_redirects=False)).status == 401


async def test_cross_site_posts_are_refused(tmp_path: Path) -> None:
    async with run_agent(tmp_path, console_settings(tmp_path)) as agent:
        csrf = await sign_in(agent)
        origin = str(agent.client.make_url("")).rstrip("/")
        form = {"user": "discord:42", "amount": "500", "csrf": csrf}
        refused = [
            ({"Origin": origin}, {k: v for k, v in form.items() if k != "csrf"}),  # no token in the form
            ({"Origin": origin}, {**form, "csrf": "x" * 43}),  # a wrong one
            ({"Origin": "http://evil.example"}, form),  # the right one, from another site
            ({"Origin": origin, "Sec-Fetch-Site": "cross-site"}, form),
            ({"Sec-Fetch-Site": "same-site"}, form),  # another port or subdomain of the same site
        ]
        for headers, data in refused:
            resp = await agent.client.post("/console/users/grant", data=data, headers=headers, allow_redirects=False)
            assert resp.status == 403, (headers, data)
        assert (await agent.quota("42"))["balance"] == 100
        # a sign-in from another site is refused too (login CSRF)
        resp = await agent.client.post("/console/login", data={"token": CONSOLE_TOKEN},
                                       headers={"Origin": "http://evil.example"}, allow_redirects=False)
        assert resp.status == 403
        # the console's own form goes through
        resp = await agent.client.post("/console/users/grant", data=form,
                                       headers={"Origin": origin, "Sec-Fetch-Site": "same-origin"})
        assert resp.status == 200
        assert "discord:42 now has 600 credits" in await resp.text()
        assert (await agent.quota("42"))["balance"] == 600


async def test_pages_show_jobs_users_and_the_ledger(tmp_path: Path) -> None:
    async with run_agent(tmp_path, console_settings(tmp_path)) as agent:
        csrf = await sign_in(agent)
        job = await agent.submit("volcanoes")
        await agent.wait_status(job["id"], "done")
        jobs = await (await agent.client.get("/console/jobs", headers=HTML)).text()
        assert "volcanoes" in jobs and f'data-job-id="{job["id"]}"' in jobs
        detail = await (await agent.client.get(f"/console/jobs/{job['id']}", headers=HTML)).text()
        assert 'id="video"' in detail and 'id="attempts"' in detail and "charged 5" in detail
        video = await agent.client.get(f"/console/jobs/{job['id']}/video", headers={"Range": "bytes=0-99"})
        assert video.status == 206 and len(await video.read()) == 100
        users = await (await agent.client.get("/console/users?user=discord:42", headers=HTML)).text()
        assert 'data-user="discord:42"' in users and 'id="ledger"' in users and "reserve" in users
        overview = await (await agent.client.get("/console/", headers=HTML)).text()
        assert 'id="badge"' in overview and "OFFLINE" in overview
        make = await (await agent.client.get("/console/make", headers=HTML)).text()
        # unavailable routes are shown, greyed, with their reason
        assert "not configured" in make and "OpenAI shut the Sora API down on 2026-09-24" in make
        assert csrf in make


async def test_a_video_made_in_the_console_goes_through_the_ledger(tmp_path: Path) -> None:
    async with run_agent(tmp_path, console_settings(tmp_path)) as agent:
        csrf = await sign_in(agent)
        origin = str(agent.client.make_url("")).rstrip("/")
        form = {"csrf": csrf, "topic": "", "model": "self-hosted", "aspect": "9:16", "length": "short",
                "voice": "", "user": "console:operator"}
        resp = await agent.client.post("/console/make", data=form, headers={"Origin": origin})
        assert resp.status == 400 and "topic" in await resp.text()
        resp = await agent.client.post("/console/make", data={**form, "topic": "tides"}, headers={"Origin": origin},
                                       allow_redirects=False)
        assert resp.status == 303
        job_id = resp.headers["Location"].rsplit("=", 1)[1]
        done = await agent.wait_status(job_id, "done")
        assert done["user"]["platform"] == "console" and done["credits"]["charged"] == 5
        assert (await agent.quota("operator", "console"))["balance"] == 95


async def test_a_console_submission_over_the_quota_is_refused_with_the_reason(tmp_path: Path) -> None:
    async with run_agent(tmp_path, console_settings(tmp_path, quotas={"daily_credits": 10})) as agent:
        csrf = await sign_in(agent)
        origin = str(agent.client.make_url("")).rstrip("/")
        form = {"csrf": csrf, "topic": "comets", "model": "premium", "aspect": "9:16", "length": "short",
                "voice": "", "user": "discord:77"}
        resp = await agent.client.post("/console/make", data=form, headers={"Origin": origin}, allow_redirects=False)
        assert resp.status == 429
        page = await resp.text()
        assert "not enough credits" in page and 'value="comets"' in page  # the form keeps what was typed
        assert (await agent.quota("77"))["balance"] == 10


async def test_a_session_ends_after_its_lifetime(tmp_path: Path) -> None:
    async with run_agent(tmp_path, console_settings(tmp_path)) as agent:
        await sign_in(agent)
        agent.wall.advance(SESSION_TTL_S - 60)
        assert (await agent.client.get("/console/jobs/rows")).status == 200
        agent.wall.advance(61)
        assert (await agent.client.get("/console/jobs/rows", allow_redirects=False)).status == 401


async def test_wrong_tokens_are_refused_one_at_a_time(tmp_path: Path) -> None:
    async with run_agent(tmp_path, console_settings(tmp_path)) as agent:
        loop = asyncio.get_running_loop()
        started = loop.time()
        answers = await asyncio.gather(*(agent.client.post("/console/login", data={"token": f"guess-{i}"},
                                                           allow_redirects=False) for i in range(3)))
        assert [a.status for a in answers] == [401, 401, 401]
        assert loop.time() - started >= 3 * WRONG_TOKEN_DELAY_S - 0.05  # parallel guesses gain nothing
