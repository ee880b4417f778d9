"""The console's sign-in, sessions and cross-site request protection.

    sign in    POST /console/login with REELBOT_CONSOLE_TOKEN -> a random session id in a cookie
               (HttpOnly: no script reads it; SameSite=Strict: no other site's page sends it; Path=/console;
               Secure when the request came over TLS)
    every page the session, or a redirect to the sign-in page (a 401 for scripts)
    every POST (also the sign-in) refused with 403 unless it comes from the console's own pages:
               `Sec-Fetch-Site` (set by browsers) must be same-origin, `Origin` must be this host, and
               the form's `csrf` field must be the session's own random token (the sign-in has no
               session yet: the header checks alone)

Sessions live in memory: a restart signs every operator out, which is the safe side. They expire
`SESSION_TTL_S` after sign-in (the wall clock is injected); at most `MAX_SESSIONS` are kept (the
oldest goes first). The token is compared in constant time and never logged.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

__all__ = ["Session", "SessionStore", "COOKIE", "SESSION", "CsrfRefused", "check_same_origin", "check_csrf",
           "session_middleware", "PUBLIC_PATHS"]

log = logging.getLogger(__name__)

COOKIE = "reelbot_console"
SESSION_TTL_S = 12 * 3600.0
MAX_SESSIONS = 64
WRONG_TOKEN_DELAY_S = 0.5
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PUBLIC_PATHS = frozenset({"/console/login", "/console/static/console.css"})  # no data in either

WallClock = Callable[[], float]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Session:
    id: str
    csrf: str
    expires_at: float


# the request's Session, set by the middleware (a typed key where aiohttp has them: 3.12 on)
SESSION: Any = web.RequestKey("console_session", Session) if hasattr(web, "RequestKey") else "console_session"


class SessionStore:
    def __init__(self, token: str, wall_clock: WallClock = time.time) -> None:
        self._token = token.encode()
        self._clock = wall_clock
        self._sessions: dict[str, Session] = {}
        self._refusing = asyncio.Lock()

    async def refused(self) -> None:
        """After a wrong token: wait, one refusal at a time, so guessing runs at a couple of tries a
        second however many connections a guesser opens (the operator who mistyped barely notices)."""
        async with self._refusing:
            await asyncio.sleep(WRONG_TOKEN_DELAY_S)

    def token_matches(self, given: str) -> bool:
        try:
            sent = given.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            return False
        return bool(self._token) and hmac.compare_digest(sent, self._token)

    def create(self) -> Session:
        self._expire()
        while len(self._sessions) >= MAX_SESSIONS:
            self._sessions.pop(next(iter(self._sessions)))
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), self._clock() + SESSION_TTL_S)
        self._sessions[session.id] = session
        return session

    def get(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        session = self._sessions.get(session_id)
        if session is None:
            return None
        if session.expires_at <= self._clock():
            self._sessions.pop(session_id, None)
            return None
        return session

    def drop(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)

    def _expire(self) -> None:
        now = self._clock()
        for sid in [sid for sid, s in self._sessions.items() if s.expires_at <= now]:
            del self._sessions[sid]


class CsrfRefused(Exception):
    """A state-changing request that did not come from the console's own pages."""


def check_same_origin(request: web.Request) -> None:
    """The browser's own word on where a request comes from (what a cross-site form cannot forge)."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site not in ("same-origin", "none"):
        raise CsrfRefused(f"Sec-Fetch-Site is {site}")
    origin = request.headers.get("Origin")
    if origin is not None and origin != f"{request.scheme}://{request.host}":
        raise CsrfRefused("Origin is another site")


def check_csrf(request: web.Request, session: Session, form: Any) -> None:
    check_same_origin(request)
    given = str(form.get("csrf", "")) if form is not None else ""
    given = given or request.headers.get("X-CSRF-Token", "")
    if not hmac.compare_digest(given.encode(), session.csrf.encode()):
        raise CsrfRefused("the form's csrf token is missing or wrong")


def session_middleware(store: SessionStore) -> Any:
    """Every console path but the sign-in page needs a live session; unsafe methods also the CSRF
    checks (the form is read here, once; handlers find it with `await request.post()`, cached)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in PUBLIC_PATHS:
            return await handler(request)
        session = store.get(request.cookies.get(COOKIE))
        if session is None:
            wants_html = "text/html" in request.headers.get("Accept", "")
            if request.method == "GET" and wants_html:
                raise web.HTTPSeeOther("/console/login")
            return web.Response(status=401, text="sign in to the console first\n")
        if request.method in UNSAFE_METHODS:
            try:
                check_csrf(request, session, await request.post())
            except CsrfRefused as exc:
                log.warning("console: refused %s %s from %s: %s", request.method, request.path, request.remote, exc)
                return web.Response(status=403, text="refused: this request did not come from the console's "
                                                     "own pages\n")
        request[SESSION] = session
        return await handler(request)

    return middleware
