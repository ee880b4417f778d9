"""A run's events and provider attempts, stored in batches with seq numbers from the database.

Events are queued here and stored every `agent.event_flush_s` (and before the final state), each
batch in one unit of work that takes its seq numbers from `jobs.last_seq` (storage.cluster). A
front door streams them from the database, so what a subscriber sees is what is stored, in order:
no seq is reserved ahead and none can be seen twice or skipped, whichever worker wrote it.

A batch refused because this run is no longer the job's current one (cancelled from a front door,
or moved to another worker after this one stopped heartbeating) sets `stale`: the run stops.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from agent.worker.events import event_json
from storage import AttemptRecord, StorageUnavailable
from storage.cluster import ClusterStore

__all__ = ["EventWriter", "RunStale"]

log = logging.getLogger(__name__)


class RunStale(Exception):
    """This run is not the job's current one any more: it must write nothing else."""


class EventWriter:
    def __init__(self, store: ClusterStore, job_id: str, attempt: int, *, wall: Callable[[], float],
                 flush_s: float) -> None:
        self.store, self.job_id, self.attempt = store, job_id, attempt
        self.wall, self.flush_s = wall, flush_s
        self.pending: list[dict[str, Any]] = []
        self.attempts: list[AttemptRecord] = []
        self.stale = asyncio.Event()
        self.progress = 0.0
        self._lock = asyncio.Lock()

    def emit(self, **fields: Any) -> None:
        fields.setdefault("progress", self.progress)
        self.progress = float(fields["progress"])
        self.pending.append(event_json(self.job_id, self.wall(), **fields))

    def record(self, attempt: AttemptRecord) -> None:
        self.attempts.append(attempt)

    async def flush(self) -> None:
        """Store what is queued; `RunStale` when this run may not write any more."""
        async with self._lock:
            if self.stale.is_set():
                raise RunStale(self.job_id)
            events, attempts = self.pending, self.attempts
            if not events and not attempts:
                return
            self.pending, self.attempts = [], []
            try:
                stored = await self.store.append_events(self.job_id, self.attempt, events, attempts)
            except BaseException:
                self.pending[:0], self.attempts[:0] = events, attempts  # kept for the next try
                raise
            if stored is None:
                self.stale.set()
                raise RunStale(self.job_id)

    async def run(self) -> None:
        """Flush every `flush_s` until cancelled or stale; a database that fails is tried again."""
        while True:
            await asyncio.sleep(self.flush_s)
            try:
                await self.flush()
            except RunStale:
                return
            except StorageUnavailable as exc:
                log.warning("job %s: storing events failed (%s); trying again", self.job_id, exc)
