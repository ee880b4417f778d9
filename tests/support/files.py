"""File helpers for fakes that run on the event loop: they call these through asyncio.to_thread."""

from __future__ import annotations

from pathlib import Path

__all__ = ["write_file"]


def write_file(path: Path, data: bytes) -> Path:
    """Write `data` to `path`, creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
