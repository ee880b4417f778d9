"""`db_url`: every storage test runs on a SQLite file and, when REELBOT_TEST_DATABASE_URL is set,
on a fresh PostgreSQL database as well (see tests/storage/pg.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.storage.pg import ENV, admin_url, fresh_database


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/storage.db"
        return
    if not admin_url():
        pytest.skip(f"PostgreSQL: set {ENV}=postgresql+asyncpg://user@127.0.0.1:5432/postgres")
    with fresh_database() as url:
        yield url
