"""A throwaway PostgreSQL database per test, when REELBOT_TEST_DATABASE_URL names a server.

    REELBOT_TEST_DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/postgres

The URL names an existing database that is only used to CREATE and DROP one fresh database per
test (`reelbot_test_<random>`), so tests never see each other's rows and the suite leaves nothing
behind. Without the variable the PostgreSQL cases are skipped and only SQLite runs.

The admin work runs on its own thread with its own event loop: it never touches the test's loop,
so both sync and async fixtures can use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import threading
from collections.abc import Iterator
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

ENV = "REELBOT_TEST_DATABASE_URL"


def admin_url() -> str | None:
    return os.environ.get(ENV) or None


def _in_thread(coro_fn: Any) -> Any:
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = asyncio.run(coro_fn())
        except BaseException as exc:  # noqa: BLE001 - handed back to the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=run, name="pg-admin")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")


async def _admin(url: str, *statements: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT", pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


@contextlib.contextmanager
def fresh_database(base: str | None = None) -> Iterator[str]:
    """CREATE a new empty database on the server `base` names; yield its URL; DROP it after."""
    base = base or admin_url()
    if not base:
        raise RuntimeError(f"{ENV} is not set")
    name = f"reelbot_test_{secrets.token_hex(6)}"
    _in_thread(lambda: _admin(base, f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        # WITH (FORCE): a connection a failed test left open must not keep the database alive
        _in_thread(lambda: _admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
