"""Retention: what the agent keeps in its data directory and database, and for how long.

The job runner runs `Retention.run()` every `agent.retention_check_s`:

    expired files  files of jobs finished more than `agent.retention_h` ago; the rows stay, so GET
                   answers `video_expired`
    orphans        job folders with no job row, or whose row says the files are gone (a crash between
                   the final write and the delete, a late write by a cancelled step), once they are
                   older than ORPHAN_GRACE_S
    size bound     job files above `agent.max_data_mb`: the files of the oldest finished jobs go
                   first, marked expired exactly as above
    old events     `job_events` of jobs finished more than `agent.events_retention_h` ago, all but
                   the last (terminal) one; the job row answers GET job

Never touched: the folder of a job that is queued or running, here (`is_active`) or in the store.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from agent.engine.disk import MB
from agent.service.quota import WallClock
from agent.settings import Settings
from storage import JobStore, StorageUnavailable
from storage.ledger import ACTIVE

__all__ = ["Retention", "RetentionReport", "ORPHAN_GRACE_S"]

log = logging.getLogger(__name__)

ORPHAN_GRACE_S = 3600.0  # a folder younger than this may belong to a submission being stored


@dataclass(frozen=True)
class RetentionReport:
    expired: int = 0  # jobs whose files were deleted after the retention period
    orphans: int = 0  # folders removed that no job needed
    over_size: int = 0  # jobs whose files were deleted to keep under agent.max_data_mb
    events_pruned: int = 0  # job_events rows deleted


def _folder_bytes(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass  # deleted while we walked
    return total


def _folders(jobs_dir: Path) -> dict[str, tuple[float, int]]:
    """Every job folder: name -> (modified at, bytes). Blocking: run off the loop."""
    out: dict[str, tuple[float, int]] = {}
    try:
        entries = list(os.scandir(jobs_dir))
    except FileNotFoundError:
        return out
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                out[entry.name] = (entry.stat(follow_symlinks=False).st_mtime, _folder_bytes(Path(entry.path)))
        except OSError:
            continue
    return out


class Retention:
    def __init__(
        self, *, settings: Settings, store: JobStore, jobs_dir: Path, wall_clock: WallClock,
        is_active: Callable[[str], bool],
    ) -> None:
        self.settings, self.store, self.jobs_dir = settings, store, jobs_dir
        self.wall, self.is_active = wall_clock, is_active
        self._over_bound = False

    async def run(self) -> RetentionReport:
        """Every rule once; a rule that fails is logged and the others still run."""
        counts: dict[str, int] = {}
        for name, rule in (("expired", self.expire), ("orphans", self.sweep_orphans),
                           ("over_size", self.enforce_size_bound), ("events_pruned", self.prune_events)):
            try:
                counts[name] = await rule()
            except StorageUnavailable:
                counts[name] = 0  # the database logs its own state changes; next round tries again
            except Exception:
                log.exception("retention: %s failed", name)
                counts[name] = 0
        return RetentionReport(**counts)

    async def _delete_files(self, job_ids: list[str]) -> None:
        for job_id in job_ids:
            await asyncio.to_thread(shutil.rmtree, self.jobs_dir / job_id, True)
        await self.store.mark_files_deleted(job_ids, self.wall())

    async def expire(self) -> int:
        """Delete the files of jobs finished more than agent.retention_h ago; rows stay."""
        cutoff = self.wall() - self.settings.agent.retention_h * 3600
        ids = [job_id for job_id in await self.store.expired(cutoff) if not self.is_active(job_id)]
        await self._delete_files(ids)
        if ids:
            log.info("retention: deleted the files of %d finished job(s)", len(ids))
        return len(ids)

    async def sweep_orphans(self) -> int:
        """Remove folders no job needs: no row, or a row whose files are already marked deleted."""
        folders = await asyncio.to_thread(_folders, self.jobs_dir)
        cutoff = self.wall() - ORPHAN_GRACE_S
        old = [name for name, (mtime, _size) in folders.items() if mtime < cutoff and not self.is_active(name)]
        states = await self.store.file_states(old)
        removed = []
        for name in old:
            status, deleted = states.get(name, (None, True))
            if status in ACTIVE or not deleted:
                continue  # a running job's, or a finished job's that retention will expire in time
            await asyncio.to_thread(shutil.rmtree, self.jobs_dir / name, True)
            removed.append(name)
            log.info("retention: removed folder %s (%s)", name, "no job row" if status is None else
                     f"job {status}, files already deleted")
        return len(removed)

    async def enforce_size_bound(self) -> int:
        """Delete the files of the oldest finished jobs until job files fit agent.max_data_mb."""
        limit = self.settings.agent.max_data_mb * MB
        if limit <= 0:
            return 0
        folders = await asyncio.to_thread(_folders, self.jobs_dir)
        total = sum(size for _mtime, size in folders.values())
        if total <= limit:
            self._over_bound = False
            return 0
        chosen: list[str] = []
        freed = 0
        for job_id in await self.store.finished_with_files():
            if total - freed <= limit:
                break
            if self.is_active(job_id):
                continue
            chosen.append(job_id)
            freed += folders.get(job_id, (0.0, 0))[1]
        await self._delete_files(chosen)
        if chosen:
            log.info("retention: job files took %d MB, above agent.max_data_mb = %d: deleted the files of the %d "
                     "oldest finished job(s) (%d MB)", total // MB, limit // MB, len(chosen), freed // MB)
        still_over = total - freed > limit
        if still_over and not self._over_bound:
            log.warning("retention: job files take %d MB, above agent.max_data_mb = %d, and no finished job's "
                        "files are left to delete", (total - freed) // MB, limit // MB)
        self._over_bound = still_over
        return len(chosen)

    async def prune_events(self) -> int:
        cutoff = self.wall() - self.settings.agent.events_retention_h * 3600
        pruned = await self.store.prune_events(cutoff)
        if pruned:
            log.info("retention: pruned %d stored event(s) of jobs finished before the events retention", pruned)
        return pruned
