"""Routes: what a user picks (the seed's model dropdown) -> stage orders, mode and price.

A route names preferred providers per stage. Its plan puts them first, then the rest of the stage's
default cascade *below* them: a route is a preference, not a lock, and a failing provider falls
down to cheaper tiers, never up to a pricier one.

The price charged is the route's price only when its preferred providers actually served; a job that
fell back to cheaper tiers is charged the default route's price.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from agent.engine.backends import Backends
from agent.choices import Mode
from agent.settings import RouteSettings, Settings
from agent.engine.validation import InvalidInput
from providers.base import Stage, Tier

__all__ = [
    "DEFAULT_ROUTE", "RoutePlan", "RouteUnavailable", "available_routes", "plan_route", "charged_price",
    "route_status", "job_mode",
]

DEFAULT_ROUTE = "self-hosted"
_STAGES = (Stage.SCRIPT, Stage.IMAGE, Stage.CLIP, Stage.VOICE)


class RouteUnavailable(InvalidInput):
    """The route does not exist or has no configured provider; the message lists what is available."""

    def __init__(self, message: str) -> None:
        super().__init__(message, field="model")


@dataclass(frozen=True)
class RoutePlan:
    name: str
    price: int
    mode: Mode | None  # the mode the route requires; None: the job's own
    orders: Mapping[Stage, tuple[str, ...]]
    preferred: Mapping[Stage, tuple[str, ...]]


def _route_ready(route: RouteSettings, backends: Backends) -> bool:
    if not route.enabled or route.retired:
        return False
    for stage in _STAGES:
        wanted = getattr(route, stage.value)
        if wanted and not any(backends.has(name, stage) for name in wanted):
            return False
    return True


def _tier(backends: Backends, name: str) -> Tier:
    tier = backends.tier_of(name)
    return Tier.OFFLINE if tier is None else tier


def route_status(settings: Settings, backends: Backends) -> list[dict[str, object]]:
    """Every route with its price and whether it can be picked now, and why not (for status)."""
    out: list[dict[str, object]] = []
    for name, route in settings.routes.items():
        missing = [
            f"{stage.value}: {' or '.join(getattr(route, stage.value))}"
            for stage in _STAGES
            if getattr(route, stage.value)
            and not any(backends.has(n, stage) for n in getattr(route, stage.value))
        ]
        why = route.retired or ("turned off (enabled = false)" if not route.enabled else (
            f"not configured ({'; '.join(missing)})" if missing else ""))
        out.append({"route": name, "label": route.label or name, "price": route.price,
                    "mode": route.mode or settings.video.mode,
                    "available": not why, "why": why})
    return out


def available_routes(settings: Settings, backends: Backends) -> list[str]:
    return [name for name, route in settings.routes.items() if _route_ready(route, backends)]


def plan_route(settings: Settings, backends: Backends, name: str | None) -> RoutePlan:
    name = name or DEFAULT_ROUTE
    route = settings.routes.get(name)
    if route is None or not _route_ready(route, backends):
        ready = ", ".join(available_routes(settings, backends)) or "none"
        if route is not None and route.retired:
            raise RouteUnavailable(f"model {name!r} is no longer available ({route.retired}); available now: {ready}")
        why = "unknown model" if route is None else "model not available here"
        raise RouteUnavailable(f"{why} {name!r}; available now: {ready}")
    orders: dict[Stage, tuple[str, ...]] = {}
    preferred: dict[Stage, tuple[str, ...]] = {}
    floors: dict[Stage, Tier] = {}
    for stage in _STAGES:
        default = backends.default_order(stage)
        wanted = tuple(getattr(route, stage.value))
        preferred[stage] = wanted
        if not wanted:
            orders[stage] = default
            continue
        tiers = [t for t in (backends.tier_of(n) for n in wanted) if t is not None]
        floor = max(tiers) if tiers else Tier.SELF_HOSTED
        # Only providers at the preferred tier or cheaper follow: never up to a pricier tier.
        # (`tier_of` is None for an unconfigured name; SELF_HOSTED is 0, so no `or` shortcut here.)
        below = tuple(
            n for n in default
            if n not in wanted and _tier(backends, n) >= floor
        )
        orders[stage] = wanted + below
        floors[stage] = floor
    # A clip route's failed scenes become stills: those follow the same never-upward rule.
    if Stage.CLIP in floors and not preferred[Stage.IMAGE]:
        orders[Stage.IMAGE] = tuple(
            n for n in backends.default_order(Stage.IMAGE) if _tier(backends, n) >= floors[Stage.CLIP]
        )
    return RoutePlan(name, route.price, route.mode, orders, preferred)


def job_mode(settings: Settings, plan: RoutePlan, asked: Mode | None) -> Mode:
    """The job's mode: the one asked for (--mode, the chat option), else the one the route requires,
    else config.toml's [video] mode."""
    return asked or plan.mode or settings.video.mode


def charged_price(settings: Settings, plan: RoutePlan, provenance: Mapping[str, Mapping[str, int]],
                  scenes: Sequence[str] = ()) -> int:
    """The route's price when its preferred providers served its stages, else the default's.
    `scenes` are the kinds of the job's scenes ("clip", "still", "picture"): a video whose scenes
    ended as stills pays the slideshow (default) price for those, pro rata; all stills, all of it."""
    default_price = settings.routes[DEFAULT_ROUTE].price if DEFAULT_ROUTE in settings.routes else 0
    slideshow = min(plan.price, default_price)
    for stage, wanted in plan.preferred.items():
        if not wanted:
            continue
        served = provenance.get(stage.value, {})
        if not any(name in served for name in wanted):
            return slideshow
    stills = sum(kind == "still" for kind in scenes)
    if stills:
        return slideshow + (plan.price - slideshow) * (len(scenes) - stills) // len(scenes)
    return plan.price
