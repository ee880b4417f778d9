"""What every OpenAI stage class shares: the bounded, classified HTTP client, auth and the probe."""

from __future__ import annotations

from typing import Any, ClassVar

from providers.base import ProviderDeps, Tier
from providers.http import CloudHTTP
from providers.openai.config import OpenAIConfig

__all__ = ["OpenAIProvider", "OPENAI_VOICES"]

OPENAI_VOICES = frozenset({
    "alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer", "verse",
    "marin", "cedar",
})


class OpenAIProvider:
    name: ClassVar[str] = "openai"
    tier: ClassVar[Tier] = Tier.CLOUD_PREMIUM
    config_class: ClassVar[type] = OpenAIConfig

    def __init__(self, config: OpenAIConfig, deps: ProviderDeps) -> None:
        self.config = config
        self.deps = deps
        self._http = CloudHTTP(self.name, deps.session, config.secrets(), timeout_s=config.timeout_s)

    def secrets(self) -> tuple[str, ...]:
        return self.config.secrets()

    def _url(self, path: str) -> str:
        return f"{self.config.base_url.rstrip('/')}/{path.lstrip('/')}"

    def _headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.config.api_key}", **extra}

    async def probe(self) -> dict[str, Any]:
        """GET /models: free, authenticated, and it says whether our models are offered."""
        reply = await self._http.request("GET", self._url("models"), headers=self._headers())
        ids = {m.get("id") for m in reply.json().get("data", []) if isinstance(m, dict)}
        c = self.config
        wanted = (c.script_model, c.image_model, c.voice_model, c.clip_model)
        return {"models": len(ids), "missing_models": [m for m in wanted if ids and m not in ids]}
