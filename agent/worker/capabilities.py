"""What a worker can serve now: its backends' state, and the routes that follow from them.

A backend is `up` when its probe answers, `cooling` when the cascade's health board has it cooling
down for some stage, `down` when the probe fails. A route can be served when it is enabled and, for
each stage it prefers providers for, one of them is here and up (a route without preferences is
served by the default cascade, whose last tier is the offline one). The worker re-plans with every
heartbeat: when the set changes, it listens on the new set of route queues.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from agent.engine.backends import Backends
from agent.engine.health import HealthBoard
from agent.engine.routes import available_routes
from agent.settings import Settings
from providers.base import Provider, Stage

__all__ = ["Capabilities", "describe", "PROBE_TIMEOUT_S"]

PROBE_TIMEOUT_S = 3.0
_STAGES = (Stage.SCRIPT, Stage.IMAGE, Stage.CLIP, Stage.VOICE)


@dataclass(frozen=True)
class Capabilities:
    routes: tuple[str, ...]
    backends: list[dict[str, Any]] = field(default_factory=list)  # agent.protocol.WorkerBackend, as JSON


async def _probe(provider: Provider) -> tuple[bool, dict[str, Any], str]:
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_S):
            details = await provider.probe()
    except Exception as exc:  # noqa: BLE001 - any failing probe means the backend is down
        return False, {}, f"{type(exc).__name__}: {exc}"[:200]
    return True, dict(details or {}), ""


def _models(details: dict[str, Any]) -> list[str]:
    models = details.get("models") or details.get("model") or []
    if isinstance(models, str):
        models = [models]
    return [str(m) for m in models][:20] if isinstance(models, list | tuple) else []


def _vram_mb(details: dict[str, Any]) -> int | None:
    for key in ("vram_free_mb", "free_vram_mb"):
        if isinstance(details.get(key), int | float):
            return int(details[key])
    if isinstance(details.get("vram_free"), int | float):  # bytes, as ComfyUI reports it
        return int(details["vram_free"] // (1024 * 1024))
    return None


async def describe(settings: Settings, backends: Backends, health: HealthBoard, now: float) -> Capabilities:
    """Probe every backend (at once, each bounded) and derive the routes this worker serves."""
    providers = backends.all()
    probed = await asyncio.gather(*(_probe(p) for p in providers))
    up: set[tuple[str, Stage]] = set()
    rows: list[dict[str, Any]] = []
    for provider, (ok, details, problem) in zip(providers, probed, strict=True):
        cooling = [s for s in provider.stages if health.is_cooling(provider.name, s.value)]
        state = "down" if not ok else ("cooling" if cooling else "up")
        for stage in provider.stages:
            if ok and stage not in cooling:
                up.add((provider.name, stage))
        row: dict[str, Any] = {"name": provider.name, "state": state, "tier": provider.tier.label,
                               "models": _models(details), "problem": problem}
        vram = _vram_mb(details)
        if vram is not None:
            row["free_vram_mb"] = vram
        rows.append(row)
    routes = []
    for name in available_routes(settings, backends):
        route = settings.routes[name]
        wanted = [(stage, tuple(getattr(route, stage.value))) for stage in _STAGES]
        if all(any((n, stage) in up for n in names) for stage, names in wanted if names):
            routes.append(name)
    return Capabilities(tuple(routes), rows)
