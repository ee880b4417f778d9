"""pytest plugin: run the agent service tests (tests/agent/service) on PostgreSQL.

    REELBOT_TEST_DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/postgres \
        .venv/bin/python -m pytest -p tests.storage.pg_plugin tests/agent/service

With the plugin loaded and the variable set, every service test gets a fresh PostgreSQL database
(tests/storage/pg.py) in place of its SQLite file: the settings that `make_settings` builds name it
as `agent.database_url`, so the app, and tests that reopen the database (restart recovery), use it.
Without the variable the plugin does nothing. It is opt-in (`-p`) so the service tests' own
conftest stays untouched. A test marked `sqlite_only` (a crash simulated by copying the database
file, SQLite's single writer held or its disk filled) is skipped, with its reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.storage.pg import admin_url, fresh_database


@pytest.fixture(autouse=True)
def _service_tests_on_postgres(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    parts = request.node.path.parts
    if not admin_url() or ("agent", "service") != tuple(parts[-3:-1]):
        yield
        return
    if (marker := request.node.get_closest_marker("sqlite_only")) is not None:
        pytest.skip(f"SQLite only: {marker.kwargs.get('reason') or marker.args[0]}")
    import tests.support.agent_app as service

    real = service.settings_from_mapping
    with fresh_database() as url:
        def on_postgres(data: Any, env: Any = None, **kw: Any) -> Any:
            data = {**data, "agent": {**dict(data.get("agent", {})), "database_url": url}}
            return real(data, env, **kw)

        monkeypatch.setattr(service, "settings_from_mapping", on_postgres)
        yield
