"""The network guard: any connection outside loopback fails the test.

`install()` patches `socket.connect`/`connect_ex` (which asyncio and aiohttp use underneath) and
`getaddrinfo`. The offending call raises, and because code under test may swallow that as an
outage, the attempt is also recorded; the autouse fixture in tests/conftest.py fails the test at
teardown when `take_violations()` returns any.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

__all__ = ["OutsideConnection", "install", "take_violations"]

_violations: list[str] = []


class OutsideConnection(ConnectionRefusedError):
    """A test tried to reach beyond 127.0.0.1."""


def take_violations() -> list[str]:
    """The attempts recorded since the last take, oldest first."""
    found = list(_violations)
    _violations.clear()
    return found


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


def _guarded_connect(self: socket.socket, address: Any) -> None:
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _check(address)
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
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


def install() -> None:
    """Patch the socket module for the rest of the process."""
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = _guarded_getaddrinfo
