"""What the three offline classes share: their name, tier and config, and no secrets."""

from __future__ import annotations

from typing import ClassVar

from providers.base import ProviderDeps, Tier
from providers.offline.config import OfflineConfig

__all__ = ["OfflineBase"]


class OfflineBase:
    name: ClassVar[str] = "offline"
    tier: ClassVar[Tier] = Tier.OFFLINE
    config_class: ClassVar[type] = OfflineConfig

    def __init__(self, config: OfflineConfig, deps: ProviderDeps) -> None:
        self.config = config
        self.deps = deps

    def secrets(self) -> tuple[str, ...]:
        return ()
