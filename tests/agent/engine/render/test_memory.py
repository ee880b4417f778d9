"""release_freed_memory gives freed heap pages back: the render's RSS then shows what it uses."""

from __future__ import annotations

import os
import platform

import numpy as np
import pytest

from agent.engine.render.memory import _malloc_trim, release_freed_memory


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="needs glibc")
def test_freed_arrays_leave_the_resident_set() -> None:
    assert _malloc_trim() is not None
    big = np.ones(16 * 2**20, np.uint8)  # freed mmapped block: glibc raises its mmap threshold
    del big
    chunks = [np.ones(2**20, np.uint8) for _ in range(96)]  # now from the heap, pages touched
    keep = chunks[-1].copy()  # something allocated last, so the heap's top is not all free
    del chunks
    before = _rss_mb()
    release_freed_memory()
    assert before - _rss_mb() > 48
    assert keep.sum() == 2**20
