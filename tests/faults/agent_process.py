"""A real agent process for fault tests: what `reelbot agent` serves, rendering at a small size.

    python -m tests.faults.agent_process CONFIG PORT

The app is `agent.service.app.create_app` with the real runtime (the real providers, the offline tier's
eSpeak child process included) and the real renderer; only the frame size is cut to 144x256 so a
test renders a video in seconds. Logs go to stderr as `reelbot agent` logs them.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the eSpeak child imports this module as its main: keep it light
    from agent.engine.render.spec import RenderResult, RenderSpec

SMALL = (144, 256)


async def small_render(spec: RenderSpec, on_progress: Callable[[float], None] | None = None) -> RenderResult:
    from agent.engine import render

    width, height = SMALL if spec.height >= spec.width else SMALL[::-1]
    return await render.render(dataclasses.replace(spec, width=width, height=height, fps=10), on_progress)


def main(argv: list[str]) -> int:
    from aiohttp import web

    from agent.service.app import create_app
    from agent.settings import load_settings
    from reelbot.logs import configure_logging

    settings = load_settings(Path(argv[0]))
    configure_logging(logging.INFO, settings.secrets())
    web.run_app(create_app(settings, renderer=small_render), host="127.0.0.1", port=int(argv[1]), print=None,
                access_log=None)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
