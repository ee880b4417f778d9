"""Provider instances built from settings: the one place that turns config into clients.

`Backends` holds one instance per configured provider class and answers "who serves this stage, in
what order". Unconfigured providers (no URL or key) are never built: skipped with no probe and no
delay.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from agent.settings import Settings
from providers.base import ProviderDeps, Stage, Tier
from providers.registry import PROVIDER_CLASSES

__all__ = ["Backends", "build_backends"]

log = logging.getLogger(__name__)


class Backends:
    def __init__(self, instances: Iterable[object], default_orders: dict[Stage, tuple[str, ...]]) -> None:
        self._by_stage: dict[Stage, dict[str, object]] = {s: {} for s in Stage}
        self._all: list[object] = []
        for inst in instances:
            self._all.append(inst)
            for stage in inst.stages:  # type: ignore[attr-defined]
                self._by_stage[stage][inst.name] = inst  # type: ignore[attr-defined]
        self._default_orders = default_orders

    def all(self) -> list[object]:
        return list(self._all)

    def names(self) -> list[str]:
        return sorted({p.name for p in self._all})  # type: ignore[attr-defined]

    def has(self, name: str, stage: Stage) -> bool:
        return name in self._by_stage[stage]

    def get(self, name: str, stage: Stage) -> object | None:
        return self._by_stage[stage].get(name)

    def default_order(self, stage: Stage) -> tuple[str, ...]:
        return self._default_orders.get(stage, ())

    def for_stage(self, stage: Stage, order: Sequence[str] | None = None) -> list[object]:
        """Configured providers of `stage`, in `order` (default: the stage's configured order)."""
        names = self.default_order(stage) if order is None else order
        return [self._by_stage[stage][n] for n in names if n in self._by_stage[stage]]

    def tier_of(self, name: str) -> Tier | None:
        for p in self._all:
            if p.name == name:  # type: ignore[attr-defined]
                return p.tier  # type: ignore[attr-defined]
        return None

    def secrets(self) -> tuple[str, ...]:
        out: list[str] = []
        for p in self._all:
            out.extend(p.secrets())  # type: ignore[attr-defined]
        return tuple(out)


def build_backends(settings: Settings, deps: ProviderDeps) -> Backends:
    """Instantiate every provider class whose config says it is configured."""
    instances = []
    for cls in PROVIDER_CLASSES:
        config = settings.providers[cls.name]
        if not config.configured():
            continue
        instances.append(cls(config, deps))
    orders = {stage: settings.stages.for_stage(stage) for stage in Stage if stage is not Stage.RENDER}
    backends = Backends(instances, orders)
    log.info("providers configured: %s", ", ".join(backends.names()) or "none")
    return backends
