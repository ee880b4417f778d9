"""The data directory's disk against `agent.min_free_disk_mb`: one question, asked off the event loop.

A job writes 8-12 MB of images, voice and video into the data directory. Below the configured
minimum a job cannot finish, so nothing should start one there: the single-box agent's runner
refuses to start one (and its API to accept one), and a worker of the distributed mode stops taking
jobs from the queue (agent.worker.main) until space is freed. `agent.service.disk` adds the
database's disk and the status sections built from both.

The disk usage function is injected (`shutil.disk_usage` by default), so tests choose the numbers.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DiskUsage", "DiskState", "DataDisk", "DiskReport", "MB"]

log = logging.getLogger(__name__)

MB = 1024 * 1024


DiskUsage = Callable[[Path], tuple[int, int, int]]
"""`shutil.disk_usage`: (total, used, free) bytes of the filesystem holding a path."""


class DiskState(str, enum.Enum):
    OK = "ok"  # writes are stored, room to spare
    DEGRADED = "degraded"  # still working, but the data directory is getting close to its minimum
    DOWN = "down"  # no new job can run: the database cannot store, or the data directory is full


@dataclass(frozen=True)
class DiskReport:
    path: Path
    total_bytes: int | None  # None: the filesystem could not be asked
    free_bytes: int | None
    min_free_bytes: int

    @property
    def low(self) -> bool:
        """Below the minimum: no job may start."""
        return self.free_bytes is not None and self.free_bytes < self.min_free_bytes

    @property
    def state(self) -> DiskState:
        if self.low:
            return DiskState.DOWN
        if self.free_bytes is not None and self.free_bytes < 2 * self.min_free_bytes:
            return DiskState.DEGRADED
        return DiskState.OK

    def describe(self) -> str:
        free = "unknown" if self.free_bytes is None else f"{self.free_bytes // MB} MB"
        return f"the data directory {self.path} has {free} free (minimum {self.min_free_bytes // MB} MB)"


class DataDisk:
    """The data directory's filesystem, asked off the event loop."""

    def __init__(self, path: Path, min_free_bytes: int, usage: DiskUsage = shutil.disk_usage) -> None:
        self.path, self.min_free_bytes, self._usage = path, min_free_bytes, usage
        self._was_low = False
        self._checking: asyncio.Task[DiskReport] | None = None

    def check_now(self) -> DiskReport:
        """Blocking (statvfs): call through `check()` on the loop."""
        try:
            total, _used, free = self._usage(self.path)
        except OSError as exc:
            log.warning("data directory %s: cannot read its free space: %s", self.path, exc)
            return DiskReport(self.path, None, None, self.min_free_bytes)
        return DiskReport(self.path, int(total), int(free), self.min_free_bytes)

    async def check(self) -> DiskReport:
        """The free space now. The checks asked for while one is being made share it: a burst of
        submissions asks the filesystem once, not once each through the thread pool (where each
        waited behind the others)."""
        task = self._checking
        if task is None:
            task = self._checking = asyncio.ensure_future(self._check())
            task.add_done_callback(self._checked)
        return await asyncio.shield(task)  # a caller that leaves does not cancel the others' check

    def _checked(self, task: asyncio.Task[DiskReport]) -> None:
        if self._checking is task:
            self._checking = None

    async def _check(self) -> DiskReport:
        report = await asyncio.to_thread(self.check_now)
        if report.low != self._was_low:  # one line when it fills, one when it has room again
            self._was_low = report.low
            if report.low:
                log.error("%s: no new job will start until space is freed", report.describe())
            else:
                log.info("%s: jobs start again", report.describe())
        return report
