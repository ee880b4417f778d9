"""Giving freed heap memory back to the system between the render's big one-off steps.

The soundtrack (prepare) and each still's decode and pre-scale allocate tens of MB of short-lived
numpy arrays. glibc's malloc raises its mmap threshold as large blocks are freed, so later blocks of
that size come from the heap, and the heap keeps their pages once they are freed: a 45 s render
held ~35 MB of freed soundtrack and ~20 MB of freed still buffers for the rest of the encode, next
to x264's ~230 MB of frames in flight (issue 15: the render must stay under 400 MB).
`malloc_trim(0)` returns those pages (a few ms); elsewhere than glibc this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable

__all__ = ["release_freed_memory"]


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS)
        return None
    return trim


def release_freed_memory() -> None:
    """Return the heap's free pages to the system (glibc), so the process's RSS is what it uses."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
