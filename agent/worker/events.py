"""The events of a job in the distributed mode, built from the stored job alone.

A worker has no `LiveJob` (agent.service.live): the job lives in the database, so its events are
built from the row (`jobs`) and numbered by the database when stored (storage.cluster). The
terminal event is built inside the unit of work that stores the final state (`JobStore.finish`),
from the row as it is then: its seq follows the last stored one, and it carries the credits charged
or refunded. The front door builds the terminal event of a cancel with the same function.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from agent.protocol import ErrorCode, Event, JobError, JobResult, JobStatus, Stage, convert, to_builtins
from storage import Finish
from storage.models import JobRow

__all__ = ["iso_utc", "event_json", "terminal_event"]


def iso_utc(epoch_s: float) -> str:
    return dt.datetime.fromtimestamp(epoch_s, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def event_json(job_id: str, at: float, *, status: JobStatus = JobStatus.RUNNING, stage: str, progress: float,
               message: str, provider: str = "", **fields: Any) -> dict[str, Any]:
    """An event as stored, its seq still 0: storage.cluster numbers it when it stores it."""
    event = Event(seq=0, job_id=job_id, status=status, stage=Stage(stage), progress=round(float(progress), 4),
                  message=message, provider=provider, at=iso_utc(at), position=None, **fields)
    return to_builtins(event)


def terminal_event(row: JobRow, balance: int | None, fin: Finish, *, admin: bool) -> dict[str, Any]:
    """The closing event of the job in `row` (inside `JobStore.finish`, after settling)."""
    fields: dict[str, Any] = {}
    credits_left = None if admin else balance
    if fin.status == JobStatus.DONE.value:
        assert fin.result is not None
        result = convert(dict(fin.result, credits_charged=row.charged or 0, credits_left=credits_left), JobResult)
        fields.update(progress=1.0, message="done", result=result)
    else:
        refunded = row.refunded > 0
        fields.update(progress=row.progress, message=fin.error_message or fin.status, refunded=refunded,
                      error=JobError(code=ErrorCode(fin.error_code), message=fin.error_message or "",
                                     refunded=refunded, credits_refunded=row.refunded, credits_left=credits_left))
    event = Event(seq=row.last_seq + 1, job_id=row.id, status=JobStatus(fin.status), stage=Stage(fin.status),
                  provider="", at=iso_utc(fin.now), position=None, **fields)
    return to_builtins(event)
