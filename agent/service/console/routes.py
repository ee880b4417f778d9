"""The console's pages and actions (server-rendered with aiohttp-jinja2; agent.service.console.auth
guards them all).

    GET  /console                 overview: the badge, backends, who serves each stage, workers, queue
    GET  /console/jobs            queued and running jobs (live), the latest finished ones
    GET  /console/jobs/rows       the same rows alone, for the page's script to refresh
    GET  /console/jobs/{id}       one job: provenance per stage and scene, fallbacks, timings, cost, video
    GET  /console/jobs/{id}/video the MP4, inline, with Range
    POST /console/jobs/{id}/cancel
    GET  /console/users           balances and today's use; ?user=platform:id shows one user's ledger
    POST /console/users/grant
    GET  /console/make            make a video: topic, route (prices, FREE), aspect, length, voice
    POST /console/make
    GET  /console/events          every job's events as one SSE stream (agent.service.console.feed)
    GET/POST /console/login, POST /console/logout

Submissions and grants go through the same checks as the HTTP API (agent.service.api.parse_submission,
the runner's quota and limits), and are made for the user the form names ("console:operator" by
default), so the console gives no way around the ledger.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from collections.abc import Mapping
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from agent.choices import Aspect, Length
from agent.protocol import JobStatus
from agent.service.api import ApiError, Services, check_submission_voice, parse_submission
from agent.service.console import data
from agent.service.console.auth import COOKIE, SESSION, SESSION_TTL_S, CsrfRefused, SessionStore, check_same_origin
from agent.service.console.feed import ConsoleFeed
from agent.service.jobs import CancelOutcome, DiskFull, QueueFull, QuotaExceeded, TooManyJobs

__all__ = ["console_routes", "PREFIX"]

log = logging.getLogger(__name__)

PREFIX = "/console"
JOB_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
PLATFORM = re.compile(r"^[a-z0-9_-]{1,32}$")
DEFAULT_USER = "console:operator"
MAX_GRANT = 10**9
STATIC_FILES = {"console.js": "text/javascript; charset=utf-8", "console.css": "text/css; charset=utf-8"}


def _html(request: web.Request, template: str, context: dict[str, Any], status: int = 200) -> web.Response:
    session = request.get(SESSION)
    base = {"csrf": getattr(session, "csrf", ""), "path": request.path, "prefix": PREFIX}
    response = aiohttp_jinja2.render_template(template, request, {**base, **context}, status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _job_id(request: web.Request) -> str:
    job_id = request.match_info["job_id"]
    if not JOB_ID.fullmatch(job_id):
        raise web.HTTPNotFound(text="no such job")
    return job_id


def _user(text: str) -> tuple[str, str]:
    ref = data.parse_user_ref(text)
    if ref is None or not PLATFORM.fullmatch(ref[0]) or len(ref[1]) > 64 or not ref[1].isprintable():
        raise ValueError("a user is platform:id, e.g. discord:1234 (platform: a-z 0-9 _ -)")
    return ref


def console_routes(svc: Services, sessions: SessionStore, feed: ConsoleFeed,
                   static_files: Mapping[str, bytes]) -> list[web.RouteDef]:
    settings = svc.settings
    policy = svc.policy

    # ------------------------------------------------------------------ sign-in

    async def login_page(request: web.Request) -> web.Response:
        return _html(request, "login.html", {"error": ""})

    async def login(request: web.Request) -> web.StreamResponse:
        try:
            check_same_origin(request)
        except CsrfRefused as exc:
            log.warning("console: refused a sign-in from %s: %s", request.remote, exc)
            return web.Response(status=403, text="refused: this request did not come from the console's own pages\n")
        form = await request.post()
        if not sessions.token_matches(str(form.get("token", ""))):
            log.warning("console: a sign-in with a wrong token from %s", request.remote)
            await sessions.refused()
            return _html(request, "login.html", {"error": "That is not the console token."}, status=401)
        session = sessions.create()
        log.info("console: signed in from %s", request.remote)
        response = web.HTTPSeeOther(PREFIX)
        response.set_cookie(COOKIE, session.id, max_age=int(SESSION_TTL_S), path=PREFIX, httponly=True,
                            samesite="Strict", secure=request.secure)
        raise response

    async def logout(request: web.Request) -> web.StreamResponse:
        sessions.drop(request[SESSION].id)
        response = web.HTTPSeeOther(f"{PREFIX}/login")
        response.del_cookie(COOKIE, path=PREFIX)
        raise response

    # ------------------------------------------------------------------ overview

    async def overview(request: web.Request) -> web.Response:
        status = await svc.status()
        return _html(request, "overview.html", {
            "status": status, "backends": data.backend_rows(status),
            "workers": data.worker_rows(status, settings.cluster.enabled),
        })

    # ------------------------------------------------------------------ jobs

    async def jobs(request: web.Request) -> web.Response:
        active, finished = await data.job_list(svc)
        return _html(request, "jobs.html", {"active": active, "finished": finished})

    async def job_rows(request: web.Request) -> web.Response:
        active, finished = await data.job_list(svc)
        return _html(request, "job_rows.html", {"active": active, "finished": finished})

    async def job(request: web.Request) -> web.Response:
        detail = await data.job_detail(svc, _job_id(request))
        if detail is None:
            raise web.HTTPNotFound(text="no such job")
        return _html(request, "job.html", {"d": detail, "job": detail.job})

    async def video(request: web.Request) -> web.StreamResponse:
        job_id = _job_id(request)
        job = await svc.runner.job(job_id)
        if job is None or job.status is not JobStatus.DONE or job.video_expired:
            raise web.HTTPNotFound(text="no video for this job")
        path = svc.runner.video_file(job_id)
        if not await asyncio.to_thread(path.is_file):
            raise web.HTTPNotFound(text="no video for this job")
        return web.FileResponse(path, headers={"Content-Type": "video/mp4", "Cache-Control": "no-store"})

    async def cancel(request: web.Request) -> web.StreamResponse:
        job_id = _job_id(request)
        outcome = await svc.runner.cancel(job_id)
        log.info("console: cancel of job %s: %s", job_id, outcome.name.lower())
        if outcome is CancelOutcome.NOT_ACTIVE and await svc.runner.job(job_id) is None:
            raise web.HTTPNotFound(text="no such job")
        back = request.headers.get("Referer", "")
        raise web.HTTPSeeOther(f"{PREFIX}/jobs/{job_id}" if back.endswith(f"/jobs/{job_id}") else f"{PREFIX}/jobs")

    # ------------------------------------------------------------------ users and credits

    async def users(request: web.Request, *, message: str = "", error: str = "", status: int = 200,
                    selected: str | None = None) -> web.Response:
        now = policy.wall_clock()
        since = policy.next_reset(now) - 86400
        usage = await svc.ledger.usage(since=since, day=policy.day(now), daily=policy.daily)
        chosen = selected if selected is not None else request.query.get("user", "")
        person, entries = None, []
        if chosen:
            try:
                platform, user_id = _user(chosen)
            except ValueError as exc:
                error = error or str(exc)
            else:
                person = await svc.ledger.find_user(platform, user_id)
                if person is None:
                    error = error or f"nobody called {chosen} has used the service yet"
                else:
                    entries = data.ledger_rows(await svc.ledger.entries(person.id))
        return _html(request, "users.html", {
            "usage": usage, "person": person, "entries": entries, "chosen": chosen, "message": message,
            "error": error, "daily": policy.daily,
        }, status=status)

    async def users_page(request: web.Request) -> web.Response:
        return await users(request)

    async def grant(request: web.Request) -> web.Response:
        form = await request.post()
        who = str(form.get("user", ""))
        try:
            platform, user_id = _user(who)
            amount = int(str(form.get("amount", "")).strip())
            if amount == 0 or abs(amount) > MAX_GRANT:
                raise ValueError(f"the amount must be a non-zero whole number up to {MAX_GRANT}")
        except ValueError as exc:
            msg = str(exc) if "platform" in str(exc) or "amount" in str(exc) else "the amount must be a whole number"
            return await users(request, error=msg, status=400, selected=who)
        note = str(form.get("note", ""))[:500]
        note = "".join(ch for ch in note if ch.isprintable()) or "granted in the console"
        now = policy.wall_clock()
        user = await svc.ledger.ensure_user(platform, user_id, "", now)
        balance = await svc.ledger.grant(user.id, amount, now, day=policy.day(now), daily=policy.daily, note=note)
        log.info("console: granted %d credits to %s:%s (%s)", amount, platform, user_id, note)
        return await users(request, message=f"{platform}:{user_id} now has {balance} credits.",
                           selected=f"{platform}:{user_id}")

    # ------------------------------------------------------------------ make a video

    async def make_page(request: web.Request, *, error: str = "", values: Mapping[str, str] | None = None,
                        status: int = 200) -> web.Response:
        status_now = await svc.status()
        return _html(request, "make.html", {
            "routes": status_now.routes, "aspects": [a.value for a in Aspect], "lengths": [x.value for x in Length],
            "v": {"aspect": settings.video.aspect.value, "length": settings.video.length.value, "user": DEFAULT_USER,
                  "model": next((r.route for r in status_now.routes if r.available), ""), **(values or {})},
            "error": error,
        }, status=status)

    async def make_form(request: web.Request) -> web.Response:
        return await make_page(request)

    async def make(request: web.Request) -> web.StreamResponse:
        form = await request.post()
        values = {k: str(form.get(k, "")) for k in ("topic", "model", "aspect", "length", "voice", "user")}
        try:
            platform, user_id = _user(values["user"] or DEFAULT_USER)
        except ValueError as exc:
            return await make_page(request, error=str(exc), values=values, status=400)
        options = {k: values[k] for k in ("model", "aspect", "length", "voice") if values[k]}
        body = {"request_id": f"console-{secrets.token_urlsafe(12)}", "topic": values["topic"], "options": options,
                "user": {"platform": platform, "id": user_id, "name": "operator console"}}
        try:
            submission = parse_submission(body, settings, svc.backends)
            await check_submission_voice(submission, settings, svc.backends)
            job, _created = await svc.runner.submit(submission)
        except ApiError as exc:
            return await make_page(request, error=exc.message, values=values, status=exc.status)
        except (QuotaExceeded, TooManyJobs) as exc:
            return await make_page(request, error=str(exc), values=values, status=429)
        except (QueueFull, DiskFull) as exc:
            return await make_page(request, error=str(exc), values=values, status=503)
        log.info("console: job %s submitted for %s:%s", job.id, platform, user_id)
        raise web.HTTPSeeOther(f"{PREFIX}/jobs?new={job.id}")

    async def events(request: web.Request) -> web.StreamResponse:
        return await feed.stream(request)

    async def static(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in static_files:
            raise web.HTTPNotFound(text="no such file")
        return web.Response(body=static_files[name], headers={
            "Content-Type": STATIC_FILES[name], "Cache-Control": "no-cache"})

    p = PREFIX
    return [
        web.get(f"{p}/login", login_page, allow_head=False),
        web.post(f"{p}/login", login),
        web.post(f"{p}/logout", logout),
        web.get(p, overview, allow_head=False),
        web.get(f"{p}/", overview, allow_head=False),
        web.get(f"{p}/jobs", jobs, allow_head=False),
        web.get(f"{p}/jobs/rows", job_rows, allow_head=False),
        web.get(f"{p}/jobs/{{job_id}}", job, allow_head=False),
        web.get(f"{p}/jobs/{{job_id}}/video", video),
        web.post(f"{p}/jobs/{{job_id}}/cancel", cancel),
        web.get(f"{p}/users", users_page, allow_head=False),
        web.post(f"{p}/users/grant", grant),
        web.get(f"{p}/make", make_form, allow_head=False),
        web.post(f"{p}/make", make),
        web.get(f"{p}/events", events, allow_head=False),
        web.get(f"{p}/static/{{name}}", static, allow_head=False),
    ]
