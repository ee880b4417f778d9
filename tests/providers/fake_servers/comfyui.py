"""Fake ComfyUI: /prompt queues, a job task emits websocket events in the server's order (with
binary preview frames) only to the matching clientId, writes the history (`{}` until done) and ends
with `executing {node: null}`. Every route also answers under /api.

Its nodes are those of a stock ComfyUI 0.8.0 (the whole /object_info recorded from one, gzipped in
fixtures/) plus `extra_nodes`; its model lists are the knobs below. /prompt validates like the real
one: an unknown class_type is the 400 `invalid_prompt` answer, a combo value (a model file, a
sampler) not in its list is a 400 `value_not_in_list` for that node. /upload/image stores stills
that LoadImage may then name."""

from __future__ import annotations

import asyncio
import copy
import functools
import gzip
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


@functools.cache
def stock_object_info() -> dict[str, Any]:
    """The whole /object_info of a stock ComfyUI 0.8.0 (no custom nodes, no model files)."""
    return json.loads(gzip.decompress((FIXTURES / "comfyui_object_info_full_stock_0.8.0.json.gz").read_bytes()))


# the model files of the default workflows (sdxl images, wan2.2-5b clips, both variants)
DEFAULT_MODELS: dict[str, list[str]] = {
    "unet_name": ["wan2.2_ti2v_5B_fp16.safetensors"],
    "clip_name": ["umt5_xxl_fp8_e4m3fn_scaled.safetensors"],
    "vae_name": ["wan2.2_vae.safetensors"],
}
# AnimateDiff-Evolved's two nodes the bundled animatediff workflow uses, as that pack declares them
ANIMATEDIFF_NODES: dict[str, Any] = {
    "ADE_AnimateDiffLoaderGen1": {"input": {"required": {
        "model": ["MODEL"], "model_name": [["mm_sd_v15_v2.ckpt"]],
        "beta_schedule": [["autoselect", "sqrt_linear (AnimateDiff)", "linear (default)"]]},
        "optional": {"context_options": ["CONTEXT_OPTIONS"]}}, "output": ["MODEL"], "name": "ADE_AnimateDiffLoaderGen1"},
    "ADE_StandardUniformContextOptions": {"input": {"required": {"context_length": ["INT"], "context_stride": ["INT"],
        "context_overlap": ["INT"], "fuse_method": [["pyramid", "flat"]], "use_on_equal_length": ["BOOLEAN"],
        "start_percent": ["FLOAT"], "guarantee_steps": ["INT"]}}, "output": ["CONTEXT_OPTIONS"],
        "name": "ADE_StandardUniformContextOptions"},
}


def _combo(spec: Any) -> list[str] | None:
    """A combo input's options (old `[[...], {}]` and new `["COMBO", {"options": [...]}]` shapes)."""
    if not isinstance(spec, list) or not spec:
        return None
    if isinstance(spec[0], list):
        return [str(x) for x in spec[0]]
    if spec[0] == "COMBO" and len(spec) > 1 and isinstance(spec[1], dict):
        return [str(x) for x in spec[1].get("options", [])]
    return None


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
        self.models: dict[str, list[str]] = copy.deepcopy(DEFAULT_MODELS)  # loader input -> files it lists
        self.extra_nodes: dict[str, Any] = {}  # custom node classes installed (ANIMATEDIFF_NODES, say)
        self.uploads: dict[str, bytes] = {}  # /upload/image: "subfolder/name" -> bytes
        self.object_info_asked: list[str] = []  # GET /object_info/{class}, in order
        self.video_bytes: bytes | None = None  # what SaveVideo/SaveWEBM "write" (default: filler bytes)
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
            r.add_get(f"{prefix}/object_info", self.object_info_all)
            r.add_post(f"{prefix}/upload/image", self.upload_image)
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
        invalid = self.validate(graph)
        if invalid is not None:
            return web.json_response(invalid, status=400)
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

    def node_info(self, cls: str) -> dict[str, Any] | None:
        """One class's /object_info entry with this box's model lists, or None if it lacks the class."""
        base = self.extra_nodes.get(cls) or stock_object_info().get(cls)
        if base is None:
            return None
        info = copy.deepcopy(base)
        for section in ("required", "optional"):
            for name, spec in (info["input"].get(section) or {}).items():
                files = self.checkpoints if name == "ckpt_name" else self.models.get(name)
                if cls == "LoadImage" and name == "image":
                    files = list(self.uploads)
                if files is not None and isinstance(spec, list) and spec and isinstance(spec[0], list):
                    spec[0] = list(files)
        return info

    async def object_info(self, request: web.Request) -> web.Response:
        cls = request.match_info["cls"]
        self.object_info_asked.append(cls)
        info = self.node_info(cls)
        return web.json_response({} if info is None else {cls: info})  # the real one: {} when it lacks it

    async def object_info_all(self, request: web.Request) -> web.Response:
        names = [*stock_object_info(), *self.extra_nodes]
        return web.json_response({cls: self.node_info(cls) for cls in names})

    async def upload_image(self, request: web.Request) -> web.Response:
        form = await request.post()
        image = form.get("image")
        if not isinstance(image, web.FileField):
            return web.Response(status=400)
        subfolder = str(form.get("subfolder") or "")
        name = f"{subfolder}/{image.filename}" if subfolder else image.filename
        self.uploads[name] = image.file.read()
        return web.json_response({"name": image.filename, "subfolder": subfolder, "type": str(form.get("type") or "input")})

    def validate(self, graph: dict[str, Any]) -> dict[str, Any] | None:
        """ComfyUI's validate_prompt, the parts we meet: unknown classes, then combo values per node."""
        for node_id, node in graph.items():
            cls = node.get("class_type")
            if self.node_info(str(cls)) is None:
                return {"error": {"type": "invalid_prompt", "message": f"Cannot execute because node {cls} does not exist.",
                                  "details": f"Node ID '#{node_id}'", "extra_info": {}}, "node_errors": {}}
        node_errors: dict[str, Any] = {}
        for node_id, node in graph.items():
            info = self.node_info(node["class_type"])
            assert info is not None
            specs = {**(info["input"].get("optional") or {}), **(info["input"].get("required") or {})}
            for name in info["input"].get("required") or {}:
                if name not in node["inputs"]:
                    node_errors.setdefault(node_id, {"errors": [], "dependent_outputs": ["9"],
                                                     "class_type": node["class_type"]})["errors"].append(
                        {"type": "required_input_missing", "message": "Required input is missing",
                         "details": name, "extra_info": {"input_name": name}})
            for name, value in node["inputs"].items():
                options = _combo(specs.get(name))
                if options is None or isinstance(value, list) or value in options:
                    continue
                if node["class_type"] == "LoadImage":  # real LoadImage validates the file, not the list
                    err = {"type": "custom_validation_failed", "message": "Custom validation failed for node",
                           "details": f"{name} - Invalid image file: {value}", "extra_info": {}}
                else:
                    err = {"type": "value_not_in_list", "message": "Value not in list",
                           "details": f"{name}: '{value}' not in {options}",
                           "extra_info": {"input_name": name, "input_config": specs[name], "received_value": value}}
                node_errors.setdefault(node_id, {"errors": [], "dependent_outputs": ["9"],
                                                 "class_type": node["class_type"]})["errors"].append(err)
        if not node_errors:
            return None
        first = next(iter(node_errors.values()))["errors"][0]
        return {"error": {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation",
                          "details": f"{first['message']}: {first['details']}", "extra_info": {}},
                "node_errors": node_errors}

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
                savers = {n["class_type"] for n in graph.values()}
                animated = bool(savers & {"SaveVideo", "SaveWEBM", "VHS_VideoCombine"})
                ext = "webm" if "SaveWEBM" in savers else "mp4" if animated else "png"
                name = f"reelbot_{self._counter:05d}_.{ext}"
                self.files[name] = (self.video_bytes or bytes(range(256)) * 32) if animated else png_bytes(seed=self._counter)
                item = {"filename": name, "subfolder": "reelbot", "type": "output"}
                out: dict[str, Any] = {"gifs": [item]} if "VHS_VideoCombine" in savers else {"images": [item]}
                if animated and "VHS_VideoCombine" not in savers:
                    out["animated"] = [True]
                await send(cid, "executed", {"node": "9", "display_node": "9", "output": out, "prompt_id": pid})
                await send(cid, "execution_success", {"prompt_id": pid, "timestamp": 3})
                self.history[pid] = {"prompt": item, "outputs": {"9": out}, "status": {
                    "status_str": "success", "completed": True, "messages": []}}
            await send(cid, "status", {"status": {"exec_info": {"queue_remaining": 0}}})
            await send(cid, "executing", {"node": None, "prompt_id": pid})
        finally:
            self.running = [i for i in self.running if i[1] != pid]
