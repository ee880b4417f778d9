"""storage: the agent's durable state (SQLAlchemy 2 async; SQLite by default, PostgreSQL by URL).

    DatabaseLock        one process per database (an flock held for the process's life)
    open_database(url)  -> Database (engine + session factory; quick check; migrations applied)
    JobStore(db)        jobs, events, attempts, and the credit moves tied to a job
    QuotaLedger(db)     users, balances, grants, allowances, ledger totals
    errors              StorageError > StorageUnavailable > StorageFull, StorageCorrupt, DatabaseInUse
"""

from storage.engine import Database, create_engine, open_database
from storage.errors import DatabaseInUse, StorageCorrupt, StorageError, StorageFull, StorageUnavailable
from storage.health import StorageHealth, StorageState
from storage.jobs import AttemptRecord, Finish, JobStore, NewJob, ProgressBatch, SubmitOutcome, UserKey
from storage.ledger import LedgerTotals, QuotaLedger, UserRecord, UserUsage
from storage.lock import DatabaseLock

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
    "UserUsage",
    "LedgerTotals",
    "DatabaseLock",
    "StorageError",
    "StorageUnavailable",
    "StorageFull",
    "StorageCorrupt",
    "DatabaseInUse",
    "StorageHealth",
    "StorageState",
]
