"""Fixtures for the agent service: the app on 127.0.0.1 (helpers in tests/support/agent_app.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.agent_app import run_agent


@pytest.fixture
def agent_factory(tmp_path: Path):  # type: ignore[no-untyped-def]
    def factory(**kw: Any):  # type: ignore[no-untyped-def]
        return run_agent(tmp_path, **kw)
    return factory
