"""Fake Ollama, ComfyUI and Coqui servers on 127.0.0.1, behaving as DOSSIER §1-3 and §7 describe.

Each fake is a small class: knobs to script its behaviour, a recorded `requests` history, and
`app()` for aiohttp. `serve(fake)` runs it on a free loopback port and yields its base URL.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from tests.providers.fake_servers.comfyui import FakeComfy
from tests.providers.fake_servers.coqui import FakeCoqui
from tests.providers.fake_servers.echo import EchoAuth
from tests.providers.fake_servers.ollama import FakeOllama

__all__ = ["FakeOllama", "FakeComfy", "FakeCoqui", "EchoAuth", "serve"]


@contextlib.asynccontextmanager
async def serve(fake: object) -> AsyncIterator[str]:
    runner = web.AppRunner(fake.app(), shutdown_timeout=0.1)  # type: ignore[attr-defined]
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
