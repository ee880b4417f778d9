"""Misbehaving backends for the fault suite: one aiohttp middleware that turns chosen routes of any
fake server (or every route of an empty one) into a fault.

    hang     accepts the request and never answers
    drip     answers 200, then one byte a second, forever
    reset    answers 200 with a long Content-Length, sends a little, then resets the connection (RST)
    garbage  answers 200 with random bytes of the expected content type
    endless  answers 200 with a chunked body that never ends, as fast as the client reads
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import os
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

__all__ = ["Fault", "FaultyBackend", "serve_app"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Fault(enum.Enum):
    HANG = "hang"
    DRIP = "drip"
    RESET = "reset"
    GARBAGE = "garbage"
    ENDLESS = "endless"


class FaultyBackend:
    """Applies `fault` to requests whose path ends with one of `paths` (every request when empty)."""

    def __init__(self, fault: Fault, *, paths: tuple[str, ...] = (), content_type: str = "application/json") -> None:
        self.fault = fault
        self.paths = paths
        self.content_type = content_type
        self.hits = 0
        self.sent_bytes = 0
        self.ended = asyncio.Event()  # the faulty answer stopped (the client went away)

    def app(self, inner: web.Application | None = None) -> web.Application:
        app = inner or web.Application()
        app.middlewares.append(self._middleware)
        if inner is None:
            app.router.add_route("*", "/{tail:.*}", self._not_found)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if self.paths and not request.path.endswith(self.paths):
            return await handler(request)
        self.hits += 1
        await request.read()
        try:
            return await self._answer(request)
        finally:
            self.ended.set()

    async def _not_found(self, request: web.Request) -> web.Response:
        return web.Response(status=404)

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        if self.fault is Fault.HANG:
            await asyncio.sleep(3600)
        if self.fault is Fault.GARBAGE:
            return web.Response(body=os.urandom(4096), content_type=self.content_type)
        headers = {"Content-Type": self.content_type}
        if self.fault is Fault.RESET:
            headers["Content-Length"] = str(1_000_000)  # under every limit: the reset is what fails
        resp = web.StreamResponse(headers=headers)
        await resp.prepare(request)
        if self.fault is Fault.RESET:
            await resp.write(b"\x00" * 20_000)
            await asyncio.sleep(0.05)
            _reset(request)
            return resp
        chunk, pause = (b"x", 1.0) if self.fault is Fault.DRIP else (b"\x00" * 65536, 0.0)
        with contextlib.suppress(ConnectionError, RuntimeError):  # the client hung up: that is the end
            while True:
                await resp.write(chunk)
                self.sent_bytes += len(chunk)
                await asyncio.sleep(pause)
        return resp


def _reset(request: web.Request) -> None:
    """Close with an RST, as a crashing backend or a middlebox does, not a polite FIN."""
    transport = request.transport
    if transport is None:  # the client has gone already
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


@contextlib.asynccontextmanager
async def serve_app(app: web.Application) -> AsyncIterator[str]:
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()
