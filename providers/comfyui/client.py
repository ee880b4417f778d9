"""The ComfyUI HTTP + websocket client: submit a workflow, follow it, fetch its outputs, cancel it.

Wire facts (DOSSIER §2): `POST /prompt {prompt, client_id}` only *queues* (validation errors are a
400 with `node_errors`); per-prompt websocket events reach only the socket whose `clientId` matches;
completion is `executing` with `node: null` for our `prompt_id`, sent after the history is written;
binary frames are previews and are skipped; `/history/{id}` is `{}` until the prompt is done; video
outputs come under `images` with `animated: [true]` (VideoHelperSuite uses `gifs`).

If the websocket cannot be opened or drops, the client polls `/history/{id}`. While the socket is
quiet it also checks the history now and then, so a lost completion message cannot hang a job.
Cancelling a job removes its prompt from the queue, or interrupts it when it is already running.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from providers.base import StageContext
from providers.errors import BadOutput, Misconfigured, ProviderError, Unavailable
from providers.http import (
    SELF_HOSTED,
    classify_status,
    error_message,
    read_bounded,
    read_bounded_to_file,
    transport_errors,
)

__all__ = ["ComfyClient", "OutputFile", "describe_node_errors"]

log = logging.getLogger(__name__)

VIDEO_EXTS = (".mp4", ".webm", ".mov", ".mkv", ".gif", ".webp")
MAX_JSON_BYTES = 20_000_000
CANCEL_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class OutputFile:
    filename: str
    subfolder: str
    type: str
    animated: bool

    @property
    def suffix(self) -> str:
        return Path(self.filename).suffix.lower()

    @property
    def is_video(self) -> bool:
        return self.animated or self.suffix in VIDEO_EXTS


class ComfyClient:
    """One ComfyUI server. Holds no per-job state."""

    def __init__(self, name: str, url: str, session: Callable[[], aiohttp.ClientSession], *,
                 connect_timeout_s: float, request_timeout_s: float, poll_interval_s: float,
                 max_output_bytes: int, max_image_bytes: int | None = None,
                 secrets: Sequence[str] = ()) -> None:
        self.name = name
        self.url = url
        self._secrets = tuple(secrets)  # scrubbed from error text (a password in the url, say)
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=request_timeout_s, sock_connect=connect_timeout_s)
        self._connect_timeout_s = connect_timeout_s
        self._poll_s = poll_interval_s
        self._max_output_bytes = max_output_bytes
        self._max_image_bytes = min(max_output_bytes, max_image_bytes or max_output_bytes)

    # ------------------------------------------------------------------ a job

    async def run(self, graph: dict[str, Any], ctx: StageContext) -> list[OutputFile]:
        """Queue `graph`, wait for it, return its outputs. Cancellation removes it from ComfyUI."""
        client_id = uuid.uuid4().hex
        ws = await self._open_ws(client_id)
        try:
            prompt_id = await self._submit(graph, client_id)
            log.info("job %s: ComfyUI prompt %s queued", ctx.job_id, prompt_id)
            try:
                entry = await self._wait(prompt_id, ws, ctx)
            except asyncio.CancelledError:
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.shield(self.cancel(prompt_id))
                raise
        finally:
            if ws is not None:
                await ws.close()
        return outputs_of(entry, self.name)

    async def _open_ws(self, client_id: str) -> aiohttp.ClientWebSocketResponse | None:
        try:
            async with asyncio.timeout(self._connect_timeout_s):
                return await self._session().ws_connect(f"{self.url}/ws?clientId={client_id}", heartbeat=30.0)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.info("ComfyUI websocket unavailable (%s); polling history instead", type(exc).__name__)
            return None

    async def _submit(self, graph: dict[str, Any], client_id: str) -> str:
        body = {"prompt": graph, "client_id": client_id}
        with transport_errors(self.name, "ComfyUI /prompt", secrets=self._secrets):
            async with self._session().post(f"{self.url}/prompt", json=body, timeout=self._timeout) as resp:
                raw = await read_bounded(resp, MAX_JSON_BYTES, self.name, "/prompt answer")
                status, headers = resp.status, resp.headers
        if status == 400:
            raise rejected(raw, self.name, self._secrets)
        if status != 200:
            raise classify_status(self.name, status, headers, raw, edge=SELF_HOSTED, secrets=self._secrets)
        data = _json(raw, self.name, "/prompt")
        prompt_id = data.get("prompt_id")
        if not isinstance(prompt_id, str) or not prompt_id:
            raise BadOutput("ComfyUI accepted the prompt but sent no prompt_id", provider=self.name)
        if data.get("node_errors"):
            log.warning("ComfyUI queued prompt %s with node errors: %s", prompt_id,
                        describe_node_errors(data["node_errors"]))
        return prompt_id

    async def _wait(self, prompt_id: str, ws: aiohttp.ClientWebSocketResponse | None,
                    ctx: StageContext) -> dict[str, Any]:
        if ws is not None:
            entry = await self._follow(prompt_id, ws, ctx)
            if entry is not None:
                return entry
            log.info("ComfyUI websocket dropped during %s; polling history", prompt_id)
        while True:
            entry = await self.history(prompt_id)
            if entry:
                return check_entry(entry, self.name)
            await asyncio.sleep(self._poll_s)

    async def _follow(self, prompt_id: str, ws: aiohttp.ClientWebSocketResponse,
                      ctx: StageContext) -> dict[str, Any] | None:
        """Follow the websocket until our prompt is done; None if the socket dropped first."""
        quiet_check_s = self._poll_s * 10
        while True:
            try:
                msg = await ws.receive(timeout=quiet_check_s)
            except TimeoutError:
                entry = await self.history(prompt_id)  # a lost completion message must not hang us
                if entry:
                    return check_entry(entry, self.name)
                continue
            if msg.type == aiohttp.WSMsgType.BINARY:
                continue  # previews
            if msg.type != aiohttp.WSMsgType.TEXT:
                return None  # closed, closing or error
            try:
                event = json.loads(msg.data)
                kind, data = event["type"], event.get("data") or {}
            except (ValueError, KeyError, TypeError):
                continue
            if not isinstance(data, dict) or data.get("prompt_id") != prompt_id:
                continue
            if kind == "progress":
                value, top = data.get("value", 0), data.get("max") or 1
                ctx.report(min(1.0, max(0.0, float(value) / float(top))), f"step {value}/{top}")
            elif kind == "execution_error":
                raise execution_error(data, self.name)
            elif kind == "execution_interrupted":
                raise Unavailable(f"the job was interrupted on the ComfyUI box (node {data.get('node_id')})",
                                  provider=self.name)
            elif kind == "executing" and data.get("node") is None:
                for _ in range(20):  # the history is written before this message; allow for a slow disk
                    entry = await self.history(prompt_id)
                    if entry:
                        return check_entry(entry, self.name)
                    await asyncio.sleep(self._poll_s / 4)
                raise BadOutput("ComfyUI finished the prompt but has no history for it", provider=self.name)

    # ------------------------------------------------------------------ small calls

    async def history(self, prompt_id: str) -> dict[str, Any]:
        data = await self.get_json(f"/history/{prompt_id}")
        entry = data.get(prompt_id)
        return entry if isinstance(entry, dict) else {}

    async def cancel(self, prompt_id: str) -> None:
        """Remove a pending prompt from the queue; interrupt it if it is already running."""
        try:
            async with asyncio.timeout(CANCEL_TIMEOUT_S):
                await self.post_json("/queue", {"delete": [prompt_id]})
                queue = await self.get_json("/queue")
                running = [item[1] for item in queue.get("queue_running", [])
                           if isinstance(item, list) and len(item) > 1]
                if prompt_id in running:
                    await self.post_json("/interrupt", {"prompt_id": prompt_id})
            log.info("ComfyUI prompt %s cancelled", prompt_id)
        except (ProviderError, TimeoutError) as exc:
            log.warning("could not cancel ComfyUI prompt %s: %s", prompt_id, exc)

    async def upload_image(self, path: Path, stem: str) -> str:
        """POST /upload/image (multipart, into ComfyUI's input folder, `reelbot/`); returns the
        value a LoadImage node takes ("reelbot/<name>")."""
        data = await asyncio.to_thread(path.read_bytes)
        form = aiohttp.FormData()
        form.add_field("image", data, filename=f"{stem}{path.suffix.lower() or '.png'}",
                       content_type="application/octet-stream")
        form.add_field("type", "input")
        form.add_field("subfolder", "reelbot")
        form.add_field("overwrite", "true")
        with transport_errors(self.name, "ComfyUI /upload/image", secrets=self._secrets):
            async with self._session().post(f"{self.url}/upload/image", data=form, timeout=self._timeout) as resp:
                raw = await read_bounded(resp, MAX_JSON_BYTES, self.name, "/upload/image")
                if resp.status != 200:
                    raise classify_status(self.name, resp.status, resp.headers, raw, edge=SELF_HOSTED,
                                          secrets=self._secrets)
        answer = _json(raw, self.name, "/upload/image")
        name = answer.get("name")
        if not isinstance(name, str) or not name:
            raise BadOutput("ComfyUI's /upload/image answer has no name", provider=self.name)
        subfolder = str(answer.get("subfolder") or "")
        return f"{subfolder}/{name}" if subfolder else name

    async def free(self) -> None:
        await self.post_json("/free", {"unload_models": True, "free_memory": True})

    async def download(self, output: OutputFile, dest: Path) -> Path:
        params = {"filename": output.filename, "subfolder": output.subfolder, "type": output.type}
        with transport_errors(self.name, "ComfyUI /view", secrets=self._secrets):
            async with self._session().get(f"{self.url}/view", params=params, timeout=self._timeout) as resp:
                if resp.status != 200:
                    raw = await read_bounded(resp, 65536, self.name, "/view error")
                    if resp.status == 404:
                        raise BadOutput(f"ComfyUI has no output file {output.filename!r}", provider=self.name)
                    raise classify_status(self.name, resp.status, resp.headers, raw, edge=SELF_HOSTED,
                                          secrets=self._secrets)
                # streamed to disk under a limit per kind: a still is far smaller than a clip
                limit = self._max_output_bytes if output.is_video else self._max_image_bytes
                await read_bounded_to_file(resp, dest, limit, self.name, f"output {output.filename}")
        return dest

    async def get_json(self, path: str, *, timeout_s: float | None = None) -> dict[str, Any]:
        timeout = self._timeout if timeout_s is None else aiohttp.ClientTimeout(total=timeout_s)
        with transport_errors(self.name, f"ComfyUI {path}", secrets=self._secrets):
            async with self._session().get(f"{self.url}{path}", timeout=timeout) as resp:
                raw = await read_bounded(resp, MAX_JSON_BYTES, self.name, path)
                if resp.status != 200:
                    raise classify_status(self.name, resp.status, resp.headers, raw, edge=SELF_HOSTED,
                                          secrets=self._secrets)
        return _json(raw, self.name, path)

    async def post_json(self, path: str, body: dict[str, Any]) -> None:
        with transport_errors(self.name, f"ComfyUI {path}", secrets=self._secrets):
            async with self._session().post(f"{self.url}{path}", json=body, timeout=self._timeout) as resp:
                raw = await read_bounded(resp, MAX_JSON_BYTES, self.name, path)
                if resp.status != 200:
                    raise classify_status(self.name, resp.status, resp.headers, raw, edge=SELF_HOSTED,
                                          secrets=self._secrets)


# ---------------------------------------------------------------------------- shapes -> errors


def _json(raw: bytes, provider: str, what: str) -> dict[str, Any]:
    try:
        data = json.loads(raw) if raw.strip() else {}
    except ValueError:
        raise BadOutput(f"ComfyUI {what} answer is not JSON", provider=provider) from None
    if not isinstance(data, dict):
        raise BadOutput(f"ComfyUI {what} answer is not a JSON object", provider=provider)
    return data


def describe_node_errors(node_errors: dict[str, Any]) -> str:
    """'node 4 (CheckpointLoaderSimple): Value not in list: ckpt_name: 'x' not in [...]; ...'"""
    parts = []
    for node_id, info in node_errors.items():
        if not isinstance(info, dict):
            continue
        for err in info.get("errors", []) or [{}]:
            text = f"{err.get('message', 'error')}: {err.get('details', '')}".rstrip(": ")
            parts.append(f"node {node_id} ({info.get('class_type', '?')}): {text}")
    return "; ".join(parts)


def rejected(raw: bytes, provider: str, secrets: Sequence[str] = ()) -> Misconfigured:
    """A 400 from /prompt: the workflow does not validate on this box."""
    try:
        data = json.loads(raw)
    except ValueError:
        data = {}
    error = data.get("error") if isinstance(data, dict) else None
    node_errors = data.get("node_errors") if isinstance(data, dict) else None
    detail = describe_node_errors(node_errors) if isinstance(node_errors, dict) and node_errors else ""
    if not detail:
        if isinstance(error, dict):
            detail = f"{error.get('message', '')} {error.get('details', '')}".strip()
        else:
            detail = error_message(raw, secrets=secrets)[0]
    missing_model = b"value_not_in_list" in raw
    hint = ("put the model file in ComfyUI's models folder, or name one it has in "
            "[providers.comfyui.image]/[providers.comfyui.clip] (checkpoint, models)"
            if missing_model else "fix the workflow or its settings in [providers.comfyui]")
    return Misconfigured(f"ComfyUI rejected the workflow: {detail}", provider=provider, status=400, hint=hint)


def execution_error(data: dict[str, Any], provider: str) -> ProviderError:
    """An `execution_error` (websocket or history) classified."""
    etype = str(data.get("exception_type", ""))
    message = str(data.get("exception_message", "")).strip()
    first = message.splitlines()[0].strip() if message else etype
    where = f"node {data.get('node_id')} ({data.get('node_type', '?')})"
    if "OutOfMemory" in etype or "out of memory" in message.lower():
        return Unavailable(f"out of GPU memory in {where}", provider=provider)
    if "FileNotFound" in etype or "No such file" in message:
        return Misconfigured(f"{where} is missing a file: {first}", provider=provider,
                             hint="check the model files the ComfyUI workflow needs")
    return BadOutput(f"{where} failed: {etype}: {first}", provider=provider)


def check_entry(entry: dict[str, Any], provider: str) -> dict[str, Any]:
    """Raise for a history entry that finished badly; return it otherwise."""
    status = entry.get("status") or {}
    messages = status.get("messages") or []
    for item in messages:
        if isinstance(item, list) and len(item) == 2 and isinstance(item[1], dict):
            if item[0] == "execution_error":
                raise execution_error(item[1], provider)
            if item[0] == "execution_interrupted":
                raise Unavailable("the job was interrupted on the ComfyUI box", provider=provider)
    if status.get("status_str") == "error":
        raise BadOutput("ComfyUI reported an error for the job", provider=provider)
    return entry


def outputs_of(entry: dict[str, Any], provider: str) -> list[OutputFile]:
    files: list[OutputFile] = []
    for node_out in (entry.get("outputs") or {}).values():
        if not isinstance(node_out, dict):
            continue
        animated_flags = node_out.get("animated") or []
        for key in ("images", "gifs", "videos"):
            for i, item in enumerate(node_out.get(key) or []):
                if not isinstance(item, dict) or not item.get("filename"):
                    continue
                name = str(item["filename"])
                animated = (
                    key != "images"
                    or (i < len(animated_flags) and bool(animated_flags[i]))
                    or (bool(animated_flags) and bool(animated_flags[0]))
                    or name.lower().endswith(VIDEO_EXTS[:4])
                )
                files.append(OutputFile(name, str(item.get("subfolder", "")), str(item.get("type", "output")),
                                        animated))
    if not files:
        raise BadOutput("the ComfyUI job produced no output files", provider=provider)
    return files
