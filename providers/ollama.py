"""Ollama: the self-hosted script writer (`POST /api/chat` with the script's JSON schema).

Wire facts (DOSSIER §1): the API streams NDJSON unless `stream: false`; `format` takes a JSON Schema
object; a missing model is 404 `{"error": "model 'x' not found"}` (older builds: `... not found, try
pulling it first`); an error after streaming began is a final `{"error": ...}` line under HTTP 200;
503 "server busy" means its queue is full. We send `stream: false`, but still read the body line by
line so a proxy or an old build that streams anyway is understood.

The reply is parsed by `providers.script_schema`; invalid output gets one repair turn, then counts
as bad output. When the GPU is shared with ComfyUI (see `agent.engine.gpu`), the job's last script call
asks Ollama to unload the model (`keep_alive: 0`) so the diffusion model fits.

Current servers turn *thinking* on by default for thinking-capable models (qwen3, deepseek-r1,
gpt-oss): slow, and the thinking can eat the context. `think` is sent always, off unless
configured (true/false, or a level: "low", "medium", "high", "max"). The `options` table is
passed through as is (num_thread, num_gpu, top_p, ...), over temperature and num_ctx.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import aiohttp

from providers.base import ProviderDeps, Script, ScriptRequest, Stage, StageContext, Tier
from providers.config import GpuSharing, ProviderConfig
from providers.errors import BadOutput, Misconfigured, ProviderError, RateLimited, Unavailable
from providers.http import (
    SELF_HOSTED,
    base_url,
    classify_status,
    error_message,
    host_of,
    read_bounded,
    transport_errors,
)
from providers.scrub import redact_url
from providers.script_schema import parse_script, repair_message, script_messages, script_schema

__all__ = ["OllamaConfig", "OllamaScriptWriter"]

MAX_REPLY_BYTES = 2_000_000


@dataclass(frozen=True)
class OllamaConfig(ProviderConfig):
    """`[providers.ollama]`. Enabled when `url` is set (or LOCAL_AI_SERVER)."""

    env: ClassVar[dict[str, str]] = {"url": "LOCAL_AI_SERVER"}

    url: str = ""  # e.g. "http://gpu-box:11434"; "" = not used
    model: str = "llama3.2:3b"
    temperature: float = 0.8
    num_ctx: int = 4096  # context window; the script prompt needs ~1-2k tokens
    think: Literal["false", "true", "low", "medium", "high", "max"] = "false"  # sent as the API's `think`
    options: dict[str, str | int | float | bool] = field(default_factory=dict)  # passed through as is
    keep_alive: str = "5m"  # how long Ollama keeps the model loaded: "5m", "1h", "0", "-1" (forever)
    share_gpu: GpuSharing = "auto"  # unload after the script: auto (ComfyUI on the same host), always, never
    timeout_s: float = 300.0  # one chat call; the first call after idle pays the model load
    connect_timeout_s: float = 5.0
    probe_timeout_s: float = 2.0

    def configured(self) -> bool:
        return bool(self.url.strip())


def chat_body(config: OllamaConfig, messages: list[dict[str, str]], schema: dict[str, Any],
              keep_alive: int | str) -> dict[str, Any]:
    """The /api/chat request: `think` always sent (off by default), `options` over our defaults."""
    think: bool | str = {"false": False, "true": True}.get(config.think, config.think)
    return {
        "model": config.model,
        "messages": messages,
        "stream": False,
        "format": schema,
        "think": think,
        "options": {"temperature": config.temperature, "num_ctx": config.num_ctx, **config.options},
        "keep_alive": keep_alive,
    }


def _keep_alive(value: str) -> int | str:
    """Ollama takes a number of seconds or a Go duration string; send plain numbers as numbers."""
    text = value.strip()
    try:
        return int(text)
    except ValueError:
        return text


class OllamaScriptWriter:
    """Writes the script with a local LLM through Ollama's chat API."""

    name: ClassVar[str] = "ollama"
    tier: ClassVar[Tier] = Tier.SELF_HOSTED
    stages: ClassVar[frozenset[Stage]] = frozenset({Stage.SCRIPT})
    config_class: ClassVar[type] = OllamaConfig
    gpu_heavy: ClassVar[bool] = True

    def __init__(self, config: OllamaConfig, deps: ProviderDeps) -> None:
        self.config = config
        self.deps = deps
        self.url = base_url(config.url)
        self.gpu_host = host_of(config.url)
        self.share_gpu = config.share_gpu
        self._unload_on_last_call = config.share_gpu == "always"

    # ------------------------------------------------------------------ protocol

    def secrets(self) -> tuple[str, ...]:
        return self.config.secrets()

    def set_gpu_shared(self, shared: bool) -> None:
        self._unload_on_last_call = shared

    @property
    def _session(self) -> aiohttp.ClientSession:
        if self.deps.session is None:
            raise Unavailable("no HTTP session", provider=self.name)
        return self.deps.session

    async def write_script(self, request: ScriptRequest, ctx: StageContext) -> Script:
        messages = script_messages(request)
        unload = ctx.last_call and self._unload_on_last_call
        keep_alive: int | str = 0 if unload else _keep_alive(self.config.keep_alive)
        ctx.report(0.0, f"writing the script with {self.config.model}")
        reply = await self._chat(messages, request, keep_alive)
        try:
            return parse_script(reply, request)
        except BadOutput as first:
            ctx.report(0.5, f"asking {self.config.model} to fix its script: {first.message}")
            messages += [{"role": "assistant", "content": reply}, repair_message(first, request)]
            reply = await self._chat(messages, request, keep_alive)
            try:
                return parse_script(reply, request)
            except BadOutput as second:
                raise BadOutput(f"invalid script after one repair: {second.message}", provider=self.name) from None

    async def probe(self) -> dict[str, Any]:
        """/api/version, the model in /api/tags, loaded models from /api/ps."""
        replies: tuple[dict[str, Any] | BaseException, ...] = await asyncio.gather(
            self._get_json("/api/version"), self._get_json("/api/tags"), self._get_json("/api/ps"),
            return_exceptions=True,
        )
        version, tags, ps = replies
        if isinstance(version, BaseException):
            raise version
        names = [m.get("name", "") for m in tags.get("models", [])] if isinstance(tags, dict) else []
        loaded = [m.get("name", "") for m in ps.get("models", [])] if isinstance(ps, dict) else []
        info: dict[str, Any] = {
            "version": version.get("version", "?"),
            "model": self.config.model,
            "models": names,
            "loaded": loaded,
        }
        if isinstance(tags, BaseException):
            info["problem"] = f"/api/tags failed: {tags}"
        elif not _has_model(names, self.config.model):
            info["problem"] = f"model {self.config.model!r} is not pulled"
            info["hint"] = f"run `ollama pull {self.config.model}`"
        return info

    # ------------------------------------------------------------------ wire

    async def _chat(self, messages: list[dict[str, str]], request: ScriptRequest, keep_alive: int | str) -> str:
        body = chat_body(self.config, messages, script_schema(request), keep_alive)
        timeout = aiohttp.ClientTimeout(total=self.config.timeout_s, sock_connect=self.config.connect_timeout_s)
        with transport_errors(self.name, "Ollama /api/chat", secrets=self.secrets()):
            async with self._session.post(f"{self.url}/api/chat", json=body, timeout=timeout) as resp:
                raw = await read_bounded(resp, MAX_REPLY_BYTES, self.name, "Ollama's reply")
                if resp.status != 200:
                    raise self._error(resp.status, raw, resp.headers)
        return self._content(raw)

    def _content(self, raw: bytes) -> str:
        """The message content of a single object or of NDJSON chunks; an error line raises."""
        parts: list[str] = []
        done = False
        for line in raw.decode("utf-8", "replace").splitlines():
            if not line.strip():
                continue
            try:
                chunk = json.loads(line)
            except ValueError:
                raise BadOutput(f"Ollama sent a line that is not JSON: {line[:80]!r}", provider=self.name) from None
            if not isinstance(chunk, dict):
                raise BadOutput("Ollama sent an unexpected JSON value", provider=self.name)
            if "error" in chunk:
                # HTTP 200 with an error line: the model failed after it started answering.
                raise Unavailable(f"Ollama failed mid-answer: {chunk['error']}", provider=self.name)
            message = chunk.get("message") or {}
            parts.append(str(message.get("content", "")))
            done = done or bool(chunk.get("done"))
        if not done:
            raise Unavailable("Ollama's answer ended before it was done", provider=self.name)
        return "".join(parts)

    def _error(self, status: int, raw: bytes, headers: Any) -> ProviderError:
        model = self.config.model
        message = error_message(raw, secrets=self.secrets())[0]
        if status == 404 and "not found" in message:
            return Misconfigured(f"model {model!r} not found on {redact_url(self.url)}", provider=self.name,
                                 status=status, hint=f"run `ollama pull {model}`")
        if status == 503:  # "server busy ... maximum pending requests exceeded": the queue is full
            return RateLimited(message, provider=self.name, status=status)
        if status == 400:
            return Misconfigured(f"Ollama refused the request: {message}", provider=self.name, status=status,
                                 hint=f"check providers.ollama.model ({model!r}) supports chat and JSON output")
        return classify_status(self.name, status, headers, raw, edge=SELF_HOSTED, secrets=self.secrets())

    async def _get_json(self, path: str) -> dict[str, Any]:
        timeout = aiohttp.ClientTimeout(total=self.config.probe_timeout_s)
        with transport_errors(self.name, f"Ollama {path}", secrets=self.secrets()):
            async with self._session.get(f"{self.url}{path}", timeout=timeout) as resp:
                raw = await read_bounded(resp, MAX_REPLY_BYTES, self.name, path)
                if resp.status != 200:
                    raise self._error(resp.status, raw, resp.headers)
        try:
            data = json.loads(raw)
        except ValueError:
            raise BadOutput(f"{path} is not JSON", provider=self.name) from None
        if not isinstance(data, dict):
            raise BadOutput(f"{path} is not a JSON object", provider=self.name)
        return data


def _has_model(names: list[str], model: str) -> bool:
    """Ollama lists `llama3.2:latest` for a pull of `llama3.2`."""
    wanted = {model, f"{model}:latest"} if ":" not in model else {model}
    return any(n in wanted for n in names)

