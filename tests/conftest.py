"""Shared fixtures and the two guards every test runs under (the helpers live in tests/support/):

* the network guard: any connection outside loopback fails the test (support/network_guard.py);
* the event-loop guard: a blocking call on the running loop fails the test (support/blocking.py).
"""

from __future__ import annotations

from collections.abc import Generator, Iterator

import pytest

from tests.support import network_guard
from tests.support.blocking import blocking_guard, take_blocking_calls
from tests.support.clock import FakeClock

network_guard.install()

_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the item, so a guard at teardown can tell whether the test failed."""
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


def _already_failed(request: pytest.FixtureRequest) -> bool:
    return any(r.failed for r in request.node.stash.get(_REPORTS, {}).values())


@pytest.fixture(autouse=True)
def _network_guard() -> Iterator[None]:
    network_guard.take_violations()
    yield
    if found := network_guard.take_violations():
        pytest.fail(f"test reached outside loopback: {', '.join(found)}")


@pytest.fixture(autouse=True)
def _no_blocking_on_loop(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fails the test if our coroutines blocked the event loop."""
    take_blocking_calls()
    with blocking_guard():
        yield
    found = take_blocking_calls()
    if found and not _already_failed(request):  # a failed test already shows the error itself
        pytest.fail(f"blocking call on the event loop: {', '.join(found)}")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Backends are configured by the environment; tests start from none."""
    import os

    for var in list(os.environ):
        if var in {
            "LOCAL_AI_SERVER", "COMFYUI_SERVER", "COQUI_SERVER", "OPENAI_API_KEY", "GROQ_API_KEY",
            "HF_TOKEN", "POLLINATIONS_TOKEN", "STREAMELEMENTS_TOKEN", "REELBOT_AGENT_TOKEN",
            "DISCORD_TOKEN", "TELEGRAM_TOKEN", "TELEGRAM_API_BASE_URL",
        }:
            monkeypatch.delenv(var, raising=False)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def session():  # type: ignore[no-untyped-def]
    """One aiohttp session per test, as the runtime shares one per process."""
    import aiohttp

    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
def deps(session, tmp_path, clock):  # type: ignore[no-untyped-def]
    from providers.base import ProviderDeps

    return ProviderDeps(session=session, clock=clock, data_dir=tmp_path)
