"""The error tree every provider raises, classified at the provider edge.

The cascade decides cooldowns from the *type*; the chat front-ends decide the wording. A provider
never returns an error string: it raises one of these.

    ProviderError                 any failure of one provider on one call
    ├── Unavailable               cannot reach it, it timed out, or it answered 5xx
    ├── RateLimited               429 or a queue-full answer; carries retry_after_s
    ├── AuthFailed                401/403: the key or token is wrong or missing
    │   └── PaymentRequired       402 / credits exhausted: nothing will work until someone pays
    ├── Misconfigured             an operator error on the backend: missing model, unknown checkpoint,
    │   │                         workflow rejected. Carries a hint that says how to fix it.
    │   └── ModelRetired          the service says the configured model is shut down for good
    │                             ("model_decommissioned"); never called again until the config changes
    └── BadOutput                 it answered, but the result failed validation (unparseable script,
        │                         placeholder image, silent audio, content-policy refusal)
        └── ProviderBug           raised by the cascade (not by a provider) in place of a programming
                                  error that escaped a provider (agent.engine.bugs): counted like bad output

    AllProvidersFailed            raised by the cascade (not by a provider) when every provider of a
                                  stage failed for one item; carries the attempts.

`asyncio.CancelledError` is never wrapped: it passes straight through every layer.

Error messages may be shown to operators; `scrub()` (the one scrubber, `providers.scrub`, re-exported
here) removes secrets from them before they are stored or logged.
"""

from __future__ import annotations

from providers.scrub import scrub

__all__ = [
    "ProviderError",
    "Unavailable",
    "RateLimited",
    "AuthFailed",
    "PaymentRequired",
    "Misconfigured",
    "ModelRetired",
    "BadOutput",
    "ProviderBug",
    "AllProvidersFailed",
    "scrub",
]


class ProviderError(Exception):
    """A provider failed one call. `provider` names it; `message` is safe to show an operator."""

    kind = "error"

    def __init__(self, message: str, *, provider: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.status = status

    def __str__(self) -> str:
        return f"{self.provider}: {self.message}" if self.provider else self.message


class Unavailable(ProviderError):
    """Connection refused or dropped, a timeout, or a 5xx answer: the backend is down or sick."""

    kind = "unavailable"


class RateLimited(ProviderError):
    """The backend asked us to slow down (429, queue full). `retry_after_s` when it said how long."""

    kind = "rate_limited"

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        status: int | None = 429,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message, provider=provider, status=status)
        self.retry_after_s = retry_after_s


class AuthFailed(ProviderError):
    """The credentials were refused (401/403). Retrying will not help until an operator acts."""

    kind = "auth_failed"


class PaymentRequired(AuthFailed):
    """Out of paid credits (402, "credits exceeded"). A long cooldown, shown in status."""

    kind = "payment_required"


class Misconfigured(ProviderError):
    """The backend is up but set up wrongly for our request; `hint` tells the operator the fix."""

    kind = "misconfigured"

    def __init__(
        self, message: str, *, provider: str = "", status: int | None = None, hint: str = ""
    ) -> None:
        super().__init__(message, provider=provider, status=status)
        self.hint = hint


class ModelRetired(Misconfigured):
    """The service shut the configured model down (Groq's `model_decommissioned`, OpenAI's past
    shutdown date). Retrying is useless until an operator names another model: the provider keeps
    a note (`providers.lifecycle`) and refuses the model without calling until the config changes."""

    kind = "model_retired"

    def __init__(
        self, message: str, *, provider: str = "", status: int | None = None, hint: str = "", model: str = ""
    ) -> None:
        super().__init__(message, provider=provider, status=status, hint=hint)
        self.model = model


class BadOutput(ProviderError):
    """The backend answered but the result is unusable for this item. Not an outage."""

    kind = "bad_output"


class ProviderBug(BadOutput):
    """A programming error escaped the provider (a missing method, a `KeyError`...). The cascade
    logs it as a bug and records this in the attempt; like bad output, only a run of them cools the
    provider down."""

    kind = "bug"


class AllProvidersFailed(Exception):
    """Every provider of a stage failed for one item. `attempts` says who failed and why."""

    def __init__(self, stage: str, item: str, attempts: list) -> None:  # list[Attempt]
        self.stage = stage
        self.item = item
        self.attempts = attempts
        tried = ", ".join(f"{a.provider} ({a.outcome})" for a in attempts) or "none configured"
        super().__init__(f"every {stage} provider failed for {item}: {tried}")
