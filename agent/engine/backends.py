"""Provider instances built from settings: the one place that turns config into clients.

`Backends` holds one instance per configured provider class and answers "who serves this stage, in
what order", typed by the stage's protocol (`for_stage(Stage.VOICE)` is a `list[VoiceMaker]`).
Unconfigured providers (no URL or key) are never built: skipped with no probe and no delay. Every
instance's class is checked against the contract of each stage it declares
(`providers.contract`): one that does not implement a declared stage is refused here, at start-up,
with a `ContractError` naming it, never skipped at run time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any, Literal, overload

from agent.settings import Settings
from providers.base import (
    ClipMaker,
    ImageMaker,
    Provider,
    ProviderDeps,
    ScriptWriter,
    Stage,
    Tier,
    VoiceMaker,
)
from providers.contract import check_provider_class
from providers.registry import PROVIDER_CLASSES

__all__ = ["Backends", "build_backends"]

log = logging.getLogger(__name__)


class Backends:
    def __init__(self, instances: Iterable[Provider], default_orders: dict[Stage, tuple[str, ...]]) -> None:
        self._by_stage: dict[Stage, dict[str, Provider]] = {s: {} for s in Stage}
        self._all: list[Provider] = []
        for inst in instances:
            check_provider_class(type(inst), constructor=False)  # built already: how is not at issue
            self._all.append(inst)
            for stage in inst.stages:
                self._by_stage[stage][inst.name] = inst
        self._default_orders = default_orders

    def all(self) -> list[Provider]:
        return list(self._all)

    def names(self) -> list[str]:
        return sorted({p.name for p in self._all})

    def has(self, name: str, stage: Stage) -> bool:
        return name in self._by_stage[stage]

    def get(self, name: str, stage: Stage) -> Provider | None:
        return self._by_stage[stage].get(name)

    def default_order(self, stage: Stage) -> tuple[str, ...]:
        return self._default_orders.get(stage, ())

    @overload
    def for_stage(self, stage: Literal[Stage.SCRIPT], order: Sequence[str] | None = None) -> list[ScriptWriter]: ...
    @overload
    def for_stage(self, stage: Literal[Stage.IMAGE], order: Sequence[str] | None = None) -> list[ImageMaker]: ...
    @overload
    def for_stage(self, stage: Literal[Stage.CLIP], order: Sequence[str] | None = None) -> list[ClipMaker]: ...
    @overload
    def for_stage(self, stage: Literal[Stage.VOICE], order: Sequence[str] | None = None) -> list[VoiceMaker]: ...
    @overload
    def for_stage(self, stage: Stage, order: Sequence[str] | None = None) -> list[Provider]: ...

    def for_stage(self, stage: Stage, order: Sequence[str] | None = None) -> list[Any]:
        """Configured providers of `stage`, in `order` (default: the stage's configured order).
        Each implements the stage's protocol: `__init__` checked its class."""
        names = self.default_order(stage) if order is None else order
        return [self._by_stage[stage][n] for n in names if n in self._by_stage[stage]]

    def tier_of(self, name: str) -> Tier | None:
        for p in self._all:
            if p.name == name:
                return p.tier
        return None

    def secrets(self) -> tuple[str, ...]:
        out: list[str] = []
        for p in self._all:
            out.extend(p.secrets())
        return tuple(out)


def build_backends(settings: Settings, deps: ProviderDeps) -> Backends:
    """Instantiate every provider class whose config says it is configured."""
    instances: list[Provider] = []
    for cls in PROVIDER_CLASSES:
        config = settings.providers[cls.name]
        if not config.configured():
            continue
        instances.append(cls(config, deps))
    orders: dict[Stage, tuple[str, ...]] = {
        stage: settings.stages.for_stage(stage) for stage in Stage if stage is not Stage.RENDER
    }
    backends = Backends(instances, orders)
    log.info("providers configured: %s", ", ".join(backends.names()) or "none")
    return backends
