"""A fake Telegram Bot API on 127.0.0.1 that answers as Telegram does and keeps what a user would see.

`ok/result` envelopes; 429 with `parameters.retry_after` (`flood_next` edits); 400 "message is not
modified" for identical edits; 413 when a multipart upload is over `upload_limit_bytes`.

`command(...)` and `press(...)` build the updates a user's message or button press would bring.
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.support.servers import LocalServer, start_server

BOT = {"id": 7000000001, "is_bot": True, "first_name": "Fox Bot", "username": "MyFoxBot",
       "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False}
NOT_MODIFIED = ("Bad Request: message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message")


# ---------------------------------------------------------------- what users send

FIXTURES = Path(__file__).parent / "fixtures"  # copies of shared/api/fixtures: the suite runs from a clean clone
ALICE, ADMIN, MALLORY = 123456789, 555, 666
GROUP = -1001234567890


def _fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


_ids = iter(range(904200000, 904300000))


def command(text: str, *, user: int = ALICE, chat: int = ALICE, message_id: int | None = None) -> dict[str, Any]:
    raw = copy.deepcopy(_fixture("telegram_update_command.json" if chat > 0 else "telegram_update_group_command.json"))
    uid = next(_ids)
    raw["update_id"] = uid
    msg = raw["message"]
    msg["message_id"] = message_id or uid % 100000
    msg["from"]["id"] = user
    msg["chat"]["id"] = chat
    msg["text"] = text
    msg["entities"][0]["length"] = len(text.split(" ")[0])
    return raw


def reply(text: str, to: Shown, *, user: int = ALICE) -> dict[str, Any]:
    """A plain text message replying to one of the bot's messages (no command entity)."""
    raw = command(text, user=user, chat=to.chat_id)
    del raw["message"]["entities"]
    raw["message"]["reply_to_message"] = {
        "message_id": to.message_id, "date": 1760000001, "text": to.text,
        "chat": raw["message"]["chat"], "from": {"id": 7000000001, "is_bot": True, "first_name": "Fox Bot"}}
    return raw


def press(data: str, *, user: int, chat: int = ALICE, message_id: int = 1) -> dict[str, Any]:
    return {"update_id": next(_ids), "callback_query": {
        "id": str(next(_ids)), "chat_instance": "ci", "data": data,
        "from": {"id": user, "is_bot": False, "first_name": "User", "username": f"u{user}"},
        "message": {"message_id": message_id, "date": 1760000001, "chat": {"id": chat, "type": "private"},
                    "from": {"id": 7000000001, "is_bot": True, "first_name": "Fox Bot"}, "text": "…"}}}


@dataclass
class Shown:
    """A message as the user sees it."""

    chat_id: int
    message_id: int
    text: str = ""
    reply_markup: dict[str, Any] | None = None
    history: list[str] = field(default_factory=list)
    frames: list[tuple[str, list[str]]] = field(default_factory=list)  # (text, button labels) after each change
    video: dict[str, Any] | None = None
    caption: str = ""
    reply_to: int | None = None


def _labels(markup: dict[str, Any] | None) -> list[str]:
    return [b["text"] for row in (markup or {}).get("inline_keyboard", []) for b in row]


class FakeTelegram:
    def __init__(self, upload_limit_bytes: int = 50_000_000) -> None:
        self.upload_limit_bytes = upload_limit_bytes
        self.messages: dict[tuple[int, int], Shown] = {}
        self.calls: list[tuple[str, float]] = []
        self.actions: list[tuple[int, str]] = []
        self.answers: list[dict[str, Any]] = []
        self.flood_next = 0  # answer this many editMessageText calls with 429
        self.retry_after = 1
        self.not_modified = 0
        self.too_large = 0
        self.refuse_token = False
        self.updates: list[dict[str, Any]] = []  # what getUpdates hands out (a bot polling a process away)  # answer every call 401 Unauthorized, as for a revoked token
        self._next_id = 100
        self.url = ""
        self._server: LocalServer | None = None

    # ----------------------------------------------------------- what the user sees

    def in_chat(self, chat_id: int) -> list[Shown]:
        return [m for (c, _), m in sorted(self.messages.items()) if c == chat_id]

    def videos(self, chat_id: int) -> list[Shown]:
        return [m for m in self.in_chat(chat_id) if m.video]

    # ----------------------------------------------------------- the API

    async def handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        self.calls.append((method, time.monotonic()))
        if request.content_type.startswith("multipart/"):
            size = request.content_length or 0
            form = await request.post()
            if size > self.upload_limit_bytes:
                self.too_large += 1
                return web.json_response({"ok": False, "error_code": 413, "description": "Request Entity Too Large"},
                                         status=413)
        else:
            form = await request.post() if request.content_type != "application/json" else await request.json()
        params = {k: v for k, v in form.items()}
        if self.refuse_token:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        handler = getattr(self, f"m_{method}", None)
        if handler is None:
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found: method not found"},
                                     status=404)
        return await handler(params)

    def _ok(self, result: Any) -> web.Response:
        return web.json_response({"ok": True, "result": result})

    def _message(self, shown: Shown) -> dict[str, Any]:
        chat = {"id": shown.chat_id, "type": "private" if shown.chat_id > 0 else "supergroup"}
        if shown.chat_id < 0:
            chat["title"] = "Fox Fans"
        out: dict[str, Any] = {"message_id": shown.message_id, "from": BOT, "chat": chat, "date": int(time.time())}
        if shown.video:
            out["video"] = shown.video
            out["caption"] = shown.caption
        else:
            out["text"] = shown.text
        if shown.reply_markup:
            out["reply_markup"] = shown.reply_markup
        return out

    def _new(self, chat_id: int, **fields: Any) -> Shown:
        self._next_id += 1
        shown = Shown(chat_id, self._next_id, **fields)
        self.messages[(chat_id, shown.message_id)] = shown
        return shown

    @staticmethod
    def _markup(params: dict[str, Any]) -> dict[str, Any] | None:
        raw = params.get("reply_markup")
        return json.loads(raw) if isinstance(raw, str) else raw

    async def m_getMe(self, params: dict[str, Any]) -> web.Response:
        return self._ok(BOT)

    async def m_setMyCommands(self, params: dict[str, Any]) -> web.Response:
        return self._ok(True)

    async def m_deleteWebhook(self, params: dict[str, Any]) -> web.Response:
        return self._ok(True)

    async def m_getUpdates(self, params: dict[str, Any]) -> web.Response:
        """Long polling: the queued updates from `offset` on, else wait a little (not the full timeout,
        so a stopping bot is not held up) and answer none."""
        offset = int(params.get("offset") or 0)
        self.updates = [u for u in self.updates if u["update_id"] >= offset]
        if not self.updates:
            await asyncio.sleep(0.2)
        return self._ok(self.updates[: int(params.get("limit") or 100)])

    async def m_sendMessage(self, params: dict[str, Any]) -> web.Response:
        reply = json.loads(params["reply_parameters"])["message_id"] if params.get("reply_parameters") else None
        shown = self._new(int(params["chat_id"]), text=str(params["text"]), reply_markup=self._markup(params),
                          reply_to=reply)
        shown.history.append(shown.text)
        shown.frames.append((shown.text, _labels(shown.reply_markup)))
        return self._ok(self._message(shown))

    async def m_editMessageText(self, params: dict[str, Any]) -> web.Response:
        if self.flood_next > 0:
            self.flood_next -= 1
            return web.json_response({"ok": False, "error_code": 429,
                                      "description": f"Too Many Requests: retry after {self.retry_after}",
                                      "parameters": {"retry_after": self.retry_after}}, status=429)
        shown = self.messages.get((int(params["chat_id"]), int(params["message_id"])))
        if shown is None:
            return web.json_response({"ok": False, "error_code": 400,
                                      "description": "Bad Request: message to edit not found"}, status=400)
        text, markup = str(params["text"]), self._markup(params)
        if text == shown.text and markup == shown.reply_markup:
            self.not_modified += 1
            return web.json_response({"ok": False, "error_code": 400, "description": NOT_MODIFIED}, status=400)
        shown.text, shown.reply_markup = text, markup
        shown.history.append(text)
        shown.frames.append((text, _labels(markup)))
        return self._ok(self._message(shown))

    async def m_sendChatAction(self, params: dict[str, Any]) -> web.Response:
        self.actions.append((int(params["chat_id"]), str(params["action"])))
        return self._ok(True)

    async def m_answerCallbackQuery(self, params: dict[str, Any]) -> web.Response:
        self.answers.append(params)
        return self._ok(True)

    async def m_sendVideo(self, params: dict[str, Any]) -> web.Response:
        video = params["video"]
        thumb = params.get("thumbnail")
        if isinstance(thumb, str) and thumb.startswith("attach://"):
            thumb = params.get(thumb.removeprefix("attach://"))
        data = video.file.read()
        shown = self._new(int(params["chat_id"]), caption=str(params.get("caption", "")), video={
            "file_id": f"vid{self._next_id}", "file_unique_id": f"u{self._next_id}",
            "width": int(params.get("width", 0)), "height": int(params.get("height", 0)),
            "duration": int(params.get("duration", 0)), "file_size": len(data), "mime_type": "video/mp4",
            "supports_streaming": params.get("supports_streaming") in ("true", "True", True),
            "thumbnail_bytes": len(thumb.file.read()) if hasattr(thumb, "file") else 0,
            "file_name": getattr(video, "filename", ""),
        })
        shown.reply_to = json.loads(params["reply_parameters"])["message_id"] if params.get("reply_parameters") else None
        shown.reply_markup = self._markup(params)
        result = self._message(shown)
        result["video"] = {k: v for k, v in shown.video.items()
                           if k not in ("thumbnail_bytes", "supports_streaming", "file_name")}
        return self._ok(result)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=2**31)
        app.router.add_post("/bot{token}/{method}", self.handle)
        app.router.add_get("/bot{token}/{method}", self.handle)
        return app

    async def start(self) -> str:
        self._server = await start_server(self)
        self.url = self._server.url
        return self.url

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.close()
