"""The offline image maker: a designed title slide per scene, drawn by `providers.offline.art`.

The drawing module (Pillow and numpy) is imported in a worker thread the first time it is needed, so
listing, configuring or probing the offline provider costs neither, and the first scene drawn does
not stall the event loop on the import.
"""

from __future__ import annotations

import asyncio
import importlib
from typing import TYPE_CHECKING, Any, ClassVar

from providers.base import ImageRequest, ImageResult, Stage, StageContext
from providers.offline.base import OfflineBase

if TYPE_CHECKING:
    from types import ModuleType

__all__ = ["OfflineImageMaker"]


def _art() -> ModuleType:
    return importlib.import_module("providers.offline.art")


class OfflineImageMaker(OfflineBase):
    """Draws a title-slide still per scene. Always available, never calls out."""

    stages: ClassVar[frozenset[Stage]] = frozenset({Stage.IMAGE})

    async def probe(self) -> dict[str, Any]:
        art = await asyncio.to_thread(_art)
        return {"pillow": art.Image.__version__, "motifs": len(art.MOTIFS)}

    async def make_image(self, request: ImageRequest, ctx: StageContext) -> ImageResult:
        path = request.out_dir / f"scene_{request.scene_index:02d}.png"

        def work() -> None:
            art = _art()
            art.write_png_atomic(art.render_scene_art(request, self.config.grain), path)

        await asyncio.to_thread(work)
        ctx.report(1.0, "drawn offline")
        return ImageResult(path=path, width=request.width, height=request.height)
