"""Shared fixtures and the guards every test runs under (the helpers live in tests/support/):

* the network guard: any connection outside loopback fails the test (support/network_guard.py);
* the event-loop guard: a blocking call on the running loop fails the test (support/blocking.py);
* the bug guard: a programming error inside a provider (`agent.engine.bugs`) does not stop a job in
  production, it is logged as a bug and the cascade moves on. Here it fails the test during which
  it was logged, so a provider that forgot a method or indexes an unchecked shape is found by the
  suite. A test that means to provoke one asks for the `bugs` fixture (and asserts on it).
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Generator, Iterator

import pytest

from agent.engine.bugs import BUG_LOGGER
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
    if call.excinfo is not None and not call.excinfo.errisinstance(pytest.skip.Exception):
        # Finalize what the failed phase left behind (unclosed sessions, unawaited coroutines) now:
        # if the collector ran while pytest parses source for the report, a finalizer's warning
        # would be formatted with a nested ast.parse, which CPython 3.11.7 rejects ("AST
        # constructor recursion depth mismatch") and pytest stops with an INTERNALERROR.
        gc.collect()
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
def _root_logging_restored() -> Iterator[None]:
    """Entry points run in-process (`main([...])`) call `configure_logging`, which installs a stream
    handler with the secret filter on the root logger; it must not outlive the test (its stream is
    the test's captured stderr, and its filter rewrites records later tests inspect)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


class _BugRecords(logging.Handler):
    """Keeps the records logged as bugs while one test runs."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []
        self.expected = False

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "reelbot_bug", False):
            self.records.append(record)


@pytest.fixture(autouse=True)
def _bug_guard() -> Iterator[_BugRecords]:
    # On the bug logger itself: entry points (`configure_logging`) replace the root's handlers.
    handler = _BugRecords()
    logger = logging.getLogger(BUG_LOGGER)
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
    if handler.records and not handler.expected:
        formatter = logging.Formatter()
        found = "\n".join(formatter.format(r) for r in handler.records)
        pytest.fail(f"a provider raised a programming error (logged as a bug):\n{found}", pytrace=False)


@pytest.fixture
def bugs(_bug_guard: _BugRecords) -> list[logging.LogRecord]:
    """For a test that provokes a bug on purpose: the bug records logged so far (the guard then
    leaves the test alone; the test asserts on them)."""
    _bug_guard.expected = True
    return _bug_guard.records


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
