"""A backend (or the proxy in front of it) that echoes the credentials it was sent in its errors.

Some reverse proxies and debug servers do: a 401 body that quotes the `Authorization` header, and
here also the password decoded from it, so a test can check every sink scrubs both forms.
"""

from __future__ import annotations

import base64
import binascii

from aiohttp import web

__all__ = ["EchoAuth"]


class EchoAuth:
    def __init__(self, status: int = 401) -> None:
        self.status = status
        self.seen: list[str] = []  # the Authorization header of each request

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization", "")
        self.seen.append(auth)
        user = password = ""
        if auth.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(auth[6:]).decode("latin-1").partition(":")
            except (binascii.Error, ValueError):
                pass
        words = f"Authorization: {auth} refused for user {user} with password {password} on {request.path}"
        return web.json_response({"error": words}, status=self.status)
