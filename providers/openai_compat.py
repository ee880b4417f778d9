"""Script writing over an OpenAI-compatible chat endpoint (OpenAI itself, Groq, and any server that
speaks the protocol: `providers.compatible`).

`ChatScriptWriter` asks `POST {base_url}/chat/completions` for a script with `response_format`
json_schema. The request body is built in one place (`chat_request_body`): `temperature` only when
configured (GPT-5.x and o-series answer 400 to any but their default), the token limit under the
name the server wants (`max_completion_tokens` for OpenAI and Groq, whose reasoning models spend
part of it thinking; `max_tokens` for older servers). A strict schema carries no `minItems` /
`maxItems` (`strict_schema`): Groq refuses them in strict mode, and the scene count is checked after
parsing anyway. When the model says it does not support json_schema (Groq, per its 400 "This model
does not support response format `json_schema`"), it retries at once with json_object and remembers
that for the rest of the process. A `refusal` or a `content_filter` finish is a content-policy
refusal: bad output for this item, not an outage.

The schema, prompt and parser are the shared ones in `providers.script_schema` (Ollama uses them
too), so every LLM writer asks for and accepts the same script.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, ClassVar

from providers.base import ProviderDeps, Script, ScriptRequest, Stage, StageContext
from providers.errors import BadOutput, ProviderError
from providers.http import CloudHTTP
from providers.lifecycle import lifecycle_report, retired_models
from providers.script_schema import parse_script, script_messages, script_schema

__all__ = ["ChatScriptWriter", "chat_request_body", "strict_schema"]

_ARRAY_BOUNDS = ("minItems", "maxItems")


def strict_schema(schema: Any) -> Any:
    """`schema` without array bounds, at every depth: strict structured outputs refuse them (Groq)."""
    if isinstance(schema, dict):
        return {k: strict_schema(v) for k, v in schema.items() if k not in _ARRAY_BOUNDS}
    if isinstance(schema, list):
        return [strict_schema(v) for v in schema]
    return schema


def chat_request_body(model: str, messages: list[dict[str, str]], *, temperature: float | None,
                      token_field: str, max_tokens: int) -> dict[str, Any]:
    """The chat completion request, without its response_format (added by the caller)."""
    body: dict[str, Any] = {"model": model, "messages": messages, token_field: max_tokens}
    if temperature is not None:
        body["temperature"] = float(temperature)
    return body

log = logging.getLogger(__name__)


def _parse(text: str, request: ScriptRequest, provider: str) -> Script:
    try:
        return parse_script(text, request)
    except BadOutput as exc:
        exc.provider = provider
        raise


class ChatScriptWriter:
    """Base for script writers on an OpenAI-compatible chat endpoint. Subclasses set the class
    attributes and `_base_url`/`_api_key`/`_model` from their config."""

    stages: ClassVar[frozenset[Stage]] = frozenset({Stage.SCRIPT})
    max_tokens: ClassVar[int] = 2500  # unless the config sets max_completion_tokens / max_tokens
    token_field: ClassVar[str] = "max_completion_tokens"

    def __init__(self, config: Any, deps: ProviderDeps) -> None:
        self.config = config
        self._http = CloudHTTP(self.name, deps.session, config.secrets(), timeout_s=config.timeout_s,
                               retired=retired_models(deps.data_dir))
        self._schema_ok = bool(getattr(config, "json_schema", True))

    # -- what subclasses provide
    name: ClassVar[str]

    @property
    def _base_url(self) -> str:
        return str(self.config.base_url).rstrip("/")

    @property
    def _model(self) -> str:
        return str(self.config.script_model)

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.config.api_key}"}

    def secrets(self) -> tuple[str, ...]:
        return tuple(self.config.secrets())

    @property
    def _model_setting(self) -> str:
        return "script_model"

    async def probe(self) -> dict[str, Any]:
        """GET /models: cheap, it proves the key works, and it may carry shutdown dates."""
        reply = await self._http.request("GET", f"{self._base_url}/models", headers=self._headers())
        data = reply.json()
        items = [m for m in (data.get("data", []) if isinstance(data, dict) else []) if isinstance(m, dict)]
        listed = {str(m.get("id")): m.get("shutdown_date") for m in items}
        info: dict[str, Any] = {"models": len(items), "script_model": self._model,
                                "script_model_listed": self._model in listed}
        retired = await self._http.retired.retired(self.name) if self._http.retired is not None else {}
        info.update(lifecycle_report(self.name, {self._model_setting: self._model}, today=dt.date.today(),
                                     listed=listed, retired=retired))
        return info

    def _body(self, request: ScriptRequest) -> dict[str, Any]:
        limit = getattr(self.config, "max_completion_tokens", None) or getattr(self.config, "max_tokens", None)
        return chat_request_body(self._model, script_messages(request),
                                 temperature=getattr(self.config, "temperature", None),
                                 token_field=str(getattr(self.config, "token_field", self.token_field)),
                                 max_tokens=int(limit or self.max_tokens))

    async def write_script(self, request: ScriptRequest, ctx: StageContext) -> Script:
        body = self._body(request)
        if self._schema_ok:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "video_script", "strict": True,
                                "schema": strict_schema(script_schema(request))},
            }
            try:
                return await self._complete(body, request)
            except ProviderError as exc:
                if not _schema_rejected(exc):
                    raise
                log.info("job %s: %s model %s rejects json_schema; using json_object from now on",
                         ctx.job_id, self.name, self._model)
                self._schema_ok = False
        body["response_format"] = {"type": "json_object"}
        return await self._complete(body, request)

    async def _complete(self, body: dict[str, Any], request: ScriptRequest) -> Script:
        reply = await self._http.request(
            "POST", f"{self._base_url}/chat/completions", headers=self._headers(), json_body=body,
            model=self._model,
        )
        data = reply.json()
        try:
            choice = data["choices"][0]
            message = choice["message"]
        except (KeyError, IndexError, TypeError):
            raise BadOutput("the answer has no choices", provider=self.name) from None
        if message.get("refusal") or choice.get("finish_reason") == "content_filter":
            raise BadOutput(f"refused by the content policy: {message.get('refusal') or 'content_filter'}",
                            provider=self.name)
        content = message.get("content")
        if not isinstance(content, str) or not content.strip():
            raise BadOutput("the answer is empty", provider=self.name)
        if choice.get("finish_reason") == "length":
            raise BadOutput("the script was cut off (the token limit, reasoning included)", provider=self.name)
        return _parse(content, request, self.name)


def _schema_rejected(exc: ProviderError) -> bool:
    text = exc.message.lower()
    return exc.status == 400 and "json_schema" in text and ("support" in text or "response format" in text)
