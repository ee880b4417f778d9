"""The per-stage cascade: try providers in order until one serves a valid result.

For one item (the script, or one scene's image or voice) the cascade walks the stage's ordered
providers, skipping those cooling down, calling each under the stage's timeout and validating what
it returns. Every attempt, skip included, is recorded. Failures are classified by type and fed to
the `HealthBoard`, which decides cooldowns. What a provider raises outside the error tree is one of:

* a programming error (`agent.engine.bugs.PROGRAMMING_ERRORS`: `AttributeError`, `TypeError`, `KeyError`...):
  a bug in our code, logged as such (`reelbot.bugs`, with the traceback, job id, provider and stage)
  and recorded as a `bug` attempt; the test suite fails on it;
* anything else (`ValueError`, `OSError`...): a backend shape or an environment we did not expect,
  logged with its traceback and counted as bad output.

Either way the cascade moves on to the next provider: one broken client cannot take a job down.

`asyncio.CancelledError` is never caught here: cancelling a job cancels the provider call.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from agent.engine.bugs import PROGRAMMING_ERRORS, log_bug
from agent.engine.health import HealthBoard
from providers.base import Clock, Provider, Stage, Tier
from providers.errors import (
    AllProvidersFailed,
    AuthFailed,
    BadOutput,
    Misconfigured,
    ModelRetired,
    PaymentRequired,
    ProviderBug,
    ProviderError,
    RateLimited,
    Unavailable,
)
from providers.scrub import scrub

__all__ = ["Attempt", "Outcome", "Served", "Cascade"]

log = logging.getLogger(__name__)

T = TypeVar("T")
P = TypeVar("P", bound=Provider)


class Outcome(enum.StrEnum):
    """How one attempt ended. The failures are the error tree's kinds (providers.errors), so the
    stored attempt rows and the job JSON keep the strings they always had."""

    OK = "ok"  # served, and the output passed validation
    SKIPPED = "skipped"  # not called: the provider is cooling down
    UNAVAILABLE = Unavailable.kind  # down, timed out, 5xx
    RATE_LIMITED = RateLimited.kind
    AUTH_FAILED = AuthFailed.kind
    PAYMENT_REQUIRED = PaymentRequired.kind
    MISCONFIGURED = Misconfigured.kind
    MODEL_RETIRED = ModelRetired.kind  # the service shut the configured model down: set another one
    BAD_OUTPUT = BadOutput.kind  # answered, but unusable (or our client met a shape it did not expect)
    BUG = ProviderBug.kind  # a programming error escaped the provider (agent.engine.bugs): logged as a bug
    ERROR = ProviderError.kind  # a ProviderError of no finer kind

    @classmethod
    def of(cls, error: ProviderError) -> Outcome:
        """The outcome for a failure; a kind added to the tree without a member here reads as ERROR
        (tests/agent/engine/test_cascade.py checks that every kind has one)."""
        try:
            return cls(error.kind)
        except ValueError:
            return cls.ERROR


@dataclass(frozen=True)
class Attempt:
    """One try of one provider for one item."""

    job_id: str
    stage: str
    item: str
    provider: str
    tier: str
    outcome: Outcome
    message: str
    started_at: float
    elapsed_s: float

    def to_json(self) -> dict[str, object]:
        return {
            "stage": self.stage,
            "item": self.item,
            "provider": self.provider,
            "tier": self.tier,
            "outcome": self.outcome,
            "message": self.message,
            "elapsed_s": round(self.elapsed_s, 3),
        }


@dataclass(frozen=True)
class Served(Generic[T]):
    value: T
    provider: str
    tier: Tier


class Cascade(Generic[P]):
    """Runs one stage's items through its ordered providers (typed by the stage's protocol, e.g.
    `Cascade[VoiceMaker]`). One per (job, stage)."""

    def __init__(
        self,
        *,
        stage: Stage,
        providers: Sequence[P],
        health: HealthBoard,
        clock: Clock,
        timeout_s: float,
        job_id: str,
        record: Callable[[Attempt], None],
        secrets: Sequence[str] = (),
    ) -> None:
        self.stage = stage
        self.providers: list[P] = list(providers)
        self._health = health
        self._clock = clock
        self._timeout_s = timeout_s
        self._job_id = job_id
        self._record = record
        self._secrets = tuple(secrets)

    async def run(
        self,
        item: str,
        call: Callable[[P], Awaitable[T]],
        validate: Callable[[T], Awaitable[None]] | None = None,
    ) -> Served[T]:
        """Serve `item`: the first provider whose `call` returns a value that `validate` accepts."""
        attempts: list[Attempt] = []
        stage = self.stage.value
        for provider in self.providers:
            name, tier = provider.name, provider.tier
            started = self._clock()
            health = self._health.get(name, stage)
            if health.cooling(started):
                attempt = self._attempt(
                    item, name, tier, Outcome.SKIPPED,
                    f"cooling down {health.remaining_s(started):.0f}s after {health.cooldown_reason}",
                    started,
                )
                attempts.append(attempt)
                continue
            where = "the call"  # or "validation": a bug there is ours too, but not the provider's
            try:
                async with asyncio.timeout(self._timeout_s):
                    value = await call(provider)
                    if validate is not None:
                        where = "validation"
                        await validate(value)
            except ProviderError as exc:
                error = exc
            except TimeoutError:
                error = Unavailable(f"timed out after {self._timeout_s:.0f}s", provider=name)
            except PROGRAMMING_ERRORS as exc:
                # A bug, not an outage: loud in the log (and fatal in tests), but the job goes on.
                log_bug(exc, job_id=self._job_id, provider=name, stage=stage, where=f"{where} for {item}")
                error = ProviderBug(f"programming error in {where}: {type(exc).__name__}: {exc}", provider=name)
            except Exception as exc:  # noqa: BLE001 - an unexpected shape must not sink the job
                log.exception("job %s: %s %s raised unexpectedly on %s", self._job_id, name, stage, item)
                error = BadOutput(f"unexpected {type(exc).__name__}: {exc}", provider=name)
            else:
                self._health.record_success(name, stage)
                attempts.append(self._attempt(item, name, tier, Outcome.OK, "", started))
                return Served(value, name, tier)
            error.provider = error.provider or name
            message = scrub(error.message, self._secrets)
            error.message = message
            self._health.record_failure(name, stage, error)
            attempts.append(self._attempt(item, name, tier, Outcome.of(error), message, started))
            log.warning(
                "job %s: %s for %s failed on %s: %s: %s",
                self._job_id, stage, item, name, error.kind, message,
            )
        raise AllProvidersFailed(stage, item, attempts)

    def _attempt(
        self, item: str, name: str, tier: Tier, outcome: Outcome, message: str, started: float
    ) -> Attempt:
        attempt = Attempt(
            job_id=self._job_id,
            stage=self.stage.value,
            item=item,
            provider=name,
            tier=tier.label,
            outcome=outcome,
            message=message,
            started_at=started,
            elapsed_s=max(0.0, self._clock() - started),
        )
        self._record(attempt)
        return attempt
