"""OpenAI's settings: the `[providers.openai]` table of config.toml.

Configured only when `OPENAI_API_KEY` is in the environment (the key never lives in a file).
Every model name is configurable; `OPENAI_BASE_URL` overrides `base_url`, and `OPENAI_ORG_ID` /
`OPENAI_PROJECT_ID` pick the organization and project, as the SDK's do. Models with an announced
shutdown date show it in `reelbot status` (`providers.lifecycle`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from providers.config import ProviderConfig

__all__ = ["OpenAIConfig"]


@dataclass(frozen=True)
class OpenAIConfig(ProviderConfig):
    env: ClassVar[Mapping[str, str]] = {
        "base_url": "OPENAI_BASE_URL", "organization": "OPENAI_ORG_ID", "project": "OPENAI_PROJECT_ID",
    }
    secret_env: ClassVar[Mapping[str, str]] = {"api_key": "OPENAI_API_KEY"}

    api_key: str = ""  # from OPENAI_API_KEY only
    base_url: str = "https://api.openai.com/v1"
    organization: str = ""  # OpenAI-Organization header; also OPENAI_ORG_ID
    project: str = ""  # OpenAI-Project header; also OPENAI_PROJECT_ID
    timeout_s: float = 120.0  # per HTTP request (the cascade's stage timeout bounds the whole call)
    script_model: str = "gpt-5.4-mini"
    json_schema: bool = True  # ask for response_format json_schema (falls back to json_object if refused)
    temperature: float | None = None  # None = not sent: GPT-5.x and o-series refuse any but their default
    max_completion_tokens: int = 16000  # the script plus room for the model's reasoning tokens
    image_model: str = "gpt-image-2"
    image_quality: str = ""  # "" = the model's default; gpt-image: low|medium|high
    voice_model: str = "gpt-4o-mini-tts"  # shuts down 2027-01-06 (status shows it); or tts-1, tts-1-hd
    voice: str = "coral"  # default voice when the job names none (or one OpenAI does not have)
    voice_instructions: str = "Narrate clearly and warmly, like a documentary."  # not for tts-1*

    def configured(self) -> bool:
        return bool(self.api_key)
