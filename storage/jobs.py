"""The job store: jobs, their events and provider attempts, and the credit moves tied to them.

Submitting reserves the price and inserts the job and its first event in ONE transaction;
finishing a job is a conditional UPDATE from an active status, so a job is settled or refunded
exactly once however a cancel and a completion race. Events are stored as the exact JSON that was
streamed, keyed by (job_id, seq), so a late or reconnecting subscriber replays them verbatim.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.engine import Database
from storage.ledger import ACTIVE, add_entry, refresh_allowance
from storage.models import JobEventRow, JobRow, LedgerKind, ProviderAttemptRow, User

__all__ = ["JobStore", "NewJob", "SubmitOutcome", "Finish", "ProgressBatch", "AttemptRecord"]


@dataclass(frozen=True)
class NewJob:
    id: str
    request_id: str
    user_id: int
    topic: str
    options: Mapping[str, Any]
    route: str
    price: int
    created_at: float


@dataclass(frozen=True)
class SubmitOutcome:
    job: JobRow | None  # the new job, or the existing one for a repeated request_id
    created: bool
    rejected: str | None = None  # "quota" | "in_flight"
    balance: int = 0


@dataclass(frozen=True)
class AttemptRecord:
    stage: str
    item: str
    provider: str
    tier: str
    outcome: str
    message: str
    elapsed_s: float
    at: float


@dataclass
class ProgressBatch:
    """Events and attempts of one job not yet stored, and its latest state."""

    job_id: str
    events: list[Mapping[str, Any]] = field(default_factory=list)
    attempts: list[AttemptRecord] = field(default_factory=list)


@dataclass(frozen=True)
class Finish:
    status: str  # done | failed | cancelled
    now: float
    charged: int | None = None  # done: what to charge (<= price); else None = refund all
    result: Mapping[str, Any] | None = None
    error_code: str | None = None
    error_message: str | None = None


def _dump(event: Mapping[str, Any]) -> str:
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False)


class JobStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    # ------------------------------------------------------------------ submit

    async def submit(
        self, job: NewJob, *, first_event: Callable[[], Mapping[str, Any]], max_in_flight: int | None,
        day: str, daily: int,
    ) -> SubmitOutcome:
        """Reserve `job.price` and create the job, atomically; or say why not."""
        existing = await self.by_request(job.user_id, job.request_id)
        if existing is not None:
            return SubmitOutcome(existing, created=False)
        try:
            # one transaction: allowance, reservation, in-flight check, job, first event, ledger entry
            async with self._db.writing() as session:
                await refresh_allowance(session, job.user_id, day, daily, job.created_at)
                reserved = await session.execute(
                    update(User).where(User.id == job.user_id, User.balance >= job.price)
                    .values(balance=User.balance - job.price)
                )
                if reserved.rowcount != 1:
                    raise _Reject("quota")
                again = await self._by_request(session, job.user_id, job.request_id)
                if again is not None:
                    raise _Existing(again.id)
                if max_in_flight is not None:
                    n = (await session.execute(
                        select(func.count()).select_from(JobRow)
                        .where(JobRow.user_id == job.user_id, JobRow.status.in_(ACTIVE))
                    )).scalar_one()
                    if n >= max_in_flight:
                        raise _Reject("in_flight")
                event = first_event()
                row = JobRow(
                    id=job.id, request_id=job.request_id, user_id=job.user_id, topic=job.topic,
                    options=json.dumps(dict(job.options)), route=job.route, price=job.price,
                    refunded=0, status="queued", stage="queued", progress=0.0, message=str(event.get("message", "")),
                    provider="", last_seq=int(event["seq"]), created_at=job.created_at,
                )
                session.add(row)
                await session.flush()
                session.add(JobEventRow(job_id=job.id, seq=int(event["seq"]), data=_dump(event)))
                await add_entry(session, job.user_id, LedgerKind.RESERVE, -job.price, job.price,
                                job.created_at, job_id=job.id, applied=True)
                balance = (await session.execute(select(User.balance).where(User.id == job.user_id))).scalar_one()
        except _Reject as why:
            again = await self.by_request(job.user_id, job.request_id)
            if again is not None:
                return SubmitOutcome(again, created=False)
            balance = await self.balance_of(job.user_id)
            return SubmitOutcome(None, created=False, rejected=why.reason, balance=balance)
        except _Existing as found:  # rolled back: read it afresh
            return SubmitOutcome(await self.get(found.job_id), created=False)
        except IntegrityError:  # the same request_id committed concurrently
            again = await self.by_request(job.user_id, job.request_id)
            if again is None:
                raise
            return SubmitOutcome(again, created=False)
        return SubmitOutcome(row, created=True, balance=balance)

    async def balance_of(self, user_id: int) -> int:
        async with self._db.sessions() as session:
            return (await session.execute(select(User.balance).where(User.id == user_id))).scalar_one()

    # ------------------------------------------------------------------ reads

    @staticmethod
    async def _by_request(session: AsyncSession, user_id: int, request_id: str) -> JobRow | None:
        return (await session.execute(
            select(JobRow).where(JobRow.user_id == user_id, JobRow.request_id == request_id)
        )).scalar_one_or_none()

    async def by_request(self, user_id: int, request_id: str) -> JobRow | None:
        async with self._db.sessions() as session:
            return await self._by_request(session, user_id, request_id)

    async def get(self, job_id: str) -> JobRow | None:
        async with self._db.sessions() as session:
            return await session.get(JobRow, job_id)

    async def user_of(self, user_id: int) -> User | None:
        async with self._db.sessions() as session:
            return await session.get(User, user_id)

    async def with_status(self, status: str) -> list[JobRow]:
        async with self._db.sessions() as session:
            return list((await session.execute(
                select(JobRow).where(JobRow.status == status).order_by(JobRow.created_at, JobRow.id)
            )).scalars())

    async def events_after(self, job_id: str, seq: int) -> list[str]:
        """Stored events with a sequence number above `seq`, in order, as their JSON text."""
        async with self._db.sessions() as session:
            return list((await session.execute(
                select(JobEventRow.data).where(JobEventRow.job_id == job_id, JobEventRow.seq > seq)
                .order_by(JobEventRow.seq)
            )).scalars())

    async def attempts(self, job_id: str) -> list[ProviderAttemptRow]:
        async with self._db.sessions() as session:
            return list((await session.execute(
                select(ProviderAttemptRow).where(ProviderAttemptRow.job_id == job_id).order_by(ProviderAttemptRow.id)
            )).scalars())

    async def count_by_status(self) -> dict[str, int]:
        async with self._db.sessions() as session:
            return dict((await session.execute(select(JobRow.status, func.count()).group_by(JobRow.status))).all())

    # ------------------------------------------------------------------ progress

    async def mark_running(self, job_id: str, now: float, batch: ProgressBatch) -> bool:
        async with self._db.writing() as session:
            started = await session.execute(
                update(JobRow).where(JobRow.id == job_id, JobRow.status.in_(ACTIVE))
                .values(status="running", started_at=func.coalesce(JobRow.started_at, now))
            )
            await self._store_batch(session, batch)
            return started.rowcount == 1

    async def save_progress(self, batches: Iterable[ProgressBatch]) -> None:
        """Store pending events and attempts of many jobs in one transaction."""
        batches = [b for b in batches if b.events or b.attempts]
        if not batches:
            return
        async with self._db.writing() as session:
            for batch in batches:
                await self._store_batch(session, batch)

    async def _store_batch(self, session: AsyncSession, batch: ProgressBatch) -> None:
        if batch.events:
            last = batch.events[-1]
            await session.execute(
                update(JobRow).where(JobRow.id == batch.job_id, JobRow.status.in_(ACTIVE)).values(
                    stage=str(last.get("stage", "")), progress=float(last.get("progress", 0.0)),
                    message=str(last.get("message", "")), provider=str(last.get("provider", "")),
                    last_seq=int(last["seq"]),
                )
            )
            # Core executemany, not ORM objects: batches are large and this runs on the event loop
            await session.execute(insert(JobEventRow), [
                {"job_id": batch.job_id, "seq": int(e["seq"]), "data": _dump(e)} for e in batch.events
            ])
        if batch.attempts:
            await session.execute(insert(ProviderAttemptRow), [
                {"job_id": batch.job_id, "stage": a.stage, "item": a.item[:64], "provider": a.provider,
                 "tier": a.tier, "outcome": a.outcome, "message": a.message, "elapsed_s": a.elapsed_s, "at": a.at}
                for a in batch.attempts
            ])

    # ------------------------------------------------------------------ finish

    async def finish(
        self, job_id: str, fin: Finish, batch: ProgressBatch,
        terminal_event: Callable[[JobRow, int | None], Mapping[str, Any]],
    ) -> tuple[JobRow, Mapping[str, Any]] | None:
        """Move an active job to `fin.status`, settle or refund, store its last events.

        `terminal_event(row, balance_after)` builds the closing event inside the transaction (it
        carries the credits left). Returns None when the job had already finished: nothing changes.
        """
        async with self._db.writing() as session:
            moved = await session.execute(
                update(JobRow).where(JobRow.id == job_id, JobRow.status.in_(ACTIVE)).values(status=fin.status)
            )
            if moved.rowcount != 1:
                return None
            row = (await session.execute(select(JobRow).where(JobRow.id == job_id))).scalar_one()
            await self._store_batch(session, batch)
            price = row.price
            if fin.status == "done":
                charged = max(0, min(price, fin.charged if fin.charged is not None else price))
                await add_entry(session, row.user_id, LedgerKind.SETTLE, 0, charged, fin.now, job_id=job_id)
                refund = price - charged
                note = "charged the cheaper tier that served" if refund else ""
            else:
                charged, refund, note = 0, price, fin.status
            if refund:
                await add_entry(session, row.user_id, LedgerKind.REFUND, refund, refund, fin.now,
                                job_id=job_id, note=note)
            balance = (await session.execute(select(User.balance).where(User.id == row.user_id))).scalar_one()
            row.charged, row.refunded, row.finished_at = charged, refund, fin.now
            row.error_code, row.error_message = fin.error_code, fin.error_message
            event = terminal_event(row, balance)
            row.result = json.dumps(fin.result) if fin.result is not None else None
            if fin.result is not None and "result" in event:
                row.result = json.dumps(event["result"])
            row.stage = str(event.get("stage", fin.status))
            row.progress = float(event.get("progress", row.progress))
            row.message = str(event.get("message", ""))
            row.last_seq = int(event["seq"])
            session.add(JobEventRow(job_id=job_id, seq=int(event["seq"]), data=_dump(event)))
        return row, event

    # ------------------------------------------------------------------ retention

    async def expired(self, finished_before: float, limit: int = 500) -> list[str]:
        async with self._db.sessions() as session:
            return list((await session.execute(
                select(JobRow.id).where(JobRow.finished_at.is_not(None), JobRow.finished_at < finished_before,
                                        JobRow.files_deleted_at.is_(None)).limit(limit)
            )).scalars())

    async def mark_files_deleted(self, job_ids: Sequence[str], now: float) -> None:
        if not job_ids:
            return
        async with self._db.writing() as session:
            await session.execute(update(JobRow).where(JobRow.id.in_(list(job_ids))).values(files_deleted_at=now))


class _Reject(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


class _Existing(Exception):
    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
