"""The messages the agent sends, built from its state: jobs and events (the Structs of `agent.protocol`).

A job is described from its `LiveJob` while active, and from its stored row once finished; both
fill the same `Job` Struct, so the two can never drift apart. `json_response` sends any message.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from agent.service.live import LiveJob
from agent.protocol import (
    API_PREFIX,
    Credits,
    ErrorCode,
    Event,
    Job,
    JobError,
    JobResult,
    JobStatus,
    ResolvedOptions,
    ScriptView,
    Stage,
    UserRef,
    convert,
    encode,
)
from agent.service.quota import iso_utc
from storage.models import JobRow, User

__all__ = ["job_from_live", "job_from_row", "video_path", "make_event", "json_response"]


def video_path(job_id: str) -> str:
    return f"{API_PREFIX}/jobs/{job_id}/video"


def json_response(message: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    """A message (`agent.protocol` Struct) as the JSON answer, encoded once by the protocol's encoder."""
    return web.Response(body=encode(message), status=status, headers=headers, content_type="application/json")


def make_event(job: LiveJob, seq: int, at: float, **fields: Any) -> Event:
    """An event with the job's current state, then the event's own fields."""
    base: dict[str, Any] = {
        "seq": seq, "job_id": job.id, "status": job.status, "stage": Stage(job.stage),
        "progress": round(job.progress, 4), "message": "", "provider": "", "at": iso_utc(at),
        "position": job.position if job.status is JobStatus.QUEUED else None,
    }
    base.update(fields)
    base["status"], base["stage"] = JobStatus(base["status"]), Stage(base["stage"])
    base["progress"] = round(float(base["progress"]), 4)
    return Event(**base)


def _job(*, id: str, request_id: str, user: UserRef, topic: str, options: Mapping[str, Any], route: str, price: int,
         status: JobStatus, stage: str, progress: float, message: str, provider: str, position: int | None,
         last_seq: int, created_at: float, started_at: float | None, finished_at: float | None,
         providers: Mapping[str, Any], charged: int | None, refunded: int, result: JobResult | None,
         error: JobError | None, files_deleted: bool = False, script: ScriptView | None = None) -> Job:
    flat: dict[str, Any] = {}
    if result is not None:  # flat copies for simple clients
        flat = {"title": result.title, "duration_s": result.duration_s, "width": result.width,
                "height": result.height, "credits_left": result.credits_left, "download_url": result.download_url,
                "size_bytes": result.bytes}
    return Job(
        id=id, request_id=request_id, status=status, stage=Stage(stage), progress=round(progress, 4),
        message=message, provider=provider, position=position if status is JobStatus.QUEUED else None,
        user=user, topic=topic, options=convert(dict(options), ResolvedOptions), route=route,
        price=price,  # reserved at submission
        cost=charged if charged is not None else price,  # charged once done, else reserved
        credits=Credits(reserved=price, charged=charged or 0, refunded=refunded),
        refunded=refunded > 0,  # only credits actually given back: a free job's failure refunds nothing
        providers={k: dict(v) for k, v in providers.items()}, result=result, error=error, last_seq=last_seq,
        created_at=iso_utc(created_at) or "", started_at=iso_utc(started_at), finished_at=iso_utc(finished_at),
        events_url=f"{API_PREFIX}/jobs/{id}/events", video_url=video_path(id), video_expired=files_deleted,
        script=script, **flat,
    )


def job_from_live(job: LiveJob) -> Job:
    return _job(
        id=job.id, request_id=job.request_id, user=UserRef(platform=job.platform, id=job.platform_user_id,
                                                           name=job.user_name),
        topic=job.topic, options=job.options, route=job.route, price=job.price, status=job.status, stage=job.stage,
        progress=job.progress, message=job.message, provider=job.provider, position=job.position,
        last_seq=job.published_seq, created_at=job.created_at, started_at=job.started_at, finished_at=None,
        providers=job.provenance, charged=None, refunded=0, result=None, error=None, script=job.script,
    )


def job_from_row(row: JobRow, user: User) -> Job:
    result = convert(json.loads(row.result), JobResult) if row.result else None
    error = None
    if row.error_code:
        error = JobError(code=ErrorCode(row.error_code), message=row.error_message or "",
                         refunded=row.refunded > 0, credits_refunded=row.refunded)
    return _job(
        id=row.id, request_id=row.request_id, user=UserRef(platform=user.platform, id=user.platform_user_id,
                                                           name=user.name),
        topic=row.topic, options=json.loads(row.options or "{}"), route=row.route, price=row.price,
        status=JobStatus(row.status), stage=row.stage, progress=row.progress, message=row.message,
        provider=row.provider, position=None, last_seq=row.last_seq, created_at=row.created_at,
        started_at=row.started_at, finished_at=row.finished_at,
        providers=result.provenance if result is not None else {}, charged=row.charged, refunded=row.refunded,
        result=result, error=error,  # a failed job has no video to expire (its files go at once)
        files_deleted=row.files_deleted_at is not None and row.status == JobStatus.DONE.value,
    )

