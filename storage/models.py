"""ORM models: users, jobs, job events, provider attempts and the credit ledger.

Portable types only (Integer, String, Text, Float, DateTime) so the same schema runs on SQLite and
PostgreSQL. Times are stored as UTC epoch seconds (Float): no timezone handling differs by backend.
JSON payloads are stored as Text and parsed by the store, for the same reason.

Credits: `users.balance` is the spendable balance, changed only together with a `ledger_entries`
row in the same transaction, so `balance == sum(ledger_entries.amount)` for every user.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = ["Base", "User", "JobRow", "JobEventRow", "ProviderAttemptRow", "LedgerEntry", "LedgerKind",
           "ClusterWorkerRow"]


class Base(DeclarativeBase):
    pass


class LedgerKind:
    """`ledger_entries.kind` values. `amount` is the signed change to the balance."""

    RESERVE = "reserve"  # -price at submission
    SETTLE = "settle"  # 0; `credits` = what the job was charged
    REFUND = "refund"  # +credits back: failure, cancel, timeout, or the cheaper-tier difference
    GRANT = "grant"  # +credits from an admin
    ALLOWANCE = "allowance"  # +top-up to the daily allowance at the reset hour


class User(Base):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("platform", "platform_user_id", name="uq_users_platform_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    platform: Mapped[str] = mapped_column(String(32))
    platform_user_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(128), default="")
    balance: Mapped[int] = mapped_column(Integer, default=0)
    allowance_day: Mapped[str] = mapped_column(String(16), default="")  # the quota day last topped up
    created_at: Mapped[float] = mapped_column(Float)


class JobRow(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("user_id", "request_id", name="uq_jobs_user_request"),
        Index("ix_jobs_status_created", "status", "created_at"),
        Index("ix_jobs_user_status", "user_id", "status"),
        Index("ix_jobs_finished", "finished_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(128))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    topic: Mapped[str] = mapped_column(Text)
    options: Mapped[str] = mapped_column(Text, default="{}")  # JSON: the resolved options
    route: Mapped[str] = mapped_column(String(64))
    price: Mapped[int] = mapped_column(Integer, default=0)  # reserved at submission
    charged: Mapped[int | None] = mapped_column(Integer, nullable=True)
    refunded: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16))
    stage: Mapped[str] = mapped_column(String(16), default="queued")
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str] = mapped_column(Text, default="")
    provider: Mapped[str] = mapped_column(String(64), default="")
    last_seq: Mapped[int] = mapped_column(Integer, default=0)  # the last stored event
    # events up to this seq may have been streamed (agent.service.live): a restart numbers new events above it
    seq_reserved: Mapped[int] = mapped_column(Integer, default=0)
    result: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON
    error_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[float] = mapped_column(Float)
    started_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    finished_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    files_deleted_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    # times restart recovery resumed this job after a crash interrupted it (agent.max_recoveries)
    recoveries: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # the distributed mode (migration 0005): the run of the job that may write, who runs it, its
    # queue engine job, and the front door holding its video
    attempt: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    worker: Mapped[str | None] = mapped_column(String(128), nullable=True)
    queue_job_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    artifact_holder: Mapped[str | None] = mapped_column(String(512), nullable=True)


class JobEventRow(Base):
    __tablename__ = "job_events"
    __table_args__ = (UniqueConstraint("job_id", "seq", name="uq_job_events_job_seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"))
    seq: Mapped[int] = mapped_column(Integer)
    data: Mapped[str] = mapped_column(Text)  # the event's JSON, exactly as streamed


class ProviderAttemptRow(Base):
    __tablename__ = "provider_attempts"
    __table_args__ = (Index("ix_provider_attempts_job", "job_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"))
    stage: Mapped[str] = mapped_column(String(16))
    item: Mapped[str] = mapped_column(String(64))
    provider: Mapped[str] = mapped_column(String(64))
    tier: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text, default="")
    elapsed_s: Mapped[float] = mapped_column(Float, default=0.0)
    at: Mapped[float] = mapped_column(Float)


class LedgerEntry(Base):
    __tablename__ = "ledger_entries"
    __table_args__ = (Index("ix_ledger_user", "user_id"), Index("ix_ledger_job", "job_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id"), nullable=True)
    kind: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(Integer)  # signed change to users.balance
    credits: Mapped[int] = mapped_column(Integer)  # the magnitude this entry is about
    note: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[float] = mapped_column(Float)


class ClusterWorkerRow(Base):
    """One worker of the distributed mode, as its last heartbeat described it (JSON lists as Text)."""

    __tablename__ = "cluster_workers"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    started_at: Mapped[float] = mapped_column(Float)
    heartbeat_at: Mapped[float] = mapped_column(Float)
    state: Mapped[str] = mapped_column(String(16), default="up", server_default="up")  # agent.protocol.WorkerState
    routes: Mapped[str] = mapped_column(Text, default="[]", server_default="[]")
    backends: Mapped[str] = mapped_column(Text, default="[]", server_default="[]")
    jobs: Mapped[str] = mapped_column(Text, default="[]", server_default="[]")
    problem: Mapped[str] = mapped_column(Text, default="", server_default="")  # why it takes no job, in words
