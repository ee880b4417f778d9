"""The renderer's error tree. Errors are types; the bot decides the wording.

    RenderError                 anything the renderer could not do
    ├── InputError              a still, clip, WAV or music file cannot be read
    │   └── ClipDecodeError     a clip does not decode and the scene has no still to fall back to
    ├── BudgetTooSmall          max_bytes cannot hold this duration at any usable quality
    ├── EncodeError             ffmpeg failed (carries the tail of its stderr)
    └── RenderTimeout           spec.timeout_s elapsed (also a TimeoutError)
"""

from __future__ import annotations

__all__ = [
    "RenderError",
    "InputError",
    "ClipDecodeError",
    "BudgetTooSmall",
    "EncodeError",
    "RenderTimeout",
]


class RenderError(Exception):
    """Base class of every renderer failure."""


class InputError(RenderError):
    """An input file is missing or unreadable."""


class ClipDecodeError(InputError):
    """A scene's clip does not decode and there is no still to fall back to."""


class BudgetTooSmall(RenderError):
    """The size budget cannot hold the video at the lowest bitrate we accept."""

    def __init__(self, max_bytes: int, duration_s: float, video_kbps: float) -> None:
        super().__init__(
            f"{max_bytes} bytes cannot hold {duration_s:.1f} s of video "
            f"(would leave {video_kbps:.0f} kbit/s for the picture)"
        )
        self.max_bytes = max_bytes
        self.duration_s = duration_s
        self.video_kbps = video_kbps


class EncodeError(RenderError):
    """ffmpeg exited with an error."""

    def __init__(self, message: str, stderr_tail: str = "") -> None:
        super().__init__(f"{message}: {stderr_tail}" if stderr_tail else message)
        self.stderr_tail = stderr_tail


class RenderTimeout(RenderError, TimeoutError):
    """The render ran past spec.timeout_s and was killed."""
