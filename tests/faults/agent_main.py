"""A real agent process for the fault tests: `create_app` from a config file, served by run_app on
127.0.0.1, with fast fake providers and renderer instead of the offline tier (a real render takes
most of a minute on two cores). The script stage waits while a gate file exists, so a test can hold
jobs across process boundaries.

    python -m tests.faults.agent_main --config FILE --port N --gate FILE
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path

from aiohttp import web

from agent.service.app import create_app
from agent.engine.backends import Backends
from agent.settings import load_settings
from providers.base import Stage, Tier
from tests.fakes import FakeProvider, FakeRenderer

ORDERS = {Stage.SCRIPT: ("offline",), Stage.IMAGE: ("offline",), Stage.CLIP: (), Stage.VOICE: ("offline",)}


class FileGatedProvider(FakeProvider):
    def __init__(self, gate: Path) -> None:
        super().__init__("offline", Tier.OFFLINE)
        self.gate = gate
        self.scene_count = 4

    async def write_script(self, request, ctx):  # type: ignore[no-untyped-def]
        # the gate is a file the test process removes: polling it is the only signal across processes
        while await asyncio.to_thread(self.gate.exists):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        return await super().write_script(request, ctx)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--config", type=Path, required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--gate", type=Path, required=True)
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = load_settings(args.config)
    backends = Backends([FileGatedProvider(args.gate)], dict(ORDERS))
    app = create_app(settings, backends=backends, renderer=FakeRenderer())
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
