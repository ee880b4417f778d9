"""Fixtures for the cloud provider tests: a started fake server, a shared session, deps."""

from __future__ import annotations

import aiohttp
import pytest

from providers.base import ProviderDeps, StageContext
from tests.providers.cloud.cloud_fakes import FakeCloud


@pytest.fixture
async def cloud():
    fake = FakeCloud()
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
def deps(session, clock, tmp_path):
    return ProviderDeps(session=session, clock=clock, data_dir=tmp_path)


@pytest.fixture
def ctx():
    reports: list[tuple[float, str]] = []
    c = StageContext(job_id="job-t", report=lambda f, m: reports.append((f, m)))
    c.reports = reports  # type: ignore[attr-defined]
    return c


@pytest.fixture(scope="session")
def clip_mp4() -> bytes:
    """A real 320x568, 1 s MP4 (made once, outside any event loop): clip makers measure what they get."""
    from tests.providers.cloud.cloud_fakes import real_mp4_bytes

    return real_mp4_bytes(320, 568, 1.0)
