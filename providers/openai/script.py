"""OpenAI script writer: chat completions with response_format json_schema (default `gpt-4o`)."""

from __future__ import annotations

from typing import ClassVar

from providers.base import Tier
from providers.openai.config import OpenAIConfig
from providers.openai_compat import ChatScriptWriter

__all__ = ["OpenAIScriptWriter"]


class OpenAIScriptWriter(ChatScriptWriter):
    name: ClassVar[str] = "openai"
    tier: ClassVar[Tier] = Tier.CLOUD_PREMIUM
    config_class: ClassVar[type] = OpenAIConfig
