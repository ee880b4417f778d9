"""The credit ledger: users' balances changed only together with a ledger entry, atomically.

Policy (prices, allowance size, reset hour, admins) lives in `agent.service.quota`; this module only does
the SQL. Every balance change is a conditional UPDATE on `users.balance` plus an INSERT into
`ledger_entries` in the same transaction, so `balance == sum(amount)` always holds, concurrent
reservations can never overspend (`... WHERE balance >= :price`), and the SQL stays portable
(SQLite and PostgreSQL both serialise the UPDATE on the user's row).

The helpers below are synchronous functions of a `Session`, called inside a unit of work that
`Database.write` runs (see storage.engine). The daily allowance tops the balance up to the
allowance once per quota day (credits granted by an admin above that level are kept).
"""

from __future__ import annotations

from dataclasses import dataclass

from typing import Any

from sqlalchemy import CursorResult, Result, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from storage.engine import Database
from storage.models import Base, JobRow, LedgerEntry, LedgerKind, User
from storage.prepared import Prepared

__all__ = ["QuotaLedger", "UserRecord", "UserUsage", "LedgerTotals", "refresh_allowance", "add_entry", "upsert_user",
           "balance_of", "changed_rows", "ACTIVE"]

ACTIVE = ("queued", "running")

# Built once: SQLAlchemy caches the compiled form by the statement's cache key, which is memoised
# on the (immutable) statement object, so the hot paths skip building and keying statements. The
# ones that return no ORM object are Core statements on the tables: through the ORM (bulk UPDATE,
# bulk INSERT, column SELECT) each cost several times as much on the writer thread, for nothing.
_users = Base.metadata.tables[User.__tablename__]
_ledger = Base.metadata.tables[LedgerEntry.__tablename__]
_jobs = Base.metadata.tables[JobRow.__tablename__]
_BALANCE = select(_users.c.balance).where(_users.c.id == bindparam("uid"))
# a balance read that a write then depends on: PostgreSQL locks the row until the commit, so no
# concurrent reservation slips in between (SQLite's compiler leaves FOR UPDATE out: one writer)
_BALANCE_FOR_UPDATE = select(_users.c.balance).where(_users.c.id == bindparam("uid")).with_for_update()
_CHANGE_BALANCE = update(_users).where(_users.c.id == bindparam("uid")).values(
    balance=_users.c.balance + bindparam("amount"))
_CLAIM_DAY = update(_users).where(_users.c.id == bindparam("uid"), _users.c.allowance_day != bindparam("day")).values(
    allowance_day=bindparam("day"))
_USER_BY_PLATFORM = select(User).where(User.platform == bindparam("platform"),
                                       User.platform_user_id == bindparam("puid"))
_RENAME = update(_users).where(_users.c.id == bindparam("uid")).values(name=bindparam("name"))
_IN_FLIGHT = select(func.count()).select_from(_jobs).where(_jobs.c.user_id == bindparam("uid"),
                                                          _jobs.c.status.in_(ACTIVE))

# the same, for the submission's path: run on the driver's cursor (storage.prepared)
_READ_BALANCE = Prepared(_BALANCE)
_LOCK_BALANCE = Prepared(_BALANCE_FOR_UPDATE)
_MOVE_BALANCE = Prepared(_CHANGE_BALANCE)
_CLAIM = Prepared(_CLAIM_DAY)
_USER_ROW = Prepared(
    select(_users.c.id, _users.c.name, _users.c.balance, _users.c.allowance_day, _users.c.created_at)
    .where(_users.c.platform == bindparam("platform"), _users.c.platform_user_id == bindparam("puid")))
_RENAME_USER = Prepared(_RENAME)
_NEW_USER = Prepared(insert(_users).values(
    {name: bindparam(name) for name in ("platform", "platform_user_id", "name", "balance", "allowance_day",
                                        "created_at")}).returning(_users.c.id))
# every column named: a prepared INSERT applies no Python-side defaults
_NEW_ENTRY = Prepared(insert(_ledger).values({name: bindparam(name) for name in
                                             ("user_id", "job_id", "kind", "amount", "credits", "note", "at")}))


@dataclass(frozen=True)
class UserRecord:
    id: int
    platform: str
    platform_user_id: str
    name: str
    balance: int


@dataclass(frozen=True)
class UserUsage:
    """One user as the operator console lists them: the balance as `peek_quota` would find it
    (today's allowance counted, not made) and the credits taken since `since` (reserved minus refunded)."""

    user: UserRecord
    balance: int
    used: int
    jobs: int


@dataclass(frozen=True)
class LedgerTotals:
    reserved: int
    settled: int  # credits charged for finished jobs
    refunded: int
    granted: int
    allowance: int
    balances: int  # sum of users.balance
    entries_sum: int  # sum of ledger amounts: equals `balances` when the ledger is consistent

    @property
    def balanced(self) -> bool:
        return self.entries_sum == self.balances


def changed_rows(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE (without RETURNING) changed. `Session.execute` is typed to
    return a plain Result, but for such a statement it is a CursorResult, which has the count."""
    if not isinstance(result, CursorResult):
        raise TypeError(f"not the result of an UPDATE or DELETE: {type(result).__name__}")
    return result.rowcount


def balance_of(session: Session, user_id: int, *, lock: bool = False) -> int:
    """The user's balance; `lock=True` (inside a write unit of work) when a write depends on it."""
    balance = (_LOCK_BALANCE if lock else _READ_BALANCE).scalar(session, {"uid": user_id})
    if balance is None:
        raise LookupError(f"no user {user_id}")
    return int(balance)


def add_entry(
    session: Session, user_id: int, kind: str, amount: int, credits: int, now: float,
    *, job_id: str | None = None, note: str = "", applied: bool = False,
) -> None:
    """Change the balance by `amount` and record why. Call inside a write unit of work.

    `applied=True`: the balance was already changed by the caller's conditional UPDATE."""
    if amount and not applied:
        _MOVE_BALANCE.rowcount(session, {"uid": user_id, "amount": amount})
    _NEW_ENTRY.rowcount(session, {"user_id": user_id, "job_id": job_id, "kind": kind, "amount": amount,
                                  "credits": credits, "note": note, "at": now})


def refresh_allowance(session: Session, user_id: int, day: str, daily: int, now: float) -> None:
    """Top the balance up to `daily` once per quota `day`. Call inside a write unit of work."""
    if _CLAIM.rowcount(session, {"uid": user_id, "day": day}) != 1 or daily <= 0:
        return
    balance = balance_of(session, user_id)  # the claim above holds the row's lock
    if balance < daily:
        add_entry(session, user_id, LedgerKind.ALLOWANCE, daily - balance, daily - balance, now,
                  note=f"daily allowance {day}")


def upsert_user(session: Session, platform: str, platform_user_id: str, name: str, now: float) -> dict[str, Any]:
    """The user's row as column values: created on first sight (balance 0 until the allowance tops
    it up) and renamed when a non-empty `name` differs. Call inside a write unit of work; prepared
    statements (storage.prepared), as it runs in every submission.

    Under PostgreSQL two transactions may create the same user at once: the loser's INSERT raises
    IntegrityError and the caller runs its unit again (it then finds the row)."""
    wanted = name[:128]
    found = _USER_ROW.first(session, {"platform": platform, "puid": platform_user_id})
    if found is None:
        row: dict[str, Any] = dict(platform=platform, platform_user_id=platform_user_id, name=wanted, balance=0,
                                   allowance_day="", created_at=now)
        created = _NEW_USER.first(session, row)
        assert created is not None  # INSERT ... RETURNING
        return {"id": int(created[0]), **row}
    uid, current, balance, allowance_day, created_at = found
    if wanted and current != wanted:
        _RENAME_USER.rowcount(session, {"uid": uid, "name": wanted})
        current = wanted
    return dict(id=uid, platform=platform, platform_user_id=platform_user_id, name=current, balance=balance,
                allowance_day=allowance_day, created_at=created_at)


def _record(row: User, balance: int | None = None) -> UserRecord:
    return UserRecord(row.id, row.platform, row.platform_user_id, row.name,
                      row.balance if balance is None else balance)


class QuotaLedger:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def ensure_user(self, platform: str, platform_user_id: str, name: str, now: float) -> UserRecord:
        """The user's row, created on first sight (balance 0 until the allowance tops it up)."""
        def read(session: Session) -> UserRecord | None:
            row = session.execute(_USER_BY_PLATFORM, {"platform": platform, "puid": platform_user_id}
                                  ).scalar_one_or_none()
            return None if row is None or (name and row.name != name[:128]) else _record(row)

        found = await self._db.read(read)
        if found is not None:
            return found
        return await self._db.write(lambda s: _record(User(**upsert_user(s, platform, platform_user_id, name, now))),
                                    retry_conflict=True)

    async def balance(self, user_id: int, *, day: str, daily: int, now: float) -> int:
        def work(session: Session) -> int:
            refresh_allowance(session, user_id, day, daily, now)
            return balance_of(session, user_id)

        return await self._db.write(work)

    async def quota(self, platform: str, platform_user_id: str, *, day: str, daily: int,
                    now: float) -> tuple[UserRecord, int]:
        """(user with the allowance applied, jobs in flight), in one unit of work."""
        def work(session: Session) -> tuple[UserRecord, int]:
            row = User(**upsert_user(session, platform, platform_user_id, "", now))
            refresh_allowance(session, row.id, day, daily, now)
            in_flight = int(session.execute(_IN_FLIGHT, {"uid": row.id}).scalar_one())
            return _record(row, balance_of(session, row.id)), in_flight

        return await self._db.write(work, retry_conflict=True)

    async def peek_quota(self, platform: str, platform_user_id: str, *, day: str, daily: int) -> tuple[int, int]:
        """(balance, jobs in flight) as `quota` would find them, without writing anything: a user not
        seen yet has a new user's balance (the allowance), and today's top-up is counted, not made."""
        def read(session: Session) -> tuple[int, int]:
            row = session.execute(_USER_BY_PLATFORM, {"platform": platform, "puid": platform_user_id}
                                  ).scalar_one_or_none()
            if row is None:
                return max(0, daily), 0
            balance = row.balance
            if row.allowance_day != day and daily > 0:  # what refresh_allowance would top up to
                balance = max(balance, daily)
            return balance, int(session.execute(_IN_FLIGHT, {"uid": row.id}).scalar_one())

        return await self._db.read(read)

    async def grant(self, user_id: int, credits: int, now: float, *, day: str, daily: int, note: str = "") -> int:
        """Add (or with a negative amount, remove down to 0) credits; returns the new balance."""
        def work(session: Session) -> int:
            refresh_allowance(session, user_id, day, daily, now)
            balance = balance_of(session, user_id, lock=True)  # a removal is capped by what is there now
            amount = max(credits, -balance)
            add_entry(session, user_id, LedgerKind.GRANT, amount, abs(amount), now, note=note[:500])
            return balance + amount

        return await self._db.write(work)

    async def in_flight(self, user_id: int) -> int:
        return await self._db.read(lambda s: int(s.execute(_IN_FLIGHT, {"uid": user_id}).scalar_one()))

    async def entries(self, user_id: int) -> list[LedgerEntry]:
        return await self._db.read(lambda s: list(s.execute(
            select(LedgerEntry).where(LedgerEntry.user_id == user_id).order_by(LedgerEntry.id)).scalars()))

    async def find_user(self, platform: str, platform_user_id: str) -> UserRecord | None:
        def read(session: Session) -> UserRecord | None:
            row = session.execute(_USER_BY_PLATFORM, {"platform": platform, "puid": platform_user_id}
                                  ).scalar_one_or_none()
            return None if row is None else _record(row)

        return await self._db.read(read)

    async def usage(self, *, since: float, day: str, daily: int, limit: int = 200) -> list[UserUsage]:
        """Users with their balance and the credits they used since `since`, the biggest users first.
        Read only, like `peek_quota`."""
        def read(session: Session) -> list[UserUsage]:
            spent = (select(LedgerEntry.user_id, func.coalesce(func.sum(-LedgerEntry.amount), 0).label("used"),
                            func.count(LedgerEntry.job_id.distinct()).label("jobs"))
                     .where(LedgerEntry.at >= since, LedgerEntry.kind.in_((LedgerKind.RESERVE, LedgerKind.REFUND)))
                     .group_by(LedgerEntry.user_id).subquery())
            rows = session.execute(
                select(User, func.coalesce(spent.c.used, 0), func.coalesce(spent.c.jobs, 0))
                .outerjoin(spent, spent.c.user_id == User.id)
                .order_by(func.coalesce(spent.c.used, 0).desc(), User.id).limit(limit)).all()
            out = []
            for user, used, jobs in rows:
                balance = max(user.balance, daily) if user.allowance_day != day and daily > 0 else user.balance
                out.append(UserUsage(_record(user), balance, int(used), int(jobs)))
            return out

        return await self._db.read(read)

    async def totals(self) -> LedgerTotals:
        """Ledger-wide sums, for the benchmark and the consistency tests."""
        def read(session: Session) -> LedgerTotals:
            by_kind = dict(session.execute(
                select(LedgerEntry.kind, func.coalesce(func.sum(LedgerEntry.credits), 0)).group_by(LedgerEntry.kind)
            ).all())
            entries_sum = session.execute(select(func.coalesce(func.sum(LedgerEntry.amount), 0))).scalar_one()
            balances = session.execute(select(func.coalesce(func.sum(User.balance), 0))).scalar_one()
            return LedgerTotals(
                reserved=int(by_kind.get(LedgerKind.RESERVE, 0)), settled=int(by_kind.get(LedgerKind.SETTLE, 0)),
                refunded=int(by_kind.get(LedgerKind.REFUND, 0)), granted=int(by_kind.get(LedgerKind.GRANT, 0)),
                allowance=int(by_kind.get(LedgerKind.ALLOWANCE, 0)), balances=int(balances),
                entries_sum=int(entries_sum),
            )

        return await self._db.read(read)
