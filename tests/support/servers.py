"""Run an aiohttp app on a free port of 127.0.0.1: the one helper every fake server and test uses.

Built on aiohttp's public `aiohttp.test_utils.TestServer` (the server behind pytest-aiohttp's
`aiohttp_server` fixture), so it works in a fixture, inside a fake's own start()/stop(), in an
`async with` in a test body, and outside pytest (`python -m tests.providers.fake_servers`).

    async with serve(FakeOllama()) as url: ...        # a fake with app(), or a web.Application
    server = await start_server(app); server.url; await server.close()
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Protocol

from aiohttp import web
from aiohttp.test_utils import TestServer

__all__ = ["LocalServer", "ServesApp", "serve", "start_server", "SHUTDOWN_TIMEOUT_S"]

# Fakes hold requests open on purpose (hangs, event streams): closing waits this long, then cancels them.
SHUTDOWN_TIMEOUT_S = 0.1


class ServesApp(Protocol):
    """A fake server: builds its aiohttp app."""

    def app(self) -> web.Application: ...


class LocalServer:
    """A started server: its base URL (no trailing slash) and close()."""

    def __init__(self, server: TestServer) -> None:
        self.server = server
        self.url = str(server.make_url("")).rstrip("/")
        self.port: int = server.port  # type: ignore[assignment]

    async def close(self) -> None:
        await self.server.close()


async def start_server(app: web.Application | ServesApp, *,
                       shutdown_timeout_s: float = SHUTDOWN_TIMEOUT_S) -> LocalServer:
    """Start `app` (or `fake.app()`) on 127.0.0.1 at a port the OS picks."""
    application = app if isinstance(app, web.Application) else app.app()
    server = TestServer(application, host="127.0.0.1")
    await server.start_server(shutdown_timeout=shutdown_timeout_s)
    return LocalServer(server)


@contextlib.asynccontextmanager
async def serve(app: web.Application | ServesApp, *,
                shutdown_timeout_s: float = SHUTDOWN_TIMEOUT_S) -> AsyncIterator[str]:
    """`app` on a free loopback port for the block; yields its base URL."""
    server = await start_server(app, shutdown_timeout_s=shutdown_timeout_s)
    try:
        yield server.url
    finally:
        await server.close()
