"""OpenAI script writer: chat completions with a strict json_schema response format.

Current models (GPT-5.x, o-series) take `max_completion_tokens` (the answer and its reasoning) and
refuse any `temperature` but their default, so it is sent only when configured.
"""

from __future__ import annotations

from typing import Any, ClassVar

from providers.base import Tier
from providers.openai.client import models_probe, openai_headers
from providers.openai.config import OpenAIConfig
from providers.openai_compat import ChatScriptWriter

__all__ = ["OpenAIScriptWriter"]


class OpenAIScriptWriter(ChatScriptWriter):
    name: ClassVar[str] = "openai"
    tier: ClassVar[Tier] = Tier.CLOUD_PREMIUM
    config_class: ClassVar[type] = OpenAIConfig
    token_field: ClassVar[str] = "max_completion_tokens"

    def _headers(self) -> dict[str, str]:
        return openai_headers(self.config)

    async def probe(self) -> dict[str, Any]:
        return await models_probe(self._http, self._base_url, self._headers(), self.name,
                                  {"script_model": self._model})
