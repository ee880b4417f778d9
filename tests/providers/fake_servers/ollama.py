"""Fake Ollama: streams NDJSON unless `stream: false`, 404 for unknown models, mid-stream errors."""

from __future__ import annotations

import asyncio
import json
from collections import deque
from pathlib import Path
from typing import Any

from aiohttp import web

FIXTURES = Path(__file__).with_name("fixtures")


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def script_json(n: int = 4, title: str = "Stars") -> str:
    return json.dumps({"title": title, "scenes": [
        {"narration": f"Scene {i} tells part of the story.", "visual": f"a glowing nebula, view {i}",
         "key_phrase": f"part {i}"} for i in range(n)]})


class FakeOllama:
    def __init__(self) -> None:
        self.models = ["llama3.2:3b", "mistral:latest"]
        self.replies: deque[str] = deque()  # message contents to answer, in order; default: a valid script
        self.behaviour: deque[str] = deque()  # per chat call: ok | midstream_error | busy | drop | hang | slow
        self.requests: list[dict[str, Any]] = []
        self.hang_probes = False

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", self.root)
        app.router.add_get("/api/version", self.version)
        app.router.add_get("/api/tags", self.tags)
        app.router.add_get("/api/ps", self.ps)
        app.router.add_post("/api/chat", self.chat)
        return app

    async def _maybe_hang(self) -> None:
        if self.hang_probes:
            await asyncio.sleep(3600)

    async def root(self, request: web.Request) -> web.Response:
        await self._maybe_hang()
        return web.Response(text="Ollama is running")

    async def version(self, request: web.Request) -> web.Response:
        await self._maybe_hang()
        return web.json_response(load("ollama_version.json"))

    async def tags(self, request: web.Request) -> web.Response:
        await self._maybe_hang()
        base = load("ollama_tags.json")["models"][0]
        return web.json_response({"models": [{**base, "name": m, "model": m} for m in self.models]})

    async def ps(self, request: web.Request) -> web.Response:
        await self._maybe_hang()
        return web.json_response(load("ollama_ps.json"))

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        behaviour = self.behaviour.popleft() if self.behaviour else "ok"
        model = body.get("model", "")
        if not model:
            return web.json_response({"error": "model is required"}, status=400)
        if model not in self.models:
            return web.json_response({"error": f"model '{model}' not found"}, status=404)
        if behaviour == "busy":
            return web.json_response(load("ollama_error_server_busy.json"), status=503)
        if behaviour == "hang":
            await asyncio.sleep(3600)
        if behaviour == "slow":
            await asyncio.sleep(0.5)
        if behaviour == "drop":
            assert request.transport is not None
            request.transport.close()
            return web.Response()
        content = self.replies.popleft() if self.replies else script_json()
        meta = {"model": model, "created_at": "2024-12-06T00:46:58.265747Z"}
        if body.get("stream", True) is False and behaviour != "midstream_error":
            return web.json_response({**meta, "message": {"role": "assistant", "content": content},
                                      "done": True, "done_reason": "stop", "total_duration": 1000})
        resp = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await resp.prepare(request)
        pieces = [content[i:i + 16] for i in range(0, len(content), 16)]
        for k, piece in enumerate(pieces):
            await resp.write((json.dumps({**meta, "message": {"role": "assistant", "content": piece}, "done": False}) + "\n").encode())
            if behaviour == "midstream_error" and k == 1:
                await resp.write(b'{"error":"an error was encountered while running the model"}\n')
                await resp.write_eof()
                return resp
        await resp.write((json.dumps({**meta, "message": {"role": "assistant", "content": ""}, "done": True,
                                      "done_reason": "stop"}) + "\n").encode())
        await resp.write_eof()
        return resp
