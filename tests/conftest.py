"""Shared fixtures. Two guards run around every test:

* the network guard: any connection outside loopback fails the test. It patches
  `socket.connect`/`connect_ex` (which asyncio and aiohttp use underneath) and `getaddrinfo`. The
  offending call raises, and because code under test may swallow that as an outage, the attempt is
  also recorded and the test fails at teardown;
* the bug guard: a programming error inside a provider (`agent.bugs`) does not stop a job in
  production, it is logged as a bug and the cascade moves on. Here it fails the test during which
  it was logged, so a provider that forgot a method or indexes an unchecked shape is found by the
  suite. A test that means to provoke one asks for the `bugs` fixture (and asserts on it).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Iterator

import pytest

from agent.bugs import BUG_LOGGER

_violations: list[str] = []


class OutsideConnection(ConnectionRefusedError):
    """A test tried to reach beyond 127.0.0.1."""


def _is_loopback(host: object) -> bool:
    if not isinstance(host, str):
        return False
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _check(address: object) -> None:
    if isinstance(address, (str, bytes)):  # AF_UNIX path
        return
    host = address[0] if isinstance(address, tuple) and address else address
    if not _is_loopback(host):
        _violations.append(repr(address))
        raise OutsideConnection(f"test tried to connect outside loopback: {address!r}")


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


def _guarded_connect(self: socket.socket, address: object) -> None:
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _check(address)
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _check(address)
    return _real_connect_ex(self, address)


def _guarded_getaddrinfo(host, *args, **kwargs):  # type: ignore[no-untyped-def]
    if host is not None:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if not _is_loopback(name):
            _violations.append(f"getaddrinfo({name!r})")
            raise OutsideConnection(f"test tried to resolve a non-loopback host: {name!r}")
    return _real_getaddrinfo(host, *args, **kwargs)


socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
socket.getaddrinfo = _guarded_getaddrinfo


@pytest.fixture(autouse=True)
def _network_guard():  # type: ignore[no-untyped-def]
    _violations.clear()
    yield
    if _violations:
        found = ", ".join(_violations)
        _violations.clear()
        pytest.fail(f"test reached outside loopback: {found}")


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


class FakeClock:
    """A monotonic clock tests move by hand."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


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
