"""Script writing over an OpenAI-compatible chat endpoint (OpenAI itself, Groq), plus the small
script JSON schema, prompt and parser the cloud writers share.

`ChatScriptWriter` asks `POST {base_url}/chat/completions` for a script with `response_format`
json_schema. When the model says it does not support json_schema (Groq, per its 400 "This model
does not support response format `json_schema`"), it retries at once with json_object and remembers
that for the rest of the process. A `refusal` or a `content_filter` finish is a content-policy
refusal: bad output for this item, not an outage.

The schema, prompt and parser are the shared ones in `providers.script_schema` (Ollama uses them
too), so every LLM writer asks for and accepts the same script.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from providers.base import ProviderDeps, Script, ScriptRequest, Stage, StageContext
from providers.errors import BadOutput, ProviderError
from providers.http import CloudHTTP
from providers.script_schema import parse_script, script_messages, script_schema

__all__ = ["ChatScriptWriter"]

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
    max_tokens: ClassVar[int] = 2500

    def __init__(self, config: Any, deps: ProviderDeps) -> None:
        self.config = config
        self._http = CloudHTTP(self.name, deps.session, config.secrets(), timeout_s=config.timeout_s)
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

    async def probe(self) -> dict[str, Any]:
        """GET /models: cheap, and it proves the key works."""
        reply = await self._http.request("GET", f"{self._base_url}/models", headers=self._headers())
        models = [m.get("id") for m in reply.json().get("data", []) if isinstance(m, dict)]
        return {"models": len(models), "script_model": self._model, "script_model_listed": self._model in models}

    async def write_script(self, request: ScriptRequest, ctx: StageContext) -> Script:
        body: dict[str, Any] = {
            "model": self._model,
            "messages": script_messages(request),
            "temperature": float(getattr(self.config, "temperature", 0.8)),
            "max_tokens": self.max_tokens,
        }
        if self._schema_ok:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "video_script", "strict": True, "schema": script_schema(request)},
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
            raise BadOutput("the script was cut off (max_tokens)", provider=self.name)
        return _parse(content, request, self.name)


def _schema_rejected(exc: ProviderError) -> bool:
    text = exc.message.lower()
    return exc.status == 400 and "json_schema" in text and ("support" in text or "response format" in text)
