"""Fake ComfyUI: /prompt queues, a job task emits websocket events in the server's order (with
binary preview frames) only to the matching clientId, writes the history (`{}` until done) and ends
with `executing {node: null}`. Every route also answers under /api."""

from __future__ import annotations

import asyncio
import io
import json
import random
import uuid
from collections import deque
from pathlib import Path
from typing import Any

from aiohttp import web
from PIL import Image

FIXTURES = Path(__file__).with_name("fixtures")


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def png_bytes(width: int = 192, height: int = 320, seed: int = 0) -> bytes:
    rng = random.Random(seed)
    img = Image.new("RGB", (width, height))
    img.putdata([(x % 256, (y * 3) % 256, rng.randrange(256)) for y in range(height) for x in range(width)])
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


class FakeComfy:
    def __init__(self) -> None:
        self.checkpoints = ["sd_xl_base_1.0.safetensors", "v1-5-pruned-emaonly.safetensors"]
        self.outcomes: deque[str] = deque()  # per prompt: ok | error | oom | drop_ws | hang | no_ws_events | reject
        self.steps = 4
        self.step_delay_s = 0.0
        self.prompts: list[dict[str, Any]] = []  # POST /prompt bodies
        self.deleted: list[str] = []
        self.interrupted: list[Any] = []
        self.freed: list[dict[str, Any]] = []
        self.views: list[dict[str, str]] = []
        self.hang_probes = False
        self.history: dict[str, Any] = {}
        self.pending: list[list[Any]] = []
        self.running: list[list[Any]] = []
        self.files: dict[str, bytes] = {}
        self.sockets: dict[str, web.WebSocketResponse] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.started = asyncio.Event()
        self._counter = 0
        self._one_at_a_time = asyncio.Lock()  # like the real queue: one prompt runs, in order

    def app(self) -> web.Application:
        app = web.Application()
        for prefix in ("", "/api"):
            r = app.router
            r.add_post(f"{prefix}/prompt", self.post_prompt)
            r.add_get(f"{prefix}/history/{{pid}}", self.get_history)
            r.add_get(f"{prefix}/queue", self.get_queue)
            r.add_post(f"{prefix}/queue", self.post_queue)
            r.add_post(f"{prefix}/interrupt", self.post_interrupt)
            r.add_post(f"{prefix}/free", self.post_free)
            r.add_get(f"{prefix}/view", self.get_view)
            r.add_get(f"{prefix}/system_stats", self.system_stats)
            r.add_get(f"{prefix}/object_info/{{cls}}", self.object_info)
            r.add_get(f"{prefix}/ws", self.ws)
        app.on_shutdown.append(self._shutdown)
        return app

    async def _shutdown(self, app: web.Application) -> None:
        for task in self.tasks.values():
            task.cancel()
        for ws in list(self.sockets.values()):
            await ws.close()

    # ------------------------------------------------------------------ routes

    async def post_prompt(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.prompts.append(body)
        if "prompt" not in body:
            return web.json_response(load("comfyui_prompt_validation_error.json") | {"error": {
                "type": "no_prompt", "message": "No prompt provided", "details": "", "extra_info": {}}, "node_errors": {}}, status=400)
        outcome = self.outcomes.popleft() if self.outcomes else "ok"
        graph = body["prompt"]
        for node_id, node in graph.items():
            for value in node["inputs"].values():
                if isinstance(value, str) and value.endswith((".safetensors", ".ckpt")) and value not in self.checkpoints \
                        and node["class_type"] == "CheckpointLoaderSimple":
                    err = load("comfyui_prompt_validation_error.json")
                    err["node_errors"][node_id] = err["node_errors"].pop("4")
                    err["node_errors"][node_id]["errors"][0]["details"] = f"ckpt_name: '{value}' not in {self.checkpoints}"
                    return web.json_response(err, status=400)
        if outcome == "reject":
            return web.json_response(load("comfyui_prompt_validation_error.json"), status=400)
        pid = str(uuid.uuid4())
        self._counter += 1
        item = [self._counter, pid, graph, {"client_id": body.get("client_id")}, ["9"]]
        self.pending.append(item)
        self.tasks[pid] = asyncio.create_task(self._execute(pid, item, body.get("client_id"), outcome))
        return web.json_response({"prompt_id": pid, "number": self._counter, "node_errors": {}})

    async def get_history(self, request: web.Request) -> web.Response:
        pid = request.match_info["pid"]
        return web.json_response({pid: self.history[pid]} if pid in self.history else {})

    async def get_queue(self, request: web.Request) -> web.Response:
        if self.hang_probes:
            await asyncio.sleep(3600)
        return web.json_response({"queue_running": self.running, "queue_pending": self.pending})

    async def post_queue(self, request: web.Request) -> web.Response:
        body = await request.json()
        for pid in body.get("delete", []):
            self.deleted.append(pid)
            before = len(self.pending)
            self.pending = [i for i in self.pending if i[1] != pid]
            if len(self.pending) != before and pid in self.tasks:
                self.tasks[pid].cancel()
        return web.Response()

    async def post_interrupt(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            body = {}
        pid = body.get("prompt_id")
        self.interrupted.append(pid)
        if pid and any(i[1] == pid for i in self.running) and pid in self.tasks:
            self.tasks[pid].cancel()
            self.running = [i for i in self.running if i[1] != pid]
        return web.Response()

    async def post_free(self, request: web.Request) -> web.Response:
        self.freed.append(await request.json())
        return web.Response()

    async def get_view(self, request: web.Request) -> web.Response:
        q = dict(request.query)
        self.views.append(q)
        data = self.files.get(q.get("filename", ""))
        if data is None:
            return web.Response(status=404)
        ctype = "video/mp4" if q["filename"].endswith(".mp4") else "image/png"
        return web.Response(body=data, content_type=ctype)

    async def system_stats(self, request: web.Request) -> web.Response:
        if self.hang_probes:
            await asyncio.sleep(3600)
        return web.json_response(load("comfyui_system_stats_cuda.json"))

    async def object_info(self, request: web.Request) -> web.Response:
        cls = request.match_info["cls"]
        if cls != "CheckpointLoaderSimple":
            return web.json_response({})
        info = load("comfyui_object_info_CheckpointLoaderSimple.json")
        info[cls]["input"]["required"]["ckpt_name"][0] = list(self.checkpoints)
        return web.json_response(info)

    async def ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        cid = request.query.get("clientId") or uuid.uuid4().hex
        self.sockets[cid] = ws
        await ws.send_json({"type": "status", "data": {"status": {"exec_info": {"queue_remaining": len(self.pending)}}, "sid": cid}})
        async for _ in ws:
            pass
        self.sockets.pop(cid, None)
        return ws

    # ------------------------------------------------------------------ the job

    async def _send(self, cid: str | None, kind: str, data: dict[str, Any]) -> None:
        ws = self.sockets.get(cid or "")
        if ws is not None and not ws.closed:
            await ws.send_json({"type": kind, "data": data})

    async def _binary(self, cid: str | None) -> None:
        ws = self.sockets.get(cid or "")
        if ws is not None and not ws.closed:
            await ws.send_bytes((1).to_bytes(4, "big") + (2).to_bytes(4, "big") + png_bytes(8, 8))

    async def _execute(self, pid: str, item: list[Any], cid: str | None, outcome: str) -> None:
        await asyncio.sleep(0)
        async with self._one_at_a_time:
            await self._run(pid, item, cid, outcome)

    async def _run(self, pid: str, item: list[Any], cid: str | None, outcome: str) -> None:
        self.pending = [i for i in self.pending if i[1] != pid]
        self.running.append(item)
        self.started.set()
        graph = item[2]
        quiet = outcome == "no_ws_events"
        send = (lambda *a: asyncio.sleep(0)) if quiet else self._send
        try:
            await send(cid, "status", {"status": {"exec_info": {"queue_remaining": 1}}})
            await send(cid, "execution_start", {"prompt_id": pid, "timestamp": 1})
            await send(cid, "execution_cached", {"nodes": [], "prompt_id": pid, "timestamp": 2})
            await send(cid, "executing", {"node": "3", "display_node": "3", "prompt_id": pid})
            if outcome == "drop_ws" and cid in self.sockets:
                await self.sockets[cid].close()
            for step in range(1, self.steps + 1):
                if not quiet:
                    await self._binary(cid)
                await send(cid, "progress", {"value": step, "max": self.steps, "prompt_id": pid, "node": "3"})
                await asyncio.sleep(self.step_delay_s)
            if outcome == "hang":
                await asyncio.sleep(3600)
            if outcome in ("error", "oom"):
                err = load("comfyui_ws_execution_error.json")["data"] | {"prompt_id": pid}
                if outcome == "error":
                    err |= {"exception_type": "RuntimeError", "exception_message": "mat1 and mat2 shapes cannot be multiplied"}
                await send(cid, "execution_error", err)
                self.history[pid] = {"prompt": item, "outputs": {}, "status": {
                    "status_str": "error", "completed": False, "messages": [["execution_error", err]]}}
            else:
                animated = any(n["class_type"] in ("SaveVideo", "VHS_VideoCombine") for n in graph.values())
                name = f"reelbot_{self._counter:05d}_.{'mp4' if animated else 'png'}"
                self.files[name] = bytes(range(256)) * 32 if animated else png_bytes(seed=self._counter)
                out: dict[str, Any] = {"images": [{"filename": name, "subfolder": "reelbot", "type": "output"}]}
                if animated:
                    out["animated"] = [True]
                await send(cid, "executed", {"node": "9", "display_node": "9", "output": out, "prompt_id": pid})
                await send(cid, "execution_success", {"prompt_id": pid, "timestamp": 3})
                self.history[pid] = {"prompt": item, "outputs": {"9": out}, "status": {
                    "status_str": "success", "completed": True, "messages": []}}
            await send(cid, "status", {"status": {"exec_info": {"queue_remaining": 0}}})
            await send(cid, "executing", {"node": None, "prompt_id": pid})
        finally:
            self.running = [i for i in self.running if i[1] != pid]
