"""Any OpenAI-compatible chat server as a script writer: vLLM, LM Studio, llama.cpp's server,
Ollama's `/v1`, OpenRouter, the Hugging Face router.

`[providers.openai_compatible]` names the `base_url` (up to `/v1`), the `model`, the `tier` the
operator gives it (`self-hosted` when it runs on the GPU box, else a cloud tier: where it sits in
the cascade and which routes may fall to it) and, optionally, `api_key_env`: the *name* of the
environment variable holding its key (`OPENROUTER_API_KEY`, `HF_TOKEN`...), or the key itself in
`OPENAI_COMPATIBLE_API_KEY`. Used when `base_url` is set.

Servers differ in what they accept: `token_field` says how the token limit is named
(`max_tokens` for llama.cpp and LM Studio, `max_completion_tokens` for OpenRouter or vLLM), and a
server that refuses json_schema gets json_object from then on, as Groq does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from providers.base import ProviderDeps, Tier
from providers.config import ProviderConfig
from providers.openai_compat import ChatScriptWriter

__all__ = ["CompatibleConfig", "CompatibleScriptWriter"]

TierName = Literal["self-hosted", "cloud-premium", "cloud-free"]
_TIERS = {"self-hosted": Tier.SELF_HOSTED, "cloud-premium": Tier.CLOUD_PREMIUM, "cloud-free": Tier.CLOUD_FREE}


@dataclass(frozen=True)
class CompatibleConfig(ProviderConfig):
    secret_env: ClassVar[Mapping[str, str]] = {"api_key": "OPENAI_COMPATIBLE_API_KEY"}

    api_key: str = ""  # from OPENAI_COMPATIBLE_API_KEY, or from the variable `api_key_env` names
    base_url: str = ""  # e.g. "http://gpu-box:8000/v1" (vLLM), "http://gpu-box:1234/v1" (LM Studio); "" = not used
    model: str = ""  # the model id the server lists at GET /models
    api_key_env: str = ""  # the NAME of an environment variable holding the key; "" = none or the default
    tier: TierName = "self-hosted"  # where it sits in the cascade
    token_field: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    max_tokens: int = 4000
    temperature: float | None = None  # None = not sent
    json_schema: bool = True  # try a strict json_schema first; a server that refuses it gets json_object
    timeout_s: float = 300.0  # one chat call (a local model may be loading)

    def configured(self) -> bool:
        return bool(self.base_url.strip() and self.model.strip())

    def with_env(self, env: Mapping[str, str]) -> CompatibleConfig:
        name = self.api_key_env.strip()
        if name and env.get(name):
            return dataclasses.replace(self, api_key=env[name].strip())
        return self

    def secrets(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*super().secrets(), *((self.api_key,) if self.api_key else ()))))


class CompatibleScriptWriter(ChatScriptWriter):
    name: ClassVar[str] = "openai_compatible"
    tier: ClassVar[Tier] = Tier.SELF_HOSTED  # the class default; each instance takes its config's
    config_class: ClassVar[type] = CompatibleConfig

    def __init__(self, config: CompatibleConfig, deps: ProviderDeps) -> None:
        super().__init__(config, deps)
        self.tier = _TIERS[config.tier]  # type: ignore[misc]  # the operator sets this backend's tier

    @property
    def _model(self) -> str:
        return str(self.config.model)

    @property
    def _model_setting(self) -> str:
        return "model"

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.config.api_key}"} if self.config.api_key else {}

    async def probe(self) -> dict[str, Any]:
        info = await super().probe()
        info["tier"] = self.config.tier
        if info.get("models") and not info.get("script_model_listed"):
            info.setdefault("problem", f"model {self._model!r} is not listed by the server")
            info.setdefault("hint", "set [providers.openai_compatible] model to one the server lists at GET /models")
        return info
