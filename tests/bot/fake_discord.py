"""A fake Discord REST API on 127.0.0.1 that enforces the interaction rules and keeps what users see.

* the first callback must come within 3 s of the interaction (else 404 / 10062); a second one is
  400 / 40060;
* `@original` webhook edits die 15 minutes after the interaction, by the injected clock (401 / 50027);
* `flood_next` answers that many requests with 429 (float `retry_after` + headers);
* attachments over `upload_limit_bytes` are 413 / 40005.

`interaction(...)` builds the INTERACTION_CREATE payload the gateway would deliver.
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import discord
from aiohttp import web

from tests.support.servers import LocalServer, start_server

FIXTURES = Path(__file__).parent / "fixtures"  # copies of shared/api/fixtures: the suite runs from a clean clone
APP_ID = "775799577604522054"


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """Exactly `application/json`, as Discord sends it (discord.py compares the header verbatim)."""
    return web.Response(body=json.dumps(data).encode(), status=status,
                        headers={**(headers or {}), "Content-Type": "application/json"})


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


# ---------------------------------------------------------------- what the gateway would deliver

USER, STRANGER, ADMIN = "53908232506183680", "53908232506183681", "53908232506183682"
CHANNEL, GUILD = "645027906669510667", "290926798626357999"
MEMBER_PERMS = "2048"  # send messages; no Manage Server
MANAGER_PERMS = str(1 << 5)  # Manage Server
_tokens = itertools.count(1)


def modal_submit(custom_id: str, values: dict[str, str], *, user: str = USER) -> dict[str, Any]:
    """INTERACTION_CREATE type 5 (MODAL_SUBMIT): the text inputs' values, in action rows as Discord sends them."""
    rows = [{"type": 1, "components": [{"type": 4, "custom_id": key, "value": value}]} for key, value in values.items()]
    return interaction("", user=user, type_=5, data={"custom_id": custom_id, "components": rows})


def interaction(name: str, options: list[dict[str, Any]] | None = None, *, user: str = USER,
                perms: str = MEMBER_PERMS, type_: int = 2, data: dict[str, Any] | None = None) -> dict[str, Any]:
    raw = copy.deepcopy(fixture("discord_interaction_slash_command.json"))
    raw["id"] = str(discord.utils.time_snowflake(dt.datetime.now(dt.UTC)) + next(_tokens))
    raw["token"] = f"TOKEN_{next(_tokens)}"
    raw["member"]["user"]["id"] = user
    raw["member"]["permissions"] = perms
    raw["member"]["flags"] = 0  # current Discord always sends it; the docs sample predates it
    raw["type"] = type_
    # current Discord sends the partial channel too (discord.py reads interaction.channel_id from it)
    raw["channel"] = {"id": raw["channel_id"], "type": 0, "guild_id": raw["guild_id"], "name": "general",
                      "position": 0, "permission_overwrites": [], "nsfw": False, "parent_id": None,
                      "last_message_id": None, "rate_limit_per_user": 0, "topic": None, "flags": 0,
                      "permissions": perms}
    raw["data"] = data or {"type": 1, "name": name, "id": "771825006014889984", "options": options or []}
    return raw


@dataclass
class Posted:
    """A message as users see it."""

    id: str
    channel_id: str
    content: str = ""
    components: list[Any] = field(default_factory=list)
    embeds: list[Any] = field(default_factory=list)
    attachments: list[dict[str, Any]] = field(default_factory=list)
    history: list[str] = field(default_factory=list)
    frames: list[tuple[str, list[str]]] = field(default_factory=list)  # (content, button labels) per change
    flags: int = 0


@dataclass
class Pending:
    id: str
    token: str
    channel_id: str
    arrived: float  # monotonic, for the 3-second rule
    created: float  # the injected clock, for the 15 minutes
    acked: bool = False
    original: Posted | None = None
    modal: dict[str, Any] | None = None  # a type 9 callback: the modal shown to the user


class FakeDiscord:
    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.interactions: dict[str, Pending] = {}
        self.channel_messages: dict[str, Posted] = {}
        self.calls: list[tuple[str, str, int]] = []
        self.flood_next = 0
        self.upload_limit_bytes = 10 * 1024 * 1024
        self.synced: list[Any] = []
        self.ephemeral: list[Posted] = []
        self._next = 1300000000000000100
        self.url = ""
        self._server: LocalServer | None = None

    def expect(self, interaction_id: str, token: str, channel_id: str) -> None:
        self.interactions[token] = Pending(interaction_id, token, channel_id, time.monotonic(), self.clock())

    def _id(self) -> str:
        self._next += 1
        return str(self._next)

    def _message(self, posted: Posted) -> dict[str, Any]:
        raw = copy.deepcopy(fixture("discord_message_response.json"))
        raw.update(id=posted.id, channel_id=posted.channel_id, content=posted.content,
                   components=posted.components, embeds=posted.embeds, flags=posted.flags,
                   attachments=[dict(a, id=self._id(), url="https://cdn.example/x.mp4",
                                     proxy_url="https://cdn.example/x.mp4") for a in posted.attachments])
        if not any(p.original is posted for p in self.interactions.values()):  # a plain channel message
            raw.update(type=0)
            for key in ("interaction_metadata", "webhook_id", "application_id"):
                raw.pop(key, None)
        else:
            raw["interaction_metadata"]["user"].update(discriminator="0", avatar=None, global_name=None)
        return raw

    @staticmethod
    def _error(status: int, code: int, message: str) -> web.Response:
        return _json({"message": message, "code": code}, status=status)

    async def _body(self, request: web.Request) -> tuple[dict[str, Any], list[tuple[str, int]]]:
        """JSON, or multipart with payload_json + files[n]."""
        if request.content_type.startswith("multipart/"):
            payload: dict[str, Any] = {}
            files: list[tuple[str, int]] = []
            reader = await request.multipart()
            async for part in reader:
                data = await part.read()  # type: ignore[union-attr]
                if part.name == "payload_json":  # type: ignore[union-attr]
                    payload = json.loads(data)
                else:
                    files.append((part.filename or "", len(data)))  # type: ignore[union-attr]
            return payload, files
        if request.can_read_body:
            return await request.json(), []
        return {}, []

    def _apply(self, posted: Posted, payload: dict[str, Any], files: list[tuple[str, int]]) -> None:
        if "content" in payload:
            posted.content = payload["content"] or ""
            posted.history.append(posted.content)
        if "components" in payload:
            posted.components = payload["components"] or []
        if "embeds" in payload:
            posted.embeds = payload["embeds"] or []
        if "attachments" in payload:
            posted.attachments = [{"filename": name, "size": size} for name, size in files]
        if "content" in payload or "components" in payload:
            labels = [c.get("label", "") for row in posted.components for c in row.get("components", [])]
            posted.frames.append((posted.content, labels))

    @web.middleware
    async def middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if self.flood_next > 0 and request.method in ("PATCH", "POST"):
            self.flood_next -= 1
            self.calls.append((request.method, request.path, 429))
            return _json({"message": "You are being rate limited.", "retry_after": 0.05, "global": False},
                                     status=429, headers={"Retry-After": "1", "X-RateLimit-Limit": "5",
                                                          "X-RateLimit-Remaining": "0", "X-RateLimit-Reset-After": "0.05",
                                                          "X-RateLimit-Bucket": "abc", "X-RateLimit-Scope": "user"})
        resp = await handler(request)
        self.calls.append((request.method, request.path, resp.status))
        return resp

    # ----------------------------------------------------------- routes

    async def me(self, request: web.Request) -> web.Response:
        return _json({"id": APP_ID, "username": "MyBot", "discriminator": "0000", "avatar": None,
                                  "bot": True, "flags": 0, "global_name": None})

    async def app_info(self, request: web.Request) -> web.Response:
        return _json({
            "id": APP_ID, "name": "MyBot", "icon": None, "description": "", "summary": "", "bot_public": True,
            "bot_require_code_grant": False, "verify_key": "00", "flags": 0, "rpc_origins": [],
            "owner": {"id": "1", "username": "owner", "discriminator": "0", "avatar": None}, "team": None})

    async def sync(self, request: web.Request) -> web.Response:
        commands = await request.json()
        self.synced = commands
        return _json([dict(c, id=str(9000 + i), application_id=APP_ID, version="1")
                                  for i, c in enumerate(commands)])

    async def callback(self, request: web.Request) -> web.Response:
        pending = self.interactions.get(request.match_info["token"])
        if pending is None or time.monotonic() - pending.arrived > 3.0:
            return self._error(404, 10062, "Unknown interaction")
        if pending.acked:
            return self._error(400, 40060, "Interaction has already been acknowledged")
        body = await request.json()
        pending.acked = True
        data = body.get("data") or {}
        if body["type"] == 9:  # MODAL: custom_id, title, components
            pending.modal = data
        if body["type"] in (4, 5):
            pending.original = Posted(self._id(), pending.channel_id, flags=int(data.get("flags", 0)))
            if body["type"] == 4:
                self._apply(pending.original, data, [])
            if pending.original.flags & 64:
                self.ephemeral.append(pending.original)
        if request.query.get("with_response") not in ("1", "true"):
            return web.Response(status=204)
        callback: dict[str, Any] = {"interaction": {
            "id": pending.id, "type": 2, "response_message_id": pending.original.id if pending.original else None,
            "response_message_loading": body["type"] == 5,
            "response_message_ephemeral": bool(pending.original and pending.original.flags & 64)}}
        if body["type"] == 4 and pending.original is not None:
            callback["resource"] = {"type": 4, "message": self._message(pending.original)}
        else:
            callback["resource"] = {"type": body["type"]}
        return _json(callback)

    async def edit_original(self, request: web.Request) -> web.Response:
        pending = self.interactions.get(request.match_info["token"])
        if pending is None or self.clock() - pending.created > 15 * 60:
            return self._error(401, 50027, "Invalid webhook token provided")
        if pending.original is None:
            return self._error(404, 10008, "Unknown Message")
        payload, files = await self._body(request)
        if any(size > self.upload_limit_bytes for _, size in files):
            return self._error(413, 40005, "Request entity too large")
        self._apply(pending.original, payload, files)
        return _json(self._message(pending.original))

    async def edit_webhook_message(self, request: web.Request) -> web.Response:
        """PATCH /webhooks/{app}/{token}/messages/{id}: the interaction's webhook edits a message it
        made (the original response, by id) while the token lives."""
        pending = self.interactions.get(request.match_info["token"])
        if pending is None or self.clock() - pending.created > 15 * 60:
            return self._error(401, 50027, "Invalid webhook token provided")
        if pending.original is None or pending.original.id != request.match_info["mid"]:
            return self._error(404, 10008, "Unknown Message")
        payload, files = await self._body(request)
        if any(size > self.upload_limit_bytes for _, size in files):
            return self._error(413, 40005, "Request entity too large")
        self._apply(pending.original, payload, files)
        return _json(self._message(pending.original))

    async def post_channel(self, request: web.Request) -> web.Response:
        payload, files = await self._body(request)
        posted = Posted(self._id(), request.match_info["cid"])
        self._apply(posted, payload, files)
        self.channel_messages[posted.id] = posted
        return _json(self._message(posted))

    async def edit_channel(self, request: web.Request) -> web.Response:
        posted = self.channel_messages.get(request.match_info["mid"])
        if posted is None:
            return self._error(404, 10008, "Unknown Message")
        payload, files = await self._body(request)
        if any(size > self.upload_limit_bytes for _, size in files):
            return self._error(413, 40005, "Request entity too large")
        self._apply(posted, payload, files)
        return _json(self._message(posted))

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self.middleware], client_max_size=2**30)
        r = app.router
        r.add_get("/api/v10/users/@me", self.me)
        r.add_get("/api/v10/oauth2/applications/@me", self.app_info)
        r.add_put("/api/v10/applications/{app}/commands", self.sync)
        r.add_put("/api/v10/applications/{app}/guilds/{gid}/commands", self.sync)
        r.add_post("/api/v10/interactions/{iid}/{token}/callback", self.callback)
        r.add_patch("/api/v10/webhooks/{app}/{token}/messages/@original", self.edit_original)
        r.add_patch("/api/v10/webhooks/{app}/{token}/messages/{mid}", self.edit_webhook_message)
        r.add_post("/api/v10/channels/{cid}/messages", self.post_channel)
        r.add_patch("/api/v10/channels/{cid}/messages/{mid}", self.edit_channel)
        return app

    async def start(self) -> str:
        self._server = await start_server(self)
        self.url = self._server.url
        return self.url

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.close()
