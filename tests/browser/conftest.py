"""Browser tests: the operator console in real headless Chromium, driven by Playwright.

Playwright drives the system's Chromium (Debian's `chromium` package; `REELBOT_CHROMIUM` names
another binary); it never downloads a browser. Without Chromium every test here is skipped with
that reason (`make test` then says so in one line; .ci/run installs it). Screenshots go to
`out/test-artifacts/console/` (or `REELBOT_TEST_ARTIFACTS`), kept after the run.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def chromium_path() -> str | None:
    named = os.environ.get("REELBOT_CHROMIUM")
    if named:
        return named if Path(named).is_file() else None
    return next((found for name in ("chromium", "chromium-browser") if (found := shutil.which(name))), None)


CHROMIUM = chromium_path()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if CHROMIUM is not None:
        return
    skip = pytest.mark.skip(reason="no Chromium here (install Debian's `chromium`, or set REELBOT_CHROMIUM)")
    for item in items:
        if item.path.is_relative_to(Path(__file__).parent):
            item.add_marker(skip)


@pytest.fixture
def artifacts() -> Path:
    out = Path(os.environ.get("REELBOT_TEST_ARTIFACTS", ROOT / "out" / "test-artifacts")) / "console"
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    from playwright.async_api import async_playwright

    assert CHROMIUM is not None
    async with async_playwright() as pw:
        # Playwright's own flags already turn off background networking, sync and updates
        launched = await pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                            args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            yield launched
        finally:
            await launched.close()
