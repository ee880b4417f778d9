"""The JSON the agent sends: jobs and events, in the shapes `agent.protocol` documents.

A job is described from its `LiveJob` while active, and from its stored row once finished; both go
through `job_json` so the two can never drift apart.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from agent.live import LiveJob
from agent.protocol import API_PREFIX, JobStatus
from agent.quota import iso_utc
from storage.models import JobRow, User

__all__ = ["job_json", "live_job_json", "row_job_json", "video_path", "make_event"]


def video_path(job_id: str) -> str:
    return f"{API_PREFIX}/jobs/{job_id}/video"


def make_event(job: LiveJob, seq: int, at: float, **fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "seq": seq, "job_id": job.id, "status": job.status.value, "stage": job.stage,
        "progress": round(job.progress, 4), "message": "", "provider": "", "at": iso_utc(at),
        "position": job.position if job.status is JobStatus.QUEUED else None,
    }
    event.update(fields)
    return event


def job_json(
    *, id: str, request_id: str, platform: str, platform_user_id: str, user_name: str, topic: str,
    options: Mapping[str, Any], route: str, price: int, status: str, stage: str, progress: float,
    message: str, provider: str, position: int | None, last_seq: int, created_at: float,
    started_at: float | None, finished_at: float | None, providers: Mapping[str, Any],
    charged: int | None, refunded: int, result: Mapping[str, Any] | None,
    error: Mapping[str, Any] | None, files_deleted: bool = False,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": id, "request_id": request_id, "status": status, "stage": stage,
        "progress": round(progress, 4), "message": message, "provider": provider,
        "position": position if status == JobStatus.QUEUED.value else None,
        "user": {"platform": platform, "id": platform_user_id, "name": user_name},
        "topic": topic, "options": dict(options), "route": route,
        "price": price,  # reserved at submission
        "cost": charged if charged is not None else price,  # charged once done, else reserved
        "credits": {"reserved": price, "charged": charged or 0, "refunded": refunded},
        "refunded": status in ("failed", "cancelled") or refunded > 0,
        "providers": dict(providers), "result": dict(result) if result else None,
        "error": dict(error) if error else None, "last_seq": last_seq,
        "created_at": iso_utc(created_at), "started_at": iso_utc(started_at),
        "finished_at": iso_utc(finished_at),
        "events_url": f"{API_PREFIX}/jobs/{id}/events", "video_url": video_path(id),
        "video_expired": files_deleted,
    }
    if result:  # flat copies for simple clients
        for key in ("title", "duration_s", "width", "height", "credits_left", "download_url"):
            out[key] = result.get(key)
        out["size_bytes"] = result.get("bytes")
    return out


def live_job_json(job: LiveJob) -> dict[str, Any]:
    return job_json(
        id=job.id, request_id=job.request_id, platform=job.platform, platform_user_id=job.platform_user_id,
        user_name=job.user_name, topic=job.topic, options=job.options, route=job.route, price=job.price,
        status=job.status.value, stage=job.stage, progress=job.progress, message=job.message,
        provider=job.provider, position=job.position, last_seq=job.published_seq, created_at=job.created_at,
        started_at=job.started_at, finished_at=None, providers=job.provenance, charged=None, refunded=0,
        result=None, error=None,
    )


def row_job_json(row: JobRow, user: User) -> dict[str, Any]:
    result = json.loads(row.result) if row.result else None
    error = None
    if row.error_code:
        error = {"code": row.error_code, "message": row.error_message or "", "refunded": row.refunded > 0
                 or row.price == 0}
    return job_json(
        id=row.id, request_id=row.request_id, platform=user.platform, platform_user_id=user.platform_user_id,
        user_name=user.name, topic=row.topic, options=json.loads(row.options or "{}"), route=row.route,
        price=row.price, status=row.status, stage=row.stage, progress=row.progress, message=row.message,
        provider=row.provider, position=None, last_seq=row.last_seq, created_at=row.created_at,
        started_at=row.started_at, finished_at=row.finished_at,
        providers=(result or {}).get("provenance", {}), charged=row.charged, refunded=row.refunded,
        result=result, error=error,  # a failed job has no video to expire (its files go at once)
        files_deleted=row.files_deleted_at is not None and row.status == JobStatus.DONE.value,
    )
