"""What every OpenAI stage class shares: the bounded, classified HTTP client, auth and the probe.

The probe is `GET /models`: free, authenticated, and each model there carries its `shutdown_date`
(null when none is announced), so status can say "gpt-4o shuts down 2027-01-14" before it happens
and name the setting to change once it has (`providers.lifecycle`). Each stage class reports only
its own model: a dead image model does not stop OpenAI writing scripts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, ClassVar

from providers.base import ProviderDeps, Tier
from providers.http import CloudHTTP
from providers.lifecycle import lifecycle_report, retired_models
from providers.openai.config import OpenAIConfig

__all__ = ["OpenAIProvider", "OPENAI_VOICES", "openai_headers", "models_probe"]

OPENAI_VOICES = frozenset({
    "alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer", "verse",
    "marin", "cedar",
})


def openai_headers(config: OpenAIConfig, **extra: str) -> dict[str, str]:
    """Bearer key, plus the organization and project headers when set (as the SDK sends them)."""
    headers = {"Authorization": f"Bearer {config.api_key}"}
    if config.organization:
        headers["OpenAI-Organization"] = config.organization
    if config.project:
        headers["OpenAI-Project"] = config.project
    return {**headers, **extra}


async def models_probe(http: CloudHTTP, base_url: str, headers: Mapping[str, str], provider: str,
                       models: Mapping[str, str], today: dt.date | None = None) -> dict[str, Any]:
    """GET {base_url}/models: how many, which of ours are missing, and their lifecycle."""
    reply = await http.request("GET", f"{base_url.rstrip('/')}/models", headers=dict(headers))
    data = reply.json()
    listed: dict[str, str | None] = {}
    for item in data.get("data", []) if isinstance(data, dict) else []:
        if isinstance(item, dict) and item.get("id"):
            listed[str(item["id"])] = item.get("shutdown_date")
    info: dict[str, Any] = {"models": len(listed),
                            "missing_models": [m for m in models.values() if listed and m not in listed]}
    retired = await http.retired.retired(provider) if http.retired is not None else {}
    info.update(lifecycle_report(provider, models, today=today or dt.date.today(), listed=listed,
                                 retired=retired))
    return info


class OpenAIProvider:
    name: ClassVar[str] = "openai"
    tier: ClassVar[Tier] = Tier.CLOUD_PREMIUM
    config_class: ClassVar[type] = OpenAIConfig
    model_settings: ClassVar[tuple[str, ...]] = ()  # the config fields naming this class's models

    def __init__(self, config: OpenAIConfig, deps: ProviderDeps) -> None:
        self.config = config
        self.deps = deps
        self._http = CloudHTTP(self.name, deps.session, config.secrets(), timeout_s=config.timeout_s,
                               retired=retired_models(deps.data_dir))

    def secrets(self) -> tuple[str, ...]:
        return self.config.secrets()

    def _url(self, path: str) -> str:
        return f"{self.config.base_url.rstrip('/')}/{path.lstrip('/')}"

    def _headers(self, **extra: str) -> dict[str, str]:
        return openai_headers(self.config, **extra)

    async def probe(self) -> dict[str, Any]:
        models = {f: str(getattr(self.config, f)) for f in self.model_settings}
        return await models_probe(self._http, self.config.base_url, self._headers(), self.name, models)
