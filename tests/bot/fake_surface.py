"""A chat surface that records what a user would see (progress texts, the uploaded video), for Flow tests."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.media import VideoMeta
from bot.throttle import RetryLater

__all__ = ["FakeSurface"]


class FakeSurface:
    """Records what a user would see: the progress texts and the uploaded video."""

    platform = "test"
    video_replaces_progress = False

    def __init__(self, max_upload_bytes: int = 10 * 1024 * 1024, rate_limit_first: int = 0) -> None:
        self.max_upload_bytes = max_upload_bytes
        self.edits: list[tuple[str, bool]] = []
        self.videos: list[tuple[bytes, str, VideoMeta]] = []
        self.activities = 0
        self.rate_limit_first = rate_limit_first
        self.refused_size: int | None = None

    async def edit(self, text: str, *, cancellable: bool, review: bool = False) -> None:
        if self.rate_limit_first > 0:
            self.rate_limit_first -= 1
            raise RetryLater(0.02)
        self.edits.append((text, cancellable))

    async def send_video(self, path: Path, caption: str, meta: VideoMeta, actions: object = ()) -> None:
        from bot.flow import UploadTooLarge

        if self.refused_size is not None and meta.size_bytes > self.refused_size:
            raise UploadTooLarge()
        self.videos.append((await asyncio.to_thread(path.read_bytes), caption, meta))

    async def activity(self) -> None:
        self.activities += 1

    def min_edit_interval_s(self) -> float:
        return 0.0

    @property
    def text(self) -> str:
        return self.edits[-1][0] if self.edits else ""
