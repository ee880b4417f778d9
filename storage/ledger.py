"""The credit ledger: users' balances changed only together with a ledger entry, atomically.

Policy (prices, allowance size, reset hour, admins) lives in `agent.quota`; this module only does
the SQL. Every balance change is a conditional UPDATE on `users.balance` plus an INSERT into
`ledger_entries` in the same transaction, so `balance == sum(amount)` always holds, concurrent
reservations can never overspend (`... WHERE balance >= :price`), and the SQL stays portable
(SQLite and PostgreSQL both serialise the UPDATE on the user's row).

The daily allowance tops the balance up to the allowance once per quota day (credits granted by
an admin above that level are kept). The first statement of every unit of work that reads a
balance is a write, so it reads under the lock (see storage.engine).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.engine import Database
from storage.models import JobRow, LedgerEntry, LedgerKind, User

__all__ = ["QuotaLedger", "UserRecord", "LedgerTotals", "refresh_allowance", "add_entry"]

ACTIVE = ("queued", "running")


@dataclass(frozen=True)
class UserRecord:
    id: int
    platform: str
    platform_user_id: str
    name: str
    balance: int


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


async def add_entry(
    session: AsyncSession, user_id: int, kind: str, amount: int, credits: int, now: float,
    *, job_id: str | None = None, note: str = "", applied: bool = False,
) -> None:
    """Change the balance by `amount` and record why. Call inside a transaction.

    `applied=True`: the balance was already changed by the caller's conditional UPDATE."""
    if amount and not applied:
        await session.execute(update(User).where(User.id == user_id).values(balance=User.balance + amount))
    session.add(LedgerEntry(user_id=user_id, job_id=job_id, kind=kind, amount=amount, credits=credits,
                            note=note, at=now))


async def refresh_allowance(session: AsyncSession, user_id: int, day: str, daily: int, now: float) -> None:
    """Top the balance up to `daily` once per quota `day`. Call first in a transaction: it writes."""
    claimed = await session.execute(
        update(User).where(User.id == user_id, User.allowance_day != day).values(allowance_day=day)
    )
    if claimed.rowcount != 1 or daily <= 0:
        return
    balance = (await session.execute(select(User.balance).where(User.id == user_id))).scalar_one()
    if balance < daily:
        await add_entry(session, user_id, LedgerKind.ALLOWANCE, daily - balance, daily - balance, now,
                        note=f"daily allowance {day}")


class QuotaLedger:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def ensure_user(self, platform: str, platform_user_id: str, name: str, now: float) -> UserRecord:
        """The user's row, created on first sight (balance 0 until the allowance tops it up)."""
        async with self._db.sessions() as session:
            row = (await session.execute(
                select(User).where(User.platform == platform, User.platform_user_id == platform_user_id)
            )).scalar_one_or_none()
            if row is None:
                await session.rollback()  # end the read; the insert goes through the writer queue
                try:
                    async with self._db.writing() as writer:
                        writer.add(User(platform=platform, platform_user_id=platform_user_id, name=name[:128],
                                        balance=0, allowance_day="", created_at=now))
                except IntegrityError:  # created concurrently: use that one
                    pass
                row = (await session.execute(
                    select(User).where(User.platform == platform, User.platform_user_id == platform_user_id)
                )).scalar_one()
            elif name and row.name != name[:128]:
                await session.rollback()
                async with self._db.writing() as writer:
                    await writer.execute(update(User).where(User.id == row.id).values(name=name[:128]))
            return UserRecord(row.id, row.platform, row.platform_user_id, row.name, row.balance)

    async def balance(self, user_id: int, *, day: str, daily: int, now: float) -> int:
        async with self._db.writing() as session:
            await refresh_allowance(session, user_id, day, daily, now)
            return (await session.execute(select(User.balance).where(User.id == user_id))).scalar_one()

    async def grant(self, user_id: int, credits: int, now: float, *, day: str, daily: int, note: str = "") -> int:
        """Add (or with a negative amount, remove down to 0) credits; returns the new balance."""
        async with self._db.writing() as session:
            await refresh_allowance(session, user_id, day, daily, now)
            balance = (await session.execute(select(User.balance).where(User.id == user_id))).scalar_one()
            amount = max(credits, -balance)
            await add_entry(session, user_id, LedgerKind.GRANT, amount, abs(amount), now, note=note[:500])
            return balance + amount

    async def in_flight(self, user_id: int) -> int:
        async with self._db.sessions() as session:
            return (await session.execute(
                select(func.count()).select_from(JobRow).where(JobRow.user_id == user_id, JobRow.status.in_(ACTIVE))
            )).scalar_one()

    async def entries(self, user_id: int) -> list[LedgerEntry]:
        async with self._db.sessions() as session:
            return list((await session.execute(
                select(LedgerEntry).where(LedgerEntry.user_id == user_id).order_by(LedgerEntry.id)
            )).scalars())

    async def totals(self) -> LedgerTotals:
        """Ledger-wide sums, for the benchmark and the consistency tests."""
        async with self._db.sessions() as session:
            by_kind = dict((await session.execute(
                select(LedgerEntry.kind, func.coalesce(func.sum(LedgerEntry.credits), 0)).group_by(LedgerEntry.kind)
            )).all())
            entries_sum = (await session.execute(select(func.coalesce(func.sum(LedgerEntry.amount), 0)))).scalar_one()
            balances = (await session.execute(select(func.coalesce(func.sum(User.balance), 0)))).scalar_one()
        return LedgerTotals(
            reserved=int(by_kind.get(LedgerKind.RESERVE, 0)), settled=int(by_kind.get(LedgerKind.SETTLE, 0)),
            refunded=int(by_kind.get(LedgerKind.REFUND, 0)), granted=int(by_kind.get(LedgerKind.GRANT, 0)),
            allowance=int(by_kind.get(LedgerKind.ALLOWANCE, 0)), balances=int(balances),
            entries_sum=int(entries_sum),
        )
