"""Groq, a free cloud script writer on its OpenAI-compatible chat endpoint.

The default model is `openai/gpt-oss-120b`, Groq's recommended replacement for
`llama-3.3-70b-versatile` (decommissioned 2026-08-16). A decommissioned model answers 400
`code: "model_decommissioned"`: a configuration error (`ModelRetired`), never called again until
the config names another model.

Configured only when `GROQ_API_KEY` is in the environment. Models that refuse `json_schema`
(400 "This model does not support response format `json_schema`") are retried with json_object,
and the writer remembers not to ask again. Rate limits are per organisation: a 429 carries
`retry-after`, and the message says "try again in 5.289s" when the header is missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from providers.base import Tier
from providers.config import ProviderConfig
from providers.openai_compat import ChatScriptWriter

__all__ = ["GroqConfig", "GroqScriptWriter"]


@dataclass(frozen=True)
class GroqConfig(ProviderConfig):
    secret_env: ClassVar[Mapping[str, str]] = {"api_key": "GROQ_API_KEY"}

    api_key: str = ""  # from GROQ_API_KEY only
    base_url: str = "https://api.groq.com/openai/v1"
    script_model: str = "openai/gpt-oss-120b"
    json_schema: bool = True  # try json_schema first; models that refuse it get json_object
    temperature: float | None = None  # None = not sent (the model's default)
    max_completion_tokens: int = 8000  # the script plus gpt-oss's reasoning tokens
    timeout_s: float = 60.0

    def configured(self) -> bool:
        return bool(self.api_key)


class GroqScriptWriter(ChatScriptWriter):
    name: ClassVar[str] = "groq"
    tier: ClassVar[Tier] = Tier.CLOUD_FREE
    config_class: ClassVar[type] = GroqConfig
