"""The job store: jobs, their events and provider attempts, and the credit moves tied to them.

Submitting is ONE unit of work (storage.engine): the user is created or found, the request id
checked (idempotency), the allowance topped up, the price reserved with a conditional UPDATE, and
the job, its first event and the ledger entry inserted; the submissions that arrive together are
written in one transaction, each atomic in its own savepoint (storage.batch). Finishing a job is a
conditional UPDATE from an active status, so a job is settled or refunded exactly once however a
cancel and a completion race. Events are stored as the exact JSON that was streamed, keyed by
(job_id, seq), so a late or reconnecting subscriber replays them verbatim; progress of many jobs is
stored in one unit of work with one multi-row statement per table and purpose.

Sequence numbers: a batch may carry `reserve_seq`, written to `jobs.seq_reserved` in the same unit
of work. The agent streams an event only once its seq is reserved, so after a crash every seq that
may have been streamed is known, and none is given to a different event (agent.service.live).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, bindparam, delete, func, insert, literal_column, select, update
from sqlalchemy.orm import Session

from storage.batch import GroupCommit
from storage.engine import Database
from storage.ledger import ACTIVE, add_entry, balance_of, changed_rows, refresh_allowance, upsert_user
from storage.models import Base, JobEventRow, JobRow, LedgerKind, ProviderAttemptRow, User
from storage.prepared import Prepared

__all__ = ["JobStore", "NewJob", "UserKey", "SubmitOutcome", "Finish", "ProgressBatch", "AttemptRecord"]


@dataclass(frozen=True)
class NewJob:
    id: str
    request_id: str
    user_id: int  # ignored when `JobStore.submit` is given the user's `UserKey`
    topic: str
    options: Mapping[str, Any]
    route: str
    price: int
    created_at: float


@dataclass(frozen=True)
class UserKey:
    """Who submits, as the platform names them: created on first sight, inside the submission."""

    platform: str
    platform_user_id: str
    name: str = ""


@dataclass(frozen=True)
class SubmitOutcome:
    """What a submission came to. The new job's and the submitter's rows are kept as column values
    and made ORM objects (detached) only when asked for: building them on the writer thread cost
    more than the statements that wrote them."""

    row: JobRow | Mapping[str, Any] | None  # the new job (its values), or the existing one for a repeated request_id
    created: bool
    rejected: str | None = None  # "quota" | "in_flight"
    balance: int = 0
    submitter: User | Mapping[str, Any] | None = None  # the submitter's row, when known

    @functools.cached_property
    def job(self) -> JobRow | None:
        return JobRow(**self.row) if isinstance(self.row, Mapping) else self.row

    @functools.cached_property
    def user(self) -> User | None:
        return User(**self.submitter) if isinstance(self.submitter, Mapping) else self.submitter

    def _column(self, name: str) -> Any:
        if self.row is None:
            raise ValueError("no job")
        return self.row[name] if isinstance(self.row, Mapping) else getattr(self.row, name)

    @property
    def user_id(self) -> int:
        return int(self._column("user_id"))

    @property
    def seq_reserved(self) -> int:
        return int(self._column("seq_reserved"))


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
    reserve_seq: int | None = None  # set jobs.seq_reserved to this, with the events (None: leave it)


@dataclass(frozen=True)
class Finish:
    status: str  # done | failed | cancelled
    now: float
    charged: int | None = None  # done: what to charge (<= price); else None = refund all
    result: Mapping[str, Any] | None = None
    error_code: str | None = None
    error_message: str | None = None


def _dump(event: Mapping[str, Any]) -> str:
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False)  # escapes NUL as \u0000


def _fit(value: object, limit: int | None = None) -> str:
    """Text as every backend can store it: without NUL characters (PostgreSQL's text cannot hold
    them; SQLite can) and cut to the column's VARCHAR length (PostgreSQL enforces it; SQLite does
    not). For the free text that providers and errors produce: progress must not fail to store."""
    text = str(value).replace("\x00", "")
    return text if limit is None else text[:limit]


def _fit_opt(value: object | None, limit: int | None = None) -> str | None:
    return None if value is None else _fit(value, limit)


def _table(model: type[Base]) -> Table:
    """The model's Core table (`Model.__table__` is typed as any FromClause, which DML does not take)."""
    return Base.metadata.tables[model.__tablename__]


# Statements built once (their compiled form is cached by SQLAlchemy); bind names differ from column
# names where a column is also SET. Multi-row statements run as one executemany.
_jobs = _table(JobRow)
_JOB_BY_REQUEST = select(JobRow).where(JobRow.user_id == bindparam("uid"), JobRow.request_id == bindparam("rid"))
_users = _table(User)
_RESERVE = update(_users).where(_users.c.id == bindparam("uid"), _users.c.balance >= bindparam("price")).values(
    balance=_users.c.balance - bindparam("price"))
_UNRESERVE = update(_users).where(_users.c.id == bindparam("uid")).values(balance=_users.c.balance + bindparam("price"))
_INSERT_EVENTS = insert(_table(JobEventRow))
_INSERT_ATTEMPTS = insert(_table(ProviderAttemptRow))
# an executemany cannot expand IN (...) parameters: the active statuses are written out as literals
_IS_ACTIVE = _jobs.c.status.in_([literal_column(f"'{status}'") for status in ACTIVE])
_PROGRESS = update(_jobs).where(_jobs.c.id == bindparam("b_id"), _IS_ACTIVE).values(
    stage=bindparam("b_stage"), progress=bindparam("b_progress"), message=bindparam("b_message"),
    provider=bindparam("b_provider"), last_seq=bindparam("b_seq"))
_MARK_RUNNING = update(_jobs).where(_jobs.c.id == bindparam("b_id"), _jobs.c.status.in_(ACTIVE)).values(
    status="running", started_at=func.coalesce(_jobs.c.started_at, bindparam("b_now")))
_RESERVE_SEQ = update(_jobs).where(_jobs.c.id == bindparam("b_id"), _IS_ACTIVE).values(
    seq_reserved=bindparam("b_reserved"))
_MOVE = update(_jobs).where(_jobs.c.id == bindparam("b_id"), _jobs.c.status.in_(ACTIVE)).values(
    status=bindparam("b_status"))
# a finished job's last state (its status was moved by _MOVE in the same unit of work)
_FINISHED = ("charged", "refunded", "finished_at", "files_deleted_at", "error_code", "error_message", "result",
             "stage", "progress", "message", "last_seq")
_FINISH = update(_jobs).where(_jobs.c.id == bindparam("b_id")).values(
    {name: bindparam(f"b_{name}") for name in _FINISHED})
# restart recovery: one more resume of an interrupted job, unless it has had its share
_COUNT_RECOVERY = update(_jobs).where(
    _jobs.c.id == bindparam("b_id"), _jobs.c.status == "running", _jobs.c.recoveries < bindparam("b_limit"),
).values(recoveries=_jobs.c.recoveries + 1)
_EVENTS_AFTER = select(JobEventRow.data).where(JobEventRow.job_id == bindparam("jid"),
                                               JobEventRow.seq > bindparam("seq")).order_by(JobEventRow.seq)
_ANY_EVENTS_AFTER = (select(JobEventRow.id, JobEventRow.data).where(JobEventRow.id > bindparam("after"))
                     .order_by(JobEventRow.id).limit(bindparam("limit")))
_LAST_EVENT_ID = select(func.coalesce(func.max(JobEventRow.id), 0))


# the submission's common path, as prepared statements (storage.prepared)
_JOB_ID_BY_REQUEST = Prepared(select(_jobs.c.id).where(_jobs.c.user_id == bindparam("uid"),
                                                       _jobs.c.request_id == bindparam("rid")))
_RESERVE_RETURNING = Prepared(_RESERVE.returning(_users.c.balance))
_IN_FLIGHT_NOW = Prepared(select(func.count()).select_from(_jobs).where(_jobs.c.user_id == bindparam("uid"),
                                                                        _IS_ACTIVE))
# every column named: a prepared INSERT applies no Python-side defaults
_NEW_JOB = Prepared(insert(_jobs).values({column.name: bindparam(column.name) for column in _jobs.columns}))
_events = _table(JobEventRow)
_NEW_EVENT = Prepared(insert(_events).values(job_id=bindparam("job_id"), seq=bindparam("seq"), data=bindparam("data")))


def _store_batches(session: Session, batches: Iterable[ProgressBatch]) -> None:
    """Store the pending events and attempts of many jobs: at most one statement per table."""
    events: list[dict[str, Any]] = []
    states: list[dict[str, Any]] = []
    attempts: list[dict[str, Any]] = []
    reserves: list[dict[str, Any]] = []
    for batch in batches:
        if batch.reserve_seq is not None:
            reserves.append({"b_id": batch.job_id, "b_reserved": int(batch.reserve_seq)})
        if batch.events:
            last = batch.events[-1]
            states.append({"b_id": batch.job_id, "b_stage": _fit(last.get("stage", ""), 16),
                           "b_progress": float(last.get("progress", 0.0)), "b_message": _fit(last.get("message", "")),
                           "b_provider": _fit(last.get("provider", ""), 64), "b_seq": int(last["seq"])})
            events.extend({"job_id": batch.job_id, "seq": int(e["seq"]), "data": _dump(e)} for e in batch.events)
        attempts.extend(
            {"job_id": batch.job_id, "stage": _fit(a.stage, 16), "item": _fit(a.item, 64),
             "provider": _fit(a.provider, 64), "tier": _fit(a.tier, 32), "outcome": _fit(a.outcome, 32),
             "message": _fit(a.message), "elapsed_s": float(a.elapsed_s), "at": float(a.at)}
            for a in batch.attempts)
    if states:
        # PostgreSQL locks each updated job row until the commit: always in the same (id) order, so
        # two multi-job writes can never wait on each other in a cycle
        states.sort(key=lambda state: state["b_id"])
        session.execute(_PROGRESS, states)
    if reserves:
        reserves.sort(key=lambda reserve: reserve["b_id"])
        session.execute(_RESERVE_SEQ, reserves)
    if events:
        session.execute(_INSERT_EVENTS, events)
    if attempts:
        session.execute(_INSERT_ATTEMPTS, attempts)


class JobStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._submits = GroupCommit(db)
        # jobs starting and ending: several workers' at once share one transaction too (on
        # PostgreSQL a lost lock-order race between two agents is rolled back and rerun whole)
        self._lifecycle = GroupCommit(db)

    # ------------------------------------------------------------------ submit

    async def submit(
        self, job: NewJob, *, first_event: Callable[[], Mapping[str, Any]], max_in_flight: int | None,
        day: str, daily: int, user: UserKey | None = None, seq_reserved: int | None = None,
        enqueue: Callable[[Session, str], int] | None = None,
    ) -> SubmitOutcome:
        """Reserve `job.price` and create the job, atomically, in one unit of work; or say why not.

        With `user`, the submitter is created or found (and renamed) in the same transaction and
        `job.user_id` is ignored. A repeated request id returns the existing job, charged once.
        `seq_reserved` (default: the first event's seq) is the job's first reservation of event
        sequence numbers. `enqueue(session, job_id)` (the distributed mode) puts the job on the queue
        engine inside this same transaction and returns the queue's job id: reserved and queued
        commit together, or neither does."""
        event = dict(first_event())
        data = _dump(event)

        def work(session: Session) -> SubmitOutcome:
            # the common path (a known user, topped up today, a new request id, credits enough) is
            # six prepared statements (storage.prepared); the rare ones go through the ORM
            owner: dict[str, Any] | None = None
            if user is not None:
                owner = upsert_user(session, user.platform, user.platform_user_id, user.name, job.created_at)
                uid = owner["id"]
            else:
                uid = job.user_id
            if _JOB_ID_BY_REQUEST.first(session, {"uid": uid, "rid": job.request_id}) is not None:
                existing = session.execute(_JOB_BY_REQUEST, {"uid": uid, "rid": job.request_id}).scalar_one()
                return SubmitOutcome(existing, created=False, submitter=owner or session.get(User, uid))
            if owner is None or owner["allowance_day"] != day:
                refresh_allowance(session, uid, day, daily, job.created_at)
            reserved = _RESERVE_RETURNING.first(session, {"uid": uid, "price": job.price})
            if reserved is None:
                return SubmitOutcome(None, created=False, rejected="quota", balance=balance_of(session, uid),
                                     submitter=owner)
            # counted after the reservation, which holds the user's row: exact under PostgreSQL too
            if max_in_flight is not None and _IN_FLIGHT_NOW.scalar(session, {"uid": uid}) >= max_in_flight:
                session.execute(_UNRESERVE, {"uid": uid, "price": job.price})  # net zero: no ledger entry
                return SubmitOutcome(None, created=False, rejected="in_flight", balance=balance_of(session, uid),
                                     submitter=owner)
            values = dict(
                id=job.id, request_id=job.request_id, user_id=uid, topic=_fit(job.topic),
                options=json.dumps(dict(job.options)), route=job.route, price=job.price, charged=None,
                refunded=0, status="queued", stage="queued", progress=0.0, message=_fit(event.get("message", "")),
                provider="", last_seq=int(event["seq"]), seq_reserved=max(int(event["seq"]), seq_reserved or 0),
                result=None, error_code=None, error_message=None,
                created_at=job.created_at, started_at=None, finished_at=None, files_deleted_at=None,
                recoveries=0, attempt=0, worker=None, queue_job_id=None, artifact_holder=None,
            )
            if enqueue is not None:
                values["queue_job_id"] = enqueue(session, job.id)
            _NEW_JOB.rowcount(session, values)
            _NEW_EVENT.rowcount(session, {"job_id": job.id, "seq": int(event["seq"]), "data": data})
            add_entry(session, uid, LedgerKind.RESERVE, -job.price, job.price, job.created_at, job_id=job.id,
                      applied=True)
            balance = int(reserved[0])
            if owner is not None:
                owner["balance"] = balance
            return SubmitOutcome(values, created=True, balance=balance, submitter=owner)

        # group commit: the submissions that arrive together share one transaction, each in its own
        # savepoint (storage.batch). A concurrent commit of the same request id (or new user) under
        # PostgreSQL: the rerun finds it. Ordered by user, so batches lock users' rows in one order.
        order = f"{user.platform}\x00{user.platform_user_id}" if user is not None else f"#{job.user_id}"
        return await self._submits.write(work, retry_conflict=True, order=order, plain=True)

    async def balance_of(self, user_id: int) -> int:
        return await self._db.read(lambda s: balance_of(s, user_id))

    # ------------------------------------------------------------------ reads

    async def by_request(self, user_id: int, request_id: str) -> JobRow | None:
        return await self._db.read(
            lambda s: s.execute(_JOB_BY_REQUEST, {"uid": user_id, "rid": request_id}).scalar_one_or_none())

    async def by_user_request(self, platform: str, platform_user_id: str,
                              request_id: str) -> tuple[JobRow, User] | None:
        """The job a user submitted under `request_id`, with the user; None when there is none."""
        def read(session: Session) -> tuple[JobRow, User] | None:
            found = session.execute(
                select(JobRow, User).join(User, User.id == JobRow.user_id)
                .where(User.platform == platform, User.platform_user_id == platform_user_id,
                       JobRow.request_id == request_id)
            ).first()
            return None if found is None else (found[0], found[1])

        return await self._db.read(read)

    async def get(self, job_id: str) -> JobRow | None:
        return await self._db.read(lambda s: s.get(JobRow, job_id))

    async def get_with_user(self, job_id: str) -> tuple[JobRow, User] | None:
        """The job and its owner, in one read."""
        def read(session: Session) -> tuple[JobRow, User] | None:
            row = session.get(JobRow, job_id)
            if row is None:
                return None
            user = session.get(User, row.user_id)
            assert user is not None
            return row, user

        return await self._db.read(read)

    async def user_of(self, user_id: int) -> User | None:
        return await self._db.read(lambda s: s.get(User, user_id))

    async def with_status(self, status: str) -> list[JobRow]:
        return await self._db.read(lambda s: list(s.execute(
            select(JobRow).where(JobRow.status == status).order_by(JobRow.created_at, JobRow.id)
        ).scalars()))

    async def events_after(self, job_id: str, seq: int) -> list[str]:
        """Stored events with a sequence number above `seq`, in order, as their JSON text."""
        return await self._db.read(
            lambda s: list(s.execute(_EVENTS_AFTER, {"jid": job_id, "seq": seq}).scalars()))

    async def any_events_after(self, event_id: int, limit: int) -> list[tuple[int, str]]:
        """Every job's stored events with a row id above `event_id`, oldest first, at most `limit`:
        (row id, the event's JSON text). Row ids are given at insert, so one committed late may
        appear below ids already read (concurrent writers): a reader looks a little way back."""
        return await self._db.read(lambda s: [(int(i), str(d)) for i, d in s.execute(
            _ANY_EVENTS_AFTER, {"after": event_id, "limit": limit}).all()])

    async def last_event_id(self) -> int:
        return await self._db.read(lambda s: int(s.execute(_LAST_EVENT_ID).scalar_one()))

    async def attempts(self, job_id: str) -> list[ProviderAttemptRow]:
        return await self._db.read(lambda s: list(s.execute(
            select(ProviderAttemptRow).where(ProviderAttemptRow.job_id == job_id).order_by(ProviderAttemptRow.id)
        ).scalars()))

    async def recent(self, limit: int = 50) -> list[tuple[JobRow, User]]:
        """The newest jobs with their owners, newest first (the operator console's list)."""
        return await self._db.read(lambda s: [(job, user) for job, user in s.execute(
            select(JobRow, User).join(User, User.id == JobRow.user_id)
            .order_by(JobRow.created_at.desc(), JobRow.id).limit(limit)).all()])

    async def count_by_status(self) -> dict[str, int]:
        return await self._db.read(lambda s: dict(s.execute(
            select(JobRow.status, func.count()).group_by(JobRow.status)).all()))

    # ------------------------------------------------------------------ progress

    async def mark_running(self, job_id: str, now: float, batch: ProgressBatch) -> bool:
        def work(session: Session) -> bool:
            started = session.execute(_MARK_RUNNING, {"b_id": job_id, "b_now": now})
            _store_batches(session, [batch])
            return changed_rows(started) == 1

        return await self._lifecycle.write(work, order=job_id)

    async def save_progress(self, batches: Iterable[ProgressBatch]) -> None:
        """Store pending events and attempts of many jobs in one unit of work."""
        batches = [b for b in batches if b.events or b.attempts or b.reserve_seq is not None]
        if batches:
            await self._db.write(lambda s: _store_batches(s, batches))

    # ------------------------------------------------------------------ restart recovery

    async def count_recovery(self, job_id: str, limit: int) -> int | None:
        """Count one more resume of the interrupted (running) job `job_id`, committed before it runs
        again, so a crash during that run still counts. Returns the new count, or None when the job
        has been resumed `limit` times already (or is not running): it must not run again."""
        def work(session: Session) -> int | None:
            if changed_rows(session.execute(_COUNT_RECOVERY, {"b_id": job_id, "b_limit": limit})) != 1:
                return None
            return int(session.execute(select(JobRow.recoveries).where(JobRow.id == job_id)).scalar_one())

        return await self._db.write(work)

    async def forgive_recoveries(self, job_ids: Sequence[str]) -> None:
        """A clean shutdown interrupted these running jobs: their next resume is not a crash's, so
        it must not count towards quarantine. One less now, one more when recovery resumes them
        (a job that started fresh in the stopping process goes to -1, then back to 0)."""
        if not job_ids:
            return
        stmt = update(_jobs).where(_jobs.c.id.in_(list(job_ids)), _jobs.c.status == "running").values(
            recoveries=_jobs.c.recoveries - 1)
        await self._db.write(lambda session: session.execute(stmt))

    # ------------------------------------------------------------------ finish

    async def finish(
        self, job_id: str, fin: Finish, batch: ProgressBatch,
        terminal_event: Callable[[JobRow, int | None], Mapping[str, Any]], *, attempt: int | None = None,
    ) -> tuple[JobRow, Mapping[str, Any]] | None:
        """Move an active job to `fin.status`, settle or refund, store its last events.

        `terminal_event(row, balance_after)` builds the closing event inside the unit of work (it
        carries the credits left); on SQLite it runs on the writer thread, so it must only read the
        values it is given and its own (unchanging) job. Returns None when the job had already
        finished: nothing changes. `attempt` (the distributed mode): only while that run of the job
        is the current one, so a worker whose job moved elsewhere finishes nothing."""
        move = _MOVE if attempt is None else _MOVE.where(_jobs.c.attempt == attempt)

        def work(session: Session) -> tuple[JobRow, Mapping[str, Any]] | None:
            if changed_rows(session.execute(move, {"b_id": job_id, "b_status": fin.status})) != 1:
                return None
            _store_batches(session, [batch])
            row = session.execute(select(JobRow).where(JobRow.id == job_id)).scalar_one()
            # set below on the detached object and written with one Core UPDATE: the ORM's flush of
            # the same changes cost several times as much on the writer thread
            session.expunge(row)
            price = row.price
            if fin.status == "done":
                charged = max(0, min(price, fin.charged if fin.charged is not None else price))
                add_entry(session, row.user_id, LedgerKind.SETTLE, 0, charged, fin.now, job_id=job_id)
                refund = price - charged
                note = "charged the cheaper tier that served" if refund else ""
            else:
                charged, refund, note = 0, price, fin.status
            if refund:
                add_entry(session, row.user_id, LedgerKind.REFUND, refund, refund, fin.now, job_id=job_id, note=note)
            balance = balance_of(session, row.user_id)
            row.charged, row.refunded, row.finished_at = charged, refund, fin.now
            if fin.status != "done":  # the runner deletes a failed job's files as soon as this commits
                row.files_deleted_at = fin.now
            row.error_code, row.error_message = _fit_opt(fin.error_code, 32), _fit_opt(fin.error_message)
            event = terminal_event(row, balance)
            row.result = json.dumps(fin.result) if fin.result is not None else None
            if fin.result is not None and "result" in event:
                row.result = json.dumps(event["result"])
            row.stage = _fit(event.get("stage", fin.status), 16)
            row.progress = float(event.get("progress", row.progress))
            row.message = _fit(event.get("message", ""))
            row.last_seq = int(event["seq"])
            session.execute(_FINISH, {"b_id": job_id, **{f"b_{name}": getattr(row, name) for name in _FINISHED}})
            session.execute(_INSERT_EVENTS, [{"job_id": job_id, "seq": int(event["seq"]), "data": _dump(event)}])
            return row, event

        return await self._lifecycle.write(work, order=job_id)

    # ------------------------------------------------------------------ retention

    async def expired(self, finished_before: float, limit: int = 500) -> list[str]:
        return await self._db.read(lambda s: list(s.execute(
            select(JobRow.id).where(JobRow.finished_at.is_not(None), JobRow.finished_at < finished_before,
                                    JobRow.files_deleted_at.is_(None)).limit(limit)
        ).scalars()))

    async def finished_with_files(self, limit: int = 500) -> list[str]:
        """Finished jobs whose files are still kept, oldest finish first (the size bound's order)."""
        return await self._db.read(lambda s: list(s.execute(
            select(JobRow.id).where(JobRow.finished_at.is_not(None), JobRow.files_deleted_at.is_(None))
            .order_by(JobRow.finished_at, JobRow.id).limit(limit)
        ).scalars()))

    async def file_states(self, job_ids: Sequence[str]) -> dict[str, tuple[str, bool]]:
        """job id -> (status, files deleted?) for the ids that have a row; missing ids have none."""
        ids = list(job_ids)
        if not ids:
            return {}
        return await self._db.read(lambda s: {
            row.id: (row.status, row.files_deleted_at is not None) for row in s.execute(
                select(JobRow.id, JobRow.status, JobRow.files_deleted_at).where(JobRow.id.in_(ids)))
        })

    async def prune_events(self, finished_before: float) -> int:
        """Delete the stored events of jobs finished before `finished_before`, all but the last one
        (the terminal event, so a late subscriber's replay still ends). Job rows, ledger entries and
        provider attempts stay: GET job answers from the row. Returns how many rows went."""
        old = select(_jobs.c.id).where(_jobs.c.finished_at.is_not(None), _jobs.c.finished_at < finished_before)
        events = _table(JobEventRow)
        last = select(_jobs.c.last_seq).where(_jobs.c.id == events.c.job_id).scalar_subquery()
        statement = delete(events).where(events.c.job_id.in_(old), events.c.seq < last)
        return await self._db.write(lambda s: changed_rows(s.execute(statement)))

    async def mark_files_deleted(self, job_ids: Sequence[str], now: float) -> None:
        if not job_ids:
            return
        ids = list(job_ids)
        await self._db.write(lambda s: s.execute(
            update(_jobs).where(_jobs.c.id.in_(ids)).values(files_deleted_at=now)))
