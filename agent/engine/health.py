"""Provider health: who is cooling down, why, and since when.

One `HealthBoard` per process (the agent owns it; `reelbot make` makes its own), keyed by
(provider, stage) so a DALL-E refusal does not stop OpenAI writing scripts. The policy follows
litellm's: no cooldown for a lone first outage, auth and payment failures cool down at once, a rate
limit cools down for as long as the backend asked. Bad output is per item, so only a run of them
cools a provider down.

Transitions are logged once (going down, coming back), not on every failure.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from agent.settings import CascadeSettings
from providers.base import Clock
from providers.errors import (
    AuthFailed,
    BadOutput,
    Misconfigured,
    PaymentRequired,
    ProviderError,
    RateLimited,
)

__all__ = ["HealthBoard", "ProviderHealth"]

log = logging.getLogger(__name__)


@dataclass
class ProviderHealth:
    provider: str
    stage: str
    consecutive_failures: int = 0
    consecutive_bad_outputs: int = 0
    cooldown_until: float = 0.0
    cooldown_reason: str = ""
    last_error: str = ""
    last_error_kind: str = ""
    last_error_at: float | None = None
    last_success_at: float | None = None
    hint: str = ""  # what an operator should do (Misconfigured)

    def cooling(self, now: float) -> bool:
        return now < self.cooldown_until

    def remaining_s(self, now: float) -> float:
        return max(0.0, self.cooldown_until - now)


class HealthBoard:
    def __init__(self, policy: CascadeSettings, clock: Clock) -> None:
        self._policy = policy
        self._clock = clock
        self._entries: dict[tuple[str, str], ProviderHealth] = {}

    def get(self, provider: str, stage: str) -> ProviderHealth:
        key = (provider, stage)
        if key not in self._entries:
            self._entries[key] = ProviderHealth(provider, stage)
        return self._entries[key]

    def entries(self) -> list[ProviderHealth]:
        return list(self._entries.values())

    def for_provider(self, provider: str) -> list[ProviderHealth]:
        return [h for h in self._entries.values() if h.provider == provider]

    def is_cooling(self, provider: str, stage: str) -> bool:
        return self.get(provider, stage).cooling(self._clock())

    def record_success(self, provider: str, stage: str) -> None:
        h = self.get(provider, stage)
        now = self._clock()
        if h.consecutive_failures or h.cooldown_reason:
            log.info("provider %s (%s) recovered", provider, stage)
        h.consecutive_failures = 0
        h.consecutive_bad_outputs = 0
        h.cooldown_until = 0.0
        h.cooldown_reason = ""
        h.hint = ""
        h.last_success_at = now

    def record_failure(self, provider: str, stage: str, error: ProviderError) -> float:
        """Account for a failure; returns the cooldown it started (0 for none)."""
        p = self._policy
        h = self.get(provider, stage)
        now = self._clock()
        h.last_error = error.message
        h.last_error_kind = error.kind
        h.last_error_at = now
        cooldown = 0.0
        if isinstance(error, BadOutput):
            h.consecutive_bad_outputs += 1
            if h.consecutive_bad_outputs >= p.bad_outputs_before_cooldown:
                cooldown = p.bad_output_cooldown_s
        elif isinstance(error, PaymentRequired):
            cooldown = p.payment_cooldown_s
        elif isinstance(error, AuthFailed):
            cooldown = p.auth_cooldown_s
        elif isinstance(error, Misconfigured):
            cooldown = p.misconfigured_cooldown_s
            h.hint = error.hint
        elif isinstance(error, RateLimited):
            cooldown = error.retry_after_s if error.retry_after_s else p.rate_limited_cooldown_s
        else:  # Unavailable and anything unclassified
            h.consecutive_failures += 1
            extra = h.consecutive_failures - p.failures_before_cooldown
            if extra >= 0:
                cooldown = min(p.max_cooldown_s, p.unavailable_cooldown_s * (2**extra))
        if cooldown > 0:
            if not h.cooling(now):
                log.warning(
                    "provider %s (%s) cooling down %.0fs: %s: %s",
                    provider, stage, cooldown, error.kind, error.message,
                )
            h.cooldown_until = max(h.cooldown_until, now + cooldown)
            h.cooldown_reason = error.kind
        return cooldown
