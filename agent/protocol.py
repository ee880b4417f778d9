"""The wire contract between the chat bots and the agent: statuses, error codes, JSON shapes.

Dependency-free on purpose (stdlib only): `bot/` imports this module without pulling in the agent,
SQLAlchemy or the providers. The shapes are documented as `TypedDict`s; the agent builds plain dicts
that match them.

    POST   /v1/jobs                              -> 202 Job            (idempotent on request_id)
    GET    /v1/jobs/{id}                         -> 200 Job
    GET    /v1/jobs/{id}/events                  -> text/event-stream of Event (id: = seq), ending with
                                                    the terminal Event (Last-Event-ID: 0..2^63-1)
    GET    /v1/jobs/{id}/video                   -> video/mp4 (Range) | 404 | 409 not_ready | 416
    DELETE /v1/jobs/{id}                         -> 202 Job (cancelled) | 409 already_finished
    GET    /v1/status                            -> 200 status
    GET    /v1/users/{platform}/{id}/quota       -> 200 Quota          (read only: an unknown user is new)
    POST   /v1/users/{platform}/{id}/credits     -> 200 Quota          (admin grant {amount, note?})

Every error is `{"error": {"code": ErrorCode, "message": str, ...}}`; 429s and the 503s
add `retry_after_s` (and a `Retry-After` header), `quota_exceeded` also `balance`, `price` and
`resets_at`, 409s `job_status`, and 400s add `field` when one input is at fault; the 416
`range_not_satisfiable` has a `Content-Range: bytes */SIZE` header.
"""

from __future__ import annotations

import enum
import json
from typing import Any, TypedDict

__all__ = [
    "API_PREFIX",
    "JobStatus",
    "TERMINAL_STATUSES",
    "ErrorCode",
    "UserRef",
    "JobOptions",
    "SubmitRequest",
    "JobResultInfo",
    "JobErrorInfo",
    "Event",
    "Job",
    "Quota",
    "format_sse",
    "parse_sse_block",
]

API_PREFIX = "/v1"


class JobStatus(str, enum.Enum):
    """Where a job is. Only forward: queued -> running -> done | failed | cancelled."""

    QUEUED = "queued"  # accepted, credits reserved, waiting for a worker
    RUNNING = "running"  # a worker is running the pipeline (or will resume it after a restart)
    DONE = "done"  # the video is ready; credits settled
    FAILED = "failed"  # gave up (every provider failed, render failed, timeout, restart); refunded
    CANCELLED = "cancelled"  # the user (or a bot) cancelled it; refunded

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset({JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED})


class ErrorCode(str, enum.Enum):
    """`error.code` values. A bot chooses its wording from the code, never from the message."""

    BAD_REQUEST = "bad_request"  # 400: malformed JSON or a missing/ill-typed field
    INVALID_INPUT = "invalid_input"  # 400: a value a user can fix (topic, aspect, model...); see `field`
    UNAUTHORIZED = "unauthorized"  # 401: missing or wrong bearer token
    NOT_FOUND = "not_found"  # 404: no such job (or route)
    VIDEO_EXPIRED = "video_expired"  # 404: the video was deleted after the retention period
    NOT_READY = "not_ready"  # 409: the video does not exist yet
    ALREADY_FINISHED = "already_finished"  # 409: cancel on a job that is done or failed
    PAYLOAD_TOO_LARGE = "payload_too_large"  # 413
    RANGE_NOT_SATISFIABLE = "range_not_satisfiable"  # 416: the Range asks for bytes the video does not have
    QUOTA_EXCEEDED = "quota_exceeded"  # 429: not enough credits; retry_after_s = until the reset
    TOO_MANY_JOBS = "too_many_jobs"  # 429: the user's in-flight limit; retry_after_s = a guess
    QUEUE_FULL = "queue_full"  # 503: the agent's queue is full; retry_after_s
    STORAGE_UNAVAILABLE = "storage_unavailable"  # 503: the agent's database cannot store anything now
    # (its disk is full); nothing was changed or charged; retry_after_s
    DISK_FULL = "disk_full"  # 503 on submit, or a job error: the agent's data directory is below
    # agent.min_free_disk_mb; nothing charged / refunded
    # job errors (Event.error.code / Job.error.code); always refunded
    ALL_PROVIDERS_FAILED = "all_providers_failed"  # no backend could serve a stage
    RENDER_FAILED = "render_failed"  # the encoder failed
    TIMEOUT = "timeout"  # the job ran past agent.job_timeout_s
    CANCELLED = "cancelled"  # cancelled by request
    AGENT_RESTARTED = "agent_restarted"  # interrupted by a restart with nothing on disk to resume
    QUARANTINED = "quarantined"  # interrupted by crashes more than agent.max_recoveries times: never rerun
    INTERNAL = "internal"  # a bug on our side


class UserRef(TypedDict, total=False):
    platform: str  # "discord" | "telegram" | ... (1-32 chars, [a-z0-9_-])
    id: str  # the platform's user id, as text (1-64 chars)
    name: str  # display name, optional, informational


class JobOptions(TypedDict, total=False):
    mode: str  # "slideshow" | "video"
    model: str  # a route name from the agent's config ("self-hosted", ...)
    aspect: str  # "9:16" | "16:9" | "1:1"
    voice: str
    length: str  # "short" | "medium" | "long"
    max_bytes: int  # the upload limit the video must fit


class SubmitRequest(TypedDict, total=False):
    request_id: str  # the bot's idempotency key (1-128 chars), unique per user
    user: UserRef
    topic: str  # 1-300 characters, no control characters
    options: JobOptions


class JobResultInfo(TypedDict):
    title: str
    duration_s: float
    bytes: int
    width: int
    height: int
    provenance: dict[str, dict[str, int]]  # stage -> provider -> items served
    provenance_line: str  # "script: ollama, image: comfyui, ..."
    credits_charged: int
    credits_left: int | None  # None for admins (exempt)
    video_url: str  # path on the agent: /v1/jobs/{id}/video
    download_url: str | None  # agent.public_url + video_url when configured


class JobErrorInfo(TypedDict, total=False):
    code: str  # an ErrorCode value
    message: str  # safe to show to the user
    refunded: bool
    credits_refunded: int  # terminal event only
    credits_left: int | None  # terminal event only; None for admins


class Event(TypedDict, total=False):
    seq: int  # 1, 2, 3... per job, the SSE `id:`; after an agent crash it jumps ahead, never repeats
    job_id: str
    status: str  # JobStatus
    stage: str  # queued | script | image | clip | voice | render | done | failed | cancelled
    progress: float  # the whole job, 0..1
    message: str
    provider: str  # who served the latest item, "" when none
    at: str  # ISO 8601 UTC
    position: int | None  # 1-based place in the queue while queued, else None
    done: int  # items finished in the stage (images 3/7); progress events only
    total: int
    stage_done: bool  # the event that finishes its stage
    result: JobResultInfo  # terminal event of a done job only
    error: JobErrorInfo  # terminal event of a failed or cancelled job only
    refunded: bool  # terminal event of a failed or cancelled job only


class Job(TypedDict, total=False):
    id: str
    request_id: str
    status: str
    stage: str
    progress: float
    message: str
    position: int | None
    user: UserRef
    topic: str
    options: JobOptions
    route: str
    price: int  # credits reserved at submission
    cost: int  # credits charged once done, the reserved price before
    credits: dict[str, int]  # {"reserved", "charged", "refunded"}
    refunded: bool  # failed or cancelled (always refunded), or any credits given back
    providers: dict[str, dict[str, int]]  # provenance so far / final
    result: JobResultInfo | None
    error: JobErrorInfo | None
    last_seq: int
    created_at: str
    started_at: str | None
    finished_at: str | None
    events_url: str
    video_url: str
    video_expired: bool  # the files were deleted after the retention period
    # done jobs also carry flat copies of the result: title, duration_s, width, height,
    # credits_left, download_url, size_bytes (= result.bytes)


class Quota(TypedDict):
    platform: str
    user_id: str
    admin: bool  # exempt from prices and limits
    balance: int  # credits left now (after today's allowance)
    daily_credits: int
    in_flight: int
    max_in_flight: int
    resets_at: str  # ISO 8601 UTC of the next allowance reset
    resets_in_s: int
    prices: dict[str, dict[str, Any]]  # route -> {"label", "price", "mode", "available"}
    credits_left: int  # the same as balance (agent.api)


def format_sse(event: Event) -> bytes:
    """One SSE message: `id: <seq>` and one `data:` line of JSON."""
    data = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
    return f"id: {event['seq']}\ndata: {data}\n\n".encode()


def parse_sse_block(block: str) -> tuple[int | None, Event | None]:
    """Parse one SSE message (text between blank lines) -> (id, event); comments give (None, None)."""
    event_id: int | None = None
    data_lines: list[str] = []
    for line in block.splitlines():
        if not line or line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "id" and value.isdigit():
            event_id = int(value)
        elif name == "data":
            data_lines.append(value)
    if not data_lines:
        return event_id, None
    return event_id, json.loads("\n".join(data_lines))
