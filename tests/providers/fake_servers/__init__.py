"""Fake Ollama, ComfyUI and Coqui servers on 127.0.0.1, behaving as DOSSIER §1-3 and §7 describe.

Each fake is a small class: knobs to script its behaviour, a recorded `requests` history, and
`app()` for aiohttp. `serve(fake)` (tests/support/servers.py) runs it on a free loopback port and
yields its base URL.
"""

from __future__ import annotations

from tests.providers.fake_servers.comfyui import FakeComfy
from tests.providers.fake_servers.coqui import FakeCoqui
from tests.providers.fake_servers.echo import EchoAuth
from tests.providers.fake_servers.ollama import FakeOllama
from tests.support.servers import serve

__all__ = ["FakeOllama", "FakeComfy", "FakeCoqui", "EchoAuth", "serve"]
