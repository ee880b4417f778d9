"""A job while it is queued or running: its state in memory, its events, and who is listening.

The runner owns one `LiveJob` per active job. Events are appended here first (subscribers see them
at once), then stored in batches; the terminal event is stored in the same transaction as the final
status, and only then is the `LiveJob` dropped, so a subscriber that arrives later finds every event
in the database: no gap, no duplicate.

Sequence numbers survive a crash. Streaming never waits for the database, so after `kill -9` the
last events a client saw may never have been stored; giving their seq to new events would make a
client resuming there miss those. So seq numbers are reserved in blocks: every stored batch also
stores `seq_reserved` = its last seq + `SEQ_RESERVE_BLOCK`, an event is shown to subscribers only
once its seq is at or below the stored mark (in practice at once: a block outlasts many flushes),
and after a restart new events are numbered above the mark. A clean shutdown stores the mark back
down to the last event, so numbering stays consecutive across an ordinary restart.
"""

from __future__ import annotations

import asyncio
import bisect
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agent.protocol import Event, JobStatus, ScriptView, to_builtins
from storage import AttemptRecord, ProgressBatch
from storage.models import JobRow, User

__all__ = ["LiveJob", "SEQ_RESERVE_BLOCK"]

SEQ_RESERVE_BLOCK = 256  # seq numbers reserved ahead with each stored batch (events per flush, with room)


@dataclass(eq=False)
class LiveJob:
    id: str
    request_id: str
    user_id: int
    platform: str
    platform_user_id: str
    user_name: str
    topic: str
    options: dict[str, Any]
    route: str
    price: int
    admin: bool
    created_at: float
    status: JobStatus = JobStatus.QUEUED
    stage: str = "queued"
    progress: float = 0.0
    message: str = ""
    provider: str = ""
    position: int | None = None
    announced_position: int | None = None  # the position the last queued event told subscribers
    announced_at: float = 0.0  # when (the loop's clock)
    started_at: float | None = None
    resumed: bool = False  # running when the agent stopped; resumed from its work directory
    cancel_requested: bool = False
    final_pending: str | None = None  # finished (done/failed/cancelled), but not stored yet: retried
    task: asyncio.Task[None] | None = None
    provenance: dict[str, dict[str, int]] = field(default_factory=dict)
    script: ScriptView | None = None  # while in review (agent.service.review)
    events: list[Event] = field(default_factory=list)
    pending_events: list[Mapping[str, Any]] = field(default_factory=list)  # as stored (storage/ takes plain JSON)
    pending_attempts: list[AttemptRecord] = field(default_factory=list)
    last_seq: int = 0
    reserved_seq: int = 0  # the stored `jobs.seq_reserved`: events up to it may be streamed
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    @classmethod
    def from_row(cls, row: JobRow, user: User, admin: bool) -> LiveJob:
        # numbering continues above every seq that may have been streamed before a crash
        last = max(row.last_seq, row.seq_reserved)
        return cls(
            id=row.id, request_id=row.request_id, user_id=row.user_id, platform=user.platform,
            platform_user_id=user.platform_user_id, user_name=user.name, topic=row.topic,
            options=json.loads(row.options or "{}"), route=row.route, price=row.price, admin=admin,
            created_at=row.created_at, status=JobStatus(row.status), stage=row.stage, progress=row.progress,
            message=row.message, provider=row.provider, started_at=row.started_at, last_seq=last,
            reserved_seq=last,
        )

    # ------------------------------------------------------------------ events

    def append(self, event: Event) -> None:
        """Record a new event (its seq already allocated), wake subscribers, queue it for storage.
        Subscribers see it once its seq is reserved in the store (at once, unless a block ran out)."""
        self._record(event)
        self.pending_events.append(to_builtins(event))

    def publish_stored(self, event: Event) -> None:
        """Record an event that is already stored (the first and the terminal one) and show it."""
        self.reserved_seq = max(self.reserved_seq, event.seq)
        self._record(event)

    def reserved(self, seq: int | None) -> None:
        """The store now holds `seq_reserved = seq`: show the events up to it."""
        if seq is not None and seq > self.reserved_seq:
            self.reserved_seq = seq
            self.notify()

    @property
    def published_seq(self) -> int:
        """The last seq a subscriber may have seen."""
        return min(self.last_seq, self.reserved_seq)

    def _record(self, event: Event) -> None:
        self.last_seq = event.seq
        self.stage = event.stage.value
        self.progress = event.progress
        self.message = event.message
        self.provider = event.provider or self.provider
        self.events.append(event)
        self.notify()

    def notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def wait_change(self, timeout_s: float) -> bool:
        try:
            await asyncio.wait_for(self._changed.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    def events_after(self, seq: int) -> list[Event]:
        """The events a subscriber that has seen `seq` may be sent now (reserved ones only)."""
        seqs = [e.seq for e in self.events]
        return self.events[bisect.bisect_right(seqs, seq):bisect.bisect_right(seqs, self.reserved_seq)]

    @property
    def first_seq(self) -> int:
        return self.events[0].seq if self.events else self.last_seq + 1

    def take_pending(self, *, release: bool = False) -> ProgressBatch:
        """What to store next, with the next reservation: a block ahead of the last event, or, when
        `release` (a clean shutdown, everything streamed is in this batch), the last event itself."""
        reserve = self.last_seq if release else self.last_seq + SEQ_RESERVE_BLOCK
        batch = ProgressBatch(self.id, self.pending_events, self.pending_attempts, reserve_seq=reserve)
        self.pending_events, self.pending_attempts = [], []
        return batch

    def put_back(self, batch: ProgressBatch) -> None:
        """Return what a failed write did not store, in front of anything newer."""
        self.pending_events[:0] = batch.events
        self.pending_attempts[:0] = batch.attempts
