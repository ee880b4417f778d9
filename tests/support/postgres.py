"""A real PostgreSQL for the distributed mode's tests: pgserver starts PostgreSQL 16 in a temp dir
(a wheel, no apt step), once per session; each test gets a database of its own.

    pg_server (session fixture)   the running server; skips its tests in ONE line when it cannot start
    pg_url    (fixture)           postgresql+asyncpg://... of a fresh, empty database
    tcp_url(url, port)            the same database through a TCP port (tests.support.pgproxy)
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

__all__ = ["pg_server", "pg_url", "socket_dir", "create_database"]

_names = itertools.count(1)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Any]:
    try:
        with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
            warnings.simplefilter("ignore")
            import pgserver
    except ImportError:
        pytest.skip("distributed-mode tests skipped: pgserver is not installed (pip install -e '.[test]')")
    root = tempfile.mkdtemp(prefix="reelbot-pg-")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            server = pgserver.get_server(root, cleanup_mode="stop")
    except Exception as exc:  # noqa: BLE001 - any reason it cannot start is a missing precondition
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"distributed-mode tests skipped: PostgreSQL (pgserver) did not start here: {exc}")
    try:
        yield server
    finally:
        server.cleanup()
        shutil.rmtree(root, ignore_errors=True)


def socket_dir(server: Any) -> str:
    return parse_qs(urlparse(server.get_uri()).query)["host"][0]


def create_database(server: Any) -> str:
    """A fresh database on the server; its SQLAlchemy URL (asyncpg, over the unix socket)."""
    name = f"t{os.getpid()}_{next(_names)}"
    server.psql(f"CREATE DATABASE {name};")
    return f"postgresql+asyncpg://postgres@/{name}?host={socket_dir(server)}"


@pytest.fixture
def pg_url(pg_server: Any) -> str:
    return create_database(pg_server)
