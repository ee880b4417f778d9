"""The CLI's progress display: one consumer of the pipeline's ProgressEvents.

On a terminal it keeps one live line; elsewhere (CI, pipes) it prints a line when something
changes: a new stage, an item done, every tenth of the render.
"""

from __future__ import annotations

import time
from typing import TextIO

from agent.engine.events import ProgressEvent

__all__ = ["ProgressPrinter"]

LABELS = {"script": "✍️  script", "image": "🎨 images", "clip": "🎥 clips", "voice": "🗣  voice",
          "render": "🎞  render", "done": "✅ done"}


class ProgressPrinter:
    def __init__(self, stream: TextIO, *, topic: str = "") -> None:
        self._out = stream
        self._live = bool(getattr(stream, "isatty", lambda: False)())
        self._last_key: tuple[object, ...] | None = None
        self._started = time.monotonic()
        self._width = 0
        if topic:
            stream.write(f'🎬 "{topic}"\n')

    def __call__(self, event: ProgressEvent) -> None:
        label = LABELS.get(event.stage, event.stage)
        if event.stage == "render":
            detail = f"{event.done}%"
            key: tuple[object, ...] = (event.stage, event.done // 10, event.stage_done)
        elif event.stage == "done":
            detail = ""
            key = (event.stage,)
        else:
            detail = f"{event.done}/{event.total}" if event.total > 1 else ("✔" if event.stage_done else "…")
            key = (event.stage, event.done, event.stage_done)
        who = f" ({event.provider})" if event.provider else ""
        line = f"{label} {detail}{who}  [{event.fraction * 100:3.0f}% · {time.monotonic() - self._started:4.0f}s]"
        if self._live:
            pad = max(0, self._width - len(line))
            self._out.write("\r" + line + " " * pad)
            self._width = len(line)
            if event.stage_done:
                self._out.write("\n")
                self._width = 0
            self._out.flush()
        elif key != self._last_key:
            self._out.write(line + "\n")
            self._out.flush()
        self._last_key = key

    def close(self) -> None:
        if self._live and self._width:
            self._out.write("\n")
            self._out.flush()
