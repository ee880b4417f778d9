"""The distributed mode's SQL: claiming a run of a job, its events with seq numbers from the database,
the front door holding its video, and the workers' heartbeats.

Every front door and every worker shares only the database, so what they must agree on is decided
here, in one statement or one unit of work each:

- A run of a job: `claim` raises `jobs.attempt` and names the worker. Each later write of that run
  (events, the video's holder, the final state) is conditional on `attempt` still being that number
  and the job still active, so a worker whose job was moved to another one (it stopped
  heartbeating) writes nothing after the move, and the final state is stored exactly once.
- Event numbers: `append_events` raises `jobs.last_seq` by the batch's size and inserts the events
  under the numbers it got, in one transaction. The UPDATE holds the job's row lock until the
  commit, so batches of one job commit one after another in seq order: a reader that sees seq N
  stored has every seq below N too, and no seq is ever given twice (also unique in job_events).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.orm import Session

from storage.engine import Database
from storage.jobs import AttemptRecord, ProgressBatch, _fit, _store_batches, _table
from storage.ledger import ACTIVE, changed_rows
from storage.models import ClusterWorkerRow, JobRow, User

__all__ = ["ClusterStore", "Claim", "WorkerBeat"]

_jobs = _table(JobRow)
_workers = _table(ClusterWorkerRow)
_CLAIM = update(_jobs).where(_jobs.c.id == bindparam("b_id"), _jobs.c.status.in_(ACTIVE)).values(
    status="running", attempt=_jobs.c.attempt + 1, worker=bindparam("b_worker"),
).returning(_jobs.c.attempt)
_STARTED = update(_jobs).where(_jobs.c.id == bindparam("b_id"), _jobs.c.started_at.is_(None)).values(
    started_at=bindparam("b_now"))
_ALLOCATE = update(_jobs).where(
    _jobs.c.id == bindparam("b_id"), _jobs.c.attempt == bindparam("b_attempt"), _jobs.c.status == "running",
).values(last_seq=_jobs.c.last_seq + bindparam("b_n")).returning(_jobs.c.last_seq)
_HOLDER = update(_jobs).where(
    _jobs.c.id == bindparam("b_id"), _jobs.c.attempt == bindparam("b_attempt"), _jobs.c.status == "running",
).values(artifact_holder=bindparam("b_holder"))


@dataclass(frozen=True)
class Claim:
    """A run of a job a worker now owns: the job as it was claimed, its owner, the run's number."""

    job: JobRow
    user: User
    attempt: int
    previous_worker: str | None  # who ran the attempt before this one (None: the first run)


@dataclass(frozen=True)
class WorkerBeat:
    name: str
    started_at: float
    now: float
    state: str  # agent.protocol.WorkerState's value
    routes: Sequence[str]
    backends: Sequence[Mapping[str, Any]]
    jobs: Sequence[str]
    problem: str = ""  # why it takes no job (its disk is full), in words


class ClusterStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def claim(self, job_id: str, worker: str, now: float) -> Claim | None:
        """Start a new run of an active job on `worker`; None when it is not active any more."""
        def work(session: Session) -> Claim | None:
            before = session.execute(select(JobRow.worker).where(JobRow.id == job_id).with_for_update()).first()
            if before is None:
                return None
            got = session.execute(_CLAIM, {"b_id": job_id, "b_worker": _fit(worker, 128)}).first()
            if got is None:
                return None
            session.execute(_STARTED, {"b_id": job_id, "b_now": now})
            row = session.execute(select(JobRow).where(JobRow.id == job_id)).scalar_one()
            user = session.get(User, row.user_id)
            assert user is not None
            session.expunge(row)
            session.expunge(user)
            return Claim(row, user, int(got[0]), before[0])

        return await self._db.write(work)

    async def append_events(
        self, job_id: str, attempt: int, events: Sequence[Mapping[str, Any]],
        attempts: Sequence[AttemptRecord] = (),
    ) -> list[dict[str, Any]] | None:
        """Number `events` after the job's last stored seq and store them with `attempts`, in one unit
        of work; returns them as stored, or None when this run is no longer the job's current one."""
        def work(session: Session) -> list[dict[str, Any]] | None:
            got = session.execute(_ALLOCATE, {"b_id": job_id, "b_attempt": attempt, "b_n": len(events)}).first()
            if got is None:
                return None
            last = int(got[0])
            first = last - len(events) + 1
            numbered = [dict(event, seq=first + i) for i, event in enumerate(events)]
            _store_batches(session, [ProgressBatch(job_id, list(numbered), list(attempts))])
            return numbered

        return await self._db.write(work)

    async def set_holder(self, job_id: str, attempt: int, holder: str) -> bool:
        """Record the front door whose disk holds the job's video (while that run is current)."""
        return await self._db.write(lambda s: changed_rows(s.execute(
            _HOLDER, {"b_id": job_id, "b_attempt": attempt, "b_holder": _fit(holder, 512)})) == 1)

    async def job(self, job_id: str) -> JobRow | None:
        return await self._db.read(lambda s: s.get(JobRow, job_id))

    # ------------------------------------------------------------------ workers

    async def beat(self, beat: WorkerBeat) -> None:
        values = {"started_at": beat.started_at, "heartbeat_at": beat.now, "state": _fit(beat.state, 16),
                  "routes": json.dumps(list(beat.routes)), "backends": json.dumps(list(beat.backends)),
                  "jobs": json.dumps(list(beat.jobs)), "problem": beat.problem}

        def work(session: Session) -> None:
            changed = session.execute(update(_workers).where(_workers.c.name == beat.name).values(**values))
            if changed_rows(changed) == 0:
                session.add(ClusterWorkerRow(name=_fit(beat.name, 128), **values))

        await self._db.write(work, retry_conflict=True)

    async def workers(self) -> list[ClusterWorkerRow]:
        return await self._db.read(lambda s: list(s.execute(
            select(ClusterWorkerRow).order_by(ClusterWorkerRow.name)).scalars()))

    async def forget_workers(self, silent_since: float) -> int:
        """Drop the rows of workers stopped or silent since before `silent_since` (long gone)."""
        return await self._db.write(lambda s: changed_rows(s.execute(
            delete(_workers).where(_workers.c.heartbeat_at < silent_since))))
