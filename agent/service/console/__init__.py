"""The operator console: web pages on the agent for the people who run it (issue 16).

`setup_console(app, svc, ...)` adds it to the agent's app when REELBOT_CONSOLE_TOKEN is set, and
returns the job observers it needs (its live feed); without the token there is no /console at all.

    auth.py      sign-in, sessions, CSRF checks (the middleware every console path passes)
    routes.py    the pages and the actions
    data.py      what the pages show, read from the runner, the store and the ledger
    feed.py      every job's events as one SSE stream, for the pages' live updates
    templates/   Jinja2 (autoescaped); static/ the stylesheet and the one small script
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web

from agent.service.api import Services
from agent.service.console.auth import SessionStore, session_middleware
from agent.service.console.feed import ConsoleFeed
from agent.service.console.routes import PREFIX, STATIC_FILES, console_routes
from agent.service.observers import JobObserver
from agent.service.quota import iso_utc
from agent.settings import Settings

log = logging.getLogger(__name__)

__all__ = ["setup_console", "PREFIX", "environment_options", "configure_environment"]

TEMPLATES = Path(__file__).with_name("templates")
STATIC = Path(__file__).with_name("static")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# the pages load nothing from elsewhere, and no other site may frame them
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; media-src 'self'; object-src 'none'; "
                               "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def _in_console(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


def _scoped(middleware: Any) -> Any:
    """The console's middleware, for console paths only (the API keeps its bearer token)."""

    @web.middleware
    async def scoped(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not _in_console(request.path):
            return await handler(request)
        response = await middleware(request, handler)
        if not response.prepared:
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
        return response

    return scoped


def _plain(value: Any) -> str:
    """A probe's or a worker's detail as text: lists joined, mappings as key=value."""
    if isinstance(value, list | tuple):
        return ", ".join(_plain(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={_plain(v)}" for k, v in value.items())
    return "" if value is None else str(value)


def environment_options() -> dict[str, Any]:
    """The templates, read once here (create_app is not on the event loop: rendering then never
    touches the disk), autoescaped, and strict about a name the page does not have."""
    templates = {f.name: f.read_text("utf-8") for f in TEMPLATES.glob("*.html")}
    return {"loader": jinja2.DictLoader(templates), "undefined": jinja2.StrictUndefined,
            "autoescape": jinja2.select_autoescape(("html",), default=True)}


def configure_environment(env: jinja2.Environment) -> jinja2.Environment:
    env.filters["when"] = lambda iso: (iso or "")[:19].replace("T", " ")
    env.filters["plain"] = _plain
    env.filters["epoch"] = lambda at: (iso_utc(at) or "")[:19].replace("T", " ")
    return env


def setup_console(app: web.Application, settings: Settings, svc: Services, *,
                  wall_clock: Callable[[], float] = time.time) -> list[JobObserver]:
    token = settings.agent.console_token
    if not token:
        return []
    sessions = SessionStore(token, wall_clock)
    feed = ConsoleFeed(settings.agent.sse_keepalive_s)
    configure_environment(aiohttp_jinja2.setup(app, **environment_options()))
    app.middlewares.append(_scoped(session_middleware(sessions)))
    static = {name: (STATIC / name).read_bytes() for name in STATIC_FILES}
    app.add_routes(console_routes(svc, sessions, feed, static))

    async def close_feed(app: web.Application) -> None:
        feed.close()

    app.on_shutdown.append(close_feed)
    log.info("operator console on at %s (sign in with REELBOT_CONSOLE_TOKEN)", PREFIX)
    return [feed]
