"""The distributed mode's queue engine: procrastinate on the same PostgreSQL as the ledger.

Shared by the front door (agent.service.cluster: enqueue at submit, cancel) and the workers
(agent.worker: take jobs, heartbeats, stalled jobs). Nothing here is imported in the embedded default.

    queue_for(route)      one procrastinate queue per route: a worker listens on the routes it serves
    enqueue_in(session)   procrastinate's own defer SQL function, called inside storage's unit of work
                          that reserves the credits, so the reservation and the queued job commit together
    open_queue(url)       a procrastinate App on the database, its schema applied when missing

Why procrastinate: it keeps its queue in PostgreSQL, the one service the ledger needs anyway; a job
and its credit reservation commit in one transaction; LISTEN/NOTIFY wakes idle workers at once;
workers heartbeat in `procrastinate_workers` and a job of a silent worker is found by
`get_stalled_jobs` and put back with `retry_job` (the lease); cancel and abort are built in.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

if TYPE_CHECKING:
    import procrastinate

__all__ = ["TASK_NAME", "QUEUE_PREFIX", "queue_for", "route_of_queue", "libpq_url", "enqueue_in", "open_queue",
           "load_engine"]

log = logging.getLogger(__name__)

TASK_NAME = "reelbot.run_job"
QUEUE_PREFIX = "route:"

# procrastinate's defer function (the one its own `defer_async` calls), so the job row is inserted by
# the engine's SQL, its NOTIFY trigger included, inside our transaction
_DEFER = text(
    "SELECT (procrastinate_defer_jobs_v1(ARRAY[ROW(CAST(:queue AS varchar), CAST(:task AS varchar), 0, "
    "CAST(NULL AS text), CAST(NULL AS text), CAST(:args AS jsonb), CAST(NULL AS timestamptz))"
    "::procrastinate_job_to_defer_v1]))[1]"
)


def queue_for(route: str) -> str:
    return f"{QUEUE_PREFIX}{route}"


def route_of_queue(queue: str) -> str:
    return queue.removeprefix(QUEUE_PREFIX)


def libpq_url(database_url: str) -> str:
    """The SQLAlchemy URL (postgresql+asyncpg://...) as libpq takes it (postgresql://...), with its
    query (sslmode=verify-full, sslrootcert=...) kept. asyncpg spells TLS `ssl=`; libpq `sslmode=`."""
    url = make_url(database_url).set(drivername="postgresql")
    query = dict(url.query)
    if "ssl" in query and "sslmode" not in query:
        query["sslmode"] = query.pop("ssl")
    return url.set(query=query).render_as_string(hide_password=False)


def enqueue_in(session: Session, *, job_id: str, route: str) -> int:
    """Queue a run of `job_id` on its route's queue, inside the caller's transaction; the queue's id."""
    args = json.dumps({"job_id": job_id})
    return int(session.execute(_DEFER, {"queue": queue_for(route), "task": TASK_NAME, "args": args}).scalar_one())


@contextlib.asynccontextmanager
async def open_queue(database_url: str, *, pool_size: int = 4) -> AsyncIterator[procrastinate.App]:
    """A procrastinate App on the database, opened, its schema applied if this is the first use."""
    procrastinate = await load_engine()
    connector = procrastinate.PsycopgConnector(conninfo=libpq_url(database_url), min_size=1, max_size=pool_size)
    app = procrastinate.App(connector=connector)
    async with app.open_async():
        await _ensure_schema(app)
        yield app


async def load_engine() -> Any:
    """The procrastinate package, imported off the loop the first time (an import reads files)."""
    import importlib

    await asyncio.to_thread(importlib.import_module, "procrastinate.worker")
    return await asyncio.to_thread(importlib.import_module, "procrastinate")


async def _ensure_schema(app: procrastinate.App) -> None:
    row = await app.connector.execute_query_one_async("SELECT to_regclass('procrastinate_jobs') IS NOT NULL AS ok")
    if row["ok"]:
        return
    log.info("applying the procrastinate schema (first use of this database by the distributed mode)")
    try:
        # what SchemaManager.apply_schema_async does, with its file read off the loop
        schema = await asyncio.to_thread(app.schema_manager.get_schema)
        await app.connector.execute_query_async(query=schema.replace("%", "%%"))
    except Exception:  # another front door or worker applied it at the same moment
        row = await app.connector.execute_query_one_async(
            "SELECT to_regclass('procrastinate_jobs') IS NOT NULL AS ok")
        if not row["ok"]:
            raise
