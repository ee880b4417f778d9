"""Which providers can serve a stage on their backend as it is now: checked before the stage, not per item.

A provider may offer `async unusable_now() -> str`: why it cannot serve on its server ("ComfyUI lacks
AnimateDiff-Evolved"), or "" when it may (or when it cannot tell: the cascade then decides). ComfyUI
checks its workflows' node classes and model files against /object_info and keeps the answer a few
minutes. A stage leaves an unusable provider out of its cascade entirely, so a missing node pack
costs no failed call per scene; the reason is what a user is told when their scenes became stills.
The agent and `reelbot make` also run the check once at start-up, for the log.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TypeVar

from providers.base import Provider

__all__ = ["usable", "why_unusable", "log_unusable"]

log = logging.getLogger(__name__)

P = TypeVar("P", bound=Provider)


async def why_unusable(provider: Provider) -> str:
    check = getattr(provider, "unusable_now", None)
    if check is None:
        return ""
    reason = await check()
    return reason if isinstance(reason, str) else ""


async def usable(providers: Sequence[P], job_id: str, stage: str) -> tuple[list[P], str]:
    """The providers that may serve `stage`, and why the others may not ("" when all may)."""
    reasons = await asyncio.gather(*(why_unusable(p) for p in providers))
    kept: list[P] = []
    why: list[str] = []
    for provider, reason in zip(providers, reasons, strict=True):
        if reason:
            log.warning("job %s: %s is not tried for the %s stage: %s", job_id, provider.name, stage, reason)
            why.append(reason)
        else:
            kept.append(provider)
    return kept, "; ".join(dict.fromkeys(why))


async def log_unusable(providers: Sequence[Provider]) -> None:
    """At start-up: say in the log which provider cannot serve which stage, and why."""
    reasons = await asyncio.gather(*(why_unusable(p) for p in providers))
    for provider, reason in zip(providers, reasons, strict=True):
        if reason:
            stages = ", ".join(sorted(s.value for s in provider.stages))
            log.warning("%s cannot serve %s on its server: %s (see `reelbot status`)", provider.name, stages, reason)
