"""Scenes handed to a render that has already started: the renderer encodes scene k while k+1 is drawn.

The pipeline knows every scene's narration (and so the timeline) before any picture exists. It starts
the render with a `SceneFeed` and `put`s each scene's still or clip as the image stage finishes it;
the render worker thread `wait`s for a scene only when the timeline reaches it (a crossfade needs the
next scene a little early). Scenes may arrive in any order.

Thread-safety: `put`/`fail` are called on the event loop, `wait` on the render thread. `wait` checks
the render's abort flag while it waits, so a cancelled job never leaves a render thread blocked.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from pathlib import Path

from agent.engine.render.errors import InputError

__all__ = ["SceneFeed", "SceneVisual", "FeedFailed"]

WAIT_SLICE_S = 0.1  # how often a waiting render thread looks at its abort flag


class FeedFailed(InputError):
    """The stage that was to supply a scene failed; the render stops."""


@dataclass(frozen=True)
class SceneVisual:
    image: Path | None = None
    clip: Path | None = None


class SceneFeed:
    """Visuals for `count` scenes, filled in as they are made."""

    def __init__(self, count: int) -> None:
        self.count = count
        self._visuals: dict[int, SceneVisual] = {}
        self._failure: str | None = None
        self._cond = threading.Condition()
        self.complete = asyncio.Event()  # set (on the loop) once every scene is in

    def put(self, index: int, *, image: Path | None = None, clip: Path | None = None) -> None:
        """Scene `index`'s still and/or clip is ready (called on the event loop)."""
        if image is None and clip is None:
            raise ValueError(f"scene {index} needs a still or a clip")
        with self._cond:
            self._visuals[index] = SceneVisual(image, clip)
            done = len(self._visuals) >= self.count
            self._cond.notify_all()
        if done:
            self.complete.set()

    def fail(self, reason: str) -> None:
        """No more scenes will come: a waiting render raises FeedFailed."""
        with self._cond:
            self._failure = reason
            self._cond.notify_all()

    def ready(self, index: int) -> bool:
        with self._cond:
            return index in self._visuals

    def arrived(self, index: int) -> SceneVisual:
        """Scene `index`'s visuals; KeyError when it has not arrived."""
        with self._cond:
            return self._visuals[index]

    def wait(self, index: int, aborted: threading.Event) -> SceneVisual:
        """Block (on the render thread) until scene `index` is in; returns at once on abort."""
        with self._cond:
            while index not in self._visuals:
                if self._failure is not None:
                    raise FeedFailed(f"scene {index + 1} will not come: {self._failure}")
                if aborted.is_set():
                    return SceneVisual()  # the caller's abort check unwinds the render
                self._cond.wait(WAIT_SLICE_S)
            return self._visuals[index]
