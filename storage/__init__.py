"""storage: the agent's durable state (SQLAlchemy 2 async; SQLite by default, PostgreSQL by URL).

    open_database(url)  -> Database (engine + session factory; migrations applied)
    JobStore(db)        jobs, events, attempts, and the credit moves tied to a job
    QuotaLedger(db)     users, balances, grants, allowances, ledger totals
"""

from storage.engine import Database, create_engine, open_database
from storage.jobs import AttemptRecord, Finish, JobStore, NewJob, ProgressBatch, SubmitOutcome, UserKey
from storage.ledger import LedgerTotals, QuotaLedger, UserRecord

__all__ = [
    "Database",
    "create_engine",
    "open_database",
    "JobStore",
    "NewJob",
    "UserKey",
    "SubmitOutcome",
    "Finish",
    "ProgressBatch",
    "AttemptRecord",
    "QuotaLedger",
    "UserRecord",
    "LedgerTotals",
]
