"""OpenAI's settings: the `[providers.openai]` table of config.toml.

Configured only when `OPENAI_API_KEY` is in the environment (the key never lives in a file).
Every model name is configurable; `OPENAI_BASE_URL` overrides `base_url` as the SDK's does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from providers.config import ProviderConfig

__all__ = ["OpenAIConfig"]


@dataclass(frozen=True)
class OpenAIConfig(ProviderConfig):
    env: ClassVar[Mapping[str, str]] = {"base_url": "OPENAI_BASE_URL"}
    secret_env: ClassVar[Mapping[str, str]] = {"api_key": "OPENAI_API_KEY"}

    api_key: str = ""  # from OPENAI_API_KEY only
    base_url: str = "https://api.openai.com/v1"
    timeout_s: float = 120.0  # per HTTP request (the cascade's stage timeout bounds the whole call)
    script_model: str = "gpt-4o"
    json_schema: bool = True  # ask for response_format json_schema (falls back to json_object if refused)
    temperature: float = 0.8
    image_model: str = "dall-e-3"  # or gpt-image-1 (always base64), gpt-image-1-mini, ...
    image_quality: str = ""  # "" = the model's default; dall-e-3: standard|hd; gpt-image: low|medium|high
    voice_model: str = "gpt-4o-mini-tts"  # or tts-1, tts-1-hd
    voice: str = "coral"  # default voice when the job names none (or one OpenAI does not have)
    voice_instructions: str = "Narrate clearly and warmly, like a documentary."  # not for tts-1*
    clip_model: str = "sora-2"  # Sora is scheduled to shut down on 2026-09-24; the client is optional
    clip_seconds: tuple[str, ...] = ("4", "8", "12")  # lengths the API accepts, as strings
    clip_poll_s: float = 2.0  # poll interval when the server sends no openai-poll-after-ms hint
    clip_max_poll_s: float = 30.0  # never wait longer than this between polls, whatever the hint

    def configured(self) -> bool:
        return bool(self.api_key)
