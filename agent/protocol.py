"""The wire contract between the chat bots and the agent: every message once, as typed msgspec Structs.

Light on purpose (stdlib + msgspec only): `bot/` imports this module without pulling in the agent,
SQLAlchemy or the providers. The agent builds its answers from these classes and sends them with
`encode`; the bot reads them with `decode`; the fake agent in the tests and the benchmarks use the
same classes, and agent.service.openapi publishes them as an OpenAPI document (GET /v1/openapi.json).

    POST   /v1/jobs                              -> 202 Job            (idempotent on request_id)
    GET    /v1/jobs/{id}                         -> 200 Job
    GET    /v1/jobs/{id}/events                  -> text/event-stream of Event (id: = seq), ending with
                                                    the terminal Event (Last-Event-ID: 0..2^63-1)
    GET    /v1/jobs/{id}/video                   -> video/mp4 (Range) | 404 | 409 not_ready | 416
    DELETE /v1/jobs/{id}                         -> 202 Job (cancelled) | 409 already_finished
    GET    /v1/status                            -> 200 Status
    GET    /v1/users/{platform}/{id}/quota       -> 200 Quota          (read only: an unknown user is new)
    POST   /v1/users/{platform}/{id}/credits     -> 200 Quota          (admin grant {amount, note?})
    GET    /v1/openapi.json                      -> 200 the OpenAPI 3.1 document of all of the above

Every error is `ErrorBody` = `{"error": {"code": ErrorCode, "message": str, ...}}`; 429s and the 503s
add `retry_after_s` (and a `Retry-After` header), `quota_exceeded` also `balance`, `price` and
`resets_at`, 409s `job_status`, and 400s add `field` when one input is at fault; the 416
`range_not_satisfiable` has a `Content-Range: bytes */SIZE` header.

Decoding is tolerant (a field this side does not know is ignored, so an older bot keeps working
while the agent grows); `unknown_fields` is the strict check the contract tests run over every answer.
Requests the agent receives (`SubmitRequest`) forbid unknown fields.

Credits: `refunded` is true only when credits were actually given back (`credits_refunded` > 0). A
free job (price 0) or an admin's job that fails is not "refunded": nothing was charged.
"""

from __future__ import annotations

import enum
import json
from typing import Any, TypeVar

import msgspec

__all__ = [
    "API_PREFIX",
    "JobStatus",
    "TERMINAL_STATUSES",
    "Stage",
    "ErrorCode",
    "ServiceState",
    "WorkerState",
    "UserRef",
    "JobOptions",
    "SubmitRequest",
    "GrantRequest",
    "EditRequest",
    "ScriptView",
    "ChangeKind",
    "Change",
    "DeriveRequest",
    "DeriveQuote",
    "ResolvedOptions",
    "Credits",
    "JobResult",
    "JobError",
    "Event",
    "WorkerBackend",
    "WorkerInfo",
    "Job",
    "ErrorDetail",
    "ErrorBody",
    "RoutePrice",
    "Quota",
    "BackendStatus",
    "StageServe",
    "RouteStatus",
    "QueueInfo",
    "StorageInfo",
    "DataDirInfo",
    "Status",
    "MESSAGES",
    "encode",
    "decode",
    "convert",
    "to_builtins",
    "unknown_fields",
    "job_from_event",
    "format_sse",
    "sse_message",
    "sse_fields",
    "parse_sse_block",
    "parse_sse_event",
]

API_PREFIX = "/v1"
T = TypeVar("T")


class _WireEnum(str, enum.Enum):
    """A wire value: `str()` and f-strings give the value itself ("queue_full"), as sent."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


class JobStatus(_WireEnum):
    """Where a job is. Only forward: queued -> running -> done | failed | cancelled; a job submitted with
    `review` goes queued -> running (script) -> review -> running (approved) or back to running (rewrite)."""

    QUEUED = "queued"  # accepted, credits reserved, waiting for a worker
    RUNNING = "running"  # a worker is running the pipeline (or will resume it after a restart)
    REVIEW = "review"  # submitted with `review`: the script is written and waits for approve/rewrite/edit
    DONE = "done"  # the video is ready; credits settled
    FAILED = "failed"  # gave up (every provider failed, render failed, timeout, restart); refunded
    CANCELLED = "cancelled"  # the user (or a bot) cancelled it; refunded

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset({JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED})


class Stage(_WireEnum):
    """`Event.stage` / `Job.stage`: the step a job is at (the pipeline's stages, and the job's own)."""

    QUEUED = "queued"  # waiting for a worker (position events)
    STARTING = "starting"  # a worker took it
    SCRIPT = "script"
    REVIEW = "review"  # the script waits for the requester (JobStatus.REVIEW)
    IMAGE = "image"
    CLIP = "clip"
    VOICE = "voice"
    RENDER = "render"
    MOVED = "moved"  # distributed mode: its worker stopped; the job starts again on another one
    DONE = "done"  # the terminal stages carry the job's final status
    FAILED = "failed"
    CANCELLED = "cancelled"


class ErrorCode(_WireEnum):
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
    # job errors (Event.error.code / Job.error.code); the credits reserved are given back
    ALL_PROVIDERS_FAILED = "all_providers_failed"  # no backend could serve a stage
    RENDER_FAILED = "render_failed"  # the encoder failed
    TIMEOUT = "timeout"  # the job ran past agent.job_timeout_s
    CANCELLED = "cancelled"  # cancelled by request
    AGENT_RESTARTED = "agent_restarted"  # interrupted by a restart with nothing on disk to resume
    QUARANTINED = "quarantined"  # interrupted by crashes more than agent.max_recoveries times: never rerun
    INTERNAL = "internal"  # a bug on our side
    PARENT_EXPIRED = "parent_expired"  # 409 / job error: the parent job's files were deleted (retention)
    NOT_IN_REVIEW = "not_in_review"  # 409: approve/rewrite/edit on a job that is not waiting for review
    REVIEW_EXPIRED = "review_expired"  # job error: nobody answered the review in time; nothing charged


class ServiceState(_WireEnum):
    """`Status.state` and `Status.data_dir.state` (agent.service.disk)."""

    OK = "ok"
    DEGRADED = "degraded"
    DOWN = "down"


class WorkerState(_WireEnum):
    """`WorkerInfo.state`: what a worker of the distributed mode is doing, from its heartbeat. The wire
    field stays a plain string, so a bot older than a state added later still reads the status."""

    UP = "up"  # takes jobs on the routes it serves
    DISK_FULL = "disk-full"  # its data directory is below agent.min_free_disk_mb: takes no job (`problem`)
    STOPPING = "stopping"  # SIGTERM: finishing what runs, then handing it back
    STOPPED = "stopped"
    LOST = "lost"  # no heartbeat for cluster.lost_after_s (the front door's view)


class _Wire(msgspec.Struct, kw_only=True):
    """Every message: keyword-only fields, encoded with their names."""


# ---------------------------------------------------------------------------- requests the agent reads


class UserRef(_Wire, forbid_unknown_fields=True, omit_defaults=True):
    platform: str  # "discord" | "telegram" | ... (1-32 chars, [a-z0-9_-])
    id: str  # the platform's user id, as text (1-64 chars)
    name: str = ""  # display name, optional, informational


class JobOptions(_Wire, forbid_unknown_fields=True, omit_defaults=True):
    """What a submission may ask for; every option may be left out (the agent's defaults apply)."""

    mode: str | None = None  # "slideshow" | "video" (agent.choices.Mode)
    model: str | None = None  # a route name from the agent's config ("self-hosted", ...)
    aspect: str | None = None  # "9:16" | "16:9" | "1:1"
    voice: str | None = None
    length: str | None = None  # "short" | "medium" | "long"
    max_bytes: int | None = None  # the upload limit the video must fit
    # BCP 47 ("ja", "pt-br"): the video's language, chosen by the user; unset = detected from the
    # topic, else `locale`, else the agent's default
    language: str | None = None
    locale: str | None = None  # the chat client's locale (Discord interaction.locale, Telegram language_code)


class ChangeKind(_WireEnum):
    """What a derived job changes of its parent (agent.service.derive)."""

    REDO_SCENE = "redo_scene"  # one scene's image and voice again, with a new seed
    VOICE = "voice"  # every scene's voice again, with `voice`
    ASPECT = "aspect"  # the same scenes rendered at `aspect`


class Change(_Wire, forbid_unknown_fields=True, omit_defaults=True):
    kind: ChangeKind
    scene: int | None = None  # redo_scene: 1-based
    voice: str | None = None  # voice (in a quote it may be left out: the price of any other voice)
    aspect: str | None = None  # aspect: "9:16" | "16:9" | "1:1"


class DeriveRequest(_Wire, forbid_unknown_fields=True):
    """POST /v1/jobs/{id}/quote: what a derived job with these changes would cost."""

    changes: list[Change]


class DeriveQuote(_Wire, omit_defaults=True):
    price: int  # credits the derived job would reserve (0 for a re-render, a share per regenerated scene)
    regenerated: int  # images and voices made again
    reused: int  # images and voices taken from the parent
    voices: list[str] = msgspec.field(default_factory=list)  # a voice change: voices the route can serve


class SubmitRequest(_Wire, forbid_unknown_fields=True, omit_defaults=True):
    request_id: str  # the bot's idempotency key (1-128 chars), unique per user
    user: UserRef
    topic: str  # 1-300 characters, no control characters
    options: JobOptions = msgspec.field(default_factory=JobOptions)
    review: bool = False  # stop after the script (JobStatus.REVIEW) until POST .../approve
    parent_job_id: str | None = None  # a derived job: the parent's topic and files, with `changes`
    changes: list[Change] = msgspec.field(default_factory=list)


class EditRequest(_Wire, forbid_unknown_fields=True):
    """POST /v1/jobs/{id}/edit: the new narration of every scene, in order (the scene count stays)."""

    narrations: list[str]


class ScriptView(_Wire, omit_defaults=True):
    """The script a job in review shows its requester."""

    title: str
    narrations: list[str]  # one per scene, in order
    expires_at: str | None = None  # ISO 8601 UTC: unanswered by then, the job is cancelled without charge


class GrantRequest(_Wire, forbid_unknown_fields=True, omit_defaults=True):
    amount: int  # non-zero, may be negative
    note: str = ""


# ---------------------------------------------------------------------------- jobs and events


class ResolvedOptions(_Wire):
    """A job's options as the agent resolved them: every key present."""

    aspect: str
    length: str
    mode: str
    model: str
    voice: str
    max_bytes: int | None
    language: str = ""  # the job's language (BCP 47); "" on jobs stored before languages existed


class Credits(_Wire):
    reserved: int  # held at submission (the price; 0 for free routes and admins)
    charged: int  # settled once done
    refunded: int  # given back (all of it on failure or cancel; the difference when a cheaper tier served)


class JobResult(_Wire, omit_defaults=True):
    title: str
    duration_s: float
    bytes: int
    width: int
    height: int
    provenance: dict[str, dict[str, int]]  # stage -> provider -> items served
    provenance_line: str  # "script: ollama, image: comfyui, ..."
    video_url: str  # path on the agent: /v1/jobs/{id}/video
    download_url: str | None  # agent.public_url + video_url when configured
    stills_note: str = ""  # video mode: "3 of 5 scenes are stills: ComfyUI lacks AnimateDiff-Evolved"
    # set when the job's credits are settled (the terminal event, and the job afterwards)
    credits_charged: int | None = None
    credits_left: int | None = None  # None for admins (exempt)
    language: str | None = None  # the job's language (BCP 47)
    languages: dict[str, str] | None = None  # stage -> the language its output is in
    language_note: str | None = None  # why a stage used another language (no templates, no voice)
    scenes: int | None = None  # how many scenes (Redo scene N takes 1..scenes)
    parent_job_id: str | None = None  # a derived job's parent


class JobError(_Wire, omit_defaults=True):
    code: ErrorCode
    message: str  # safe to show to the user
    refunded: bool  # credits were given back (false when nothing was charged)
    credits_refunded: int | None = None  # how many
    credits_left: int | None = None  # terminal event only; None for admins


class Event(_Wire, omit_defaults=True):
    """One SSE event. The fields up to `position` are always sent; the rest only where they apply."""

    seq: int  # 1, 2, 3... per job, the SSE `id:`; after an agent crash it jumps ahead, never repeats
    job_id: str
    status: JobStatus
    stage: Stage
    progress: float  # the whole job, 0..1
    message: str
    provider: str  # who served the latest item, "" when none
    at: str  # ISO 8601 UTC
    position: int | None  # 1-based place in the queue while queued, else None
    done: int | None = None  # items finished in the stage (images 3/7); progress events only
    total: int | None = None
    stage_done: bool | None = None  # progress events: true on the one that finishes its stage
    result: JobResult | None = None  # terminal event of a done job only
    error: JobError | None = None  # terminal event of a failed or cancelled job only
    refunded: bool | None = None  # terminal event of a failed or cancelled job only (= error.refunded)
    script: ScriptView | None = None  # the review event (status review) only

    @property
    def terminal(self) -> bool:
        return self.status.terminal

    @property
    def credits_left(self) -> int | None:
        """After settlement or refund, on the terminal event (None for admins, and before the end)."""
        if self.result is not None:
            return self.result.credits_left
        return self.error.credits_left if self.error is not None else None


class Job(_Wire):
    id: str
    request_id: str
    status: JobStatus
    stage: Stage
    progress: float
    message: str
    provider: str
    position: int | None
    user: UserRef
    topic: str
    options: ResolvedOptions
    route: str
    price: int  # credits reserved at submission
    cost: int  # credits charged once done, the reserved price before
    credits: Credits
    refunded: bool  # credits were given back (credits.refunded > 0)
    providers: dict[str, dict[str, int]]  # provenance so far / final
    result: JobResult | None
    error: JobError | None
    last_seq: int
    created_at: str
    started_at: str | None
    finished_at: str | None
    events_url: str
    video_url: str
    video_expired: bool  # the files were deleted after the retention period
    # flat copies of the result for simple clients (null until the job is done)
    title: str | None = None
    duration_s: float | None = None
    width: int | None = None
    height: int | None = None
    credits_left: int | None = None
    download_url: str | None = None
    size_bytes: int | None = None
    script: ScriptView | None = None  # while in review

    @property
    def terminal(self) -> bool:
        return self.status.terminal


def job_from_event(event: Event, *, topic: str = "") -> Job:
    """What a terminal event says about its job, for a client that cannot ask GET /v1/jobs/{id}.
    The fields an event does not carry are neutral (no options, no timestamps)."""
    result, error = event.result, event.error
    charged = result.credits_charged if result is not None and result.credits_charged is not None else 0
    refunded = error.credits_refunded if error is not None and error.credits_refunded is not None else 0
    return Job(
        id=event.job_id, request_id="", status=event.status, stage=event.stage, progress=event.progress,
        message=event.message, provider=event.provider, position=event.position, user=UserRef(platform="", id=""),
        topic=topic, options=ResolvedOptions(aspect="", length="", mode="", model="", voice="", max_bytes=None),
        route="", price=charged + refunded, cost=charged,
        credits=Credits(reserved=charged + refunded, charged=charged, refunded=refunded),
        refunded=refunded > 0, providers=dict(result.provenance) if result is not None else {}, result=result,
        error=error, last_seq=event.seq, created_at=event.at, started_at=None, finished_at=event.at,
        events_url=f"{API_PREFIX}/jobs/{event.job_id}/events", video_url=f"{API_PREFIX}/jobs/{event.job_id}/video",
        video_expired=False, **(_flat(result) if result is not None else {}),
    )


def _flat(result: JobResult) -> dict[str, Any]:
    return {"title": result.title, "duration_s": result.duration_s, "width": result.width, "height": result.height,
            "credits_left": result.credits_left, "download_url": result.download_url, "size_bytes": result.bytes}


# ---------------------------------------------------------------------------- errors


class ErrorDetail(_Wire, omit_defaults=True):
    code: ErrorCode
    message: str
    field: str | None = None  # 400: the input at fault ("topic", "options.voice", ...)
    retry_after_s: int | None = None  # 429, 503
    balance: int | None = None  # 429 quota_exceeded
    price: int | None = None  # 429 quota_exceeded
    resets_at: str | None = None  # 429 quota_exceeded: ISO 8601 UTC
    job_status: JobStatus | None = None  # 409


class ErrorBody(_Wire):
    error: ErrorDetail


# ---------------------------------------------------------------------------- quota


class RoutePrice(_Wire):
    label: str
    price: int
    mode: str
    available: bool  # every stage of the route has a configured backend


class Quota(_Wire):
    platform: str
    user_id: str
    admin: bool  # exempt from prices and limits
    balance: int  # credits left now (after today's allowance)
    daily_credits: int
    in_flight: int
    max_in_flight: int | None  # None for admins
    resets_at: str  # ISO 8601 UTC of the next allowance reset
    resets_in_s: int
    prices: dict[str, RoutePrice]  # route name -> price
    credits_left: int  # the same as balance

    @property
    def available(self) -> dict[str, int]:
        """The routes a user can pick now, with their prices."""
        return {name: p.price for name, p in self.prices.items() if p.available}


# ---------------------------------------------------------------------------- status


class BackendStatus(_Wire):
    """agent.engine.status.BackendStatus: one configured or known backend."""

    name: str
    tier: str
    stages: list[str]
    configured: bool
    url: str  # without user-info
    up: bool | None  # None: not probed (not configured)
    ready: bool  # up and no problem reported
    latency_ms: float | None
    version: str
    problem: str  # why it cannot serve (down, misconfigured, model missing)
    hint: str  # what an operator should do
    details: dict[str, Any]  # free-form, from the backend's probe (models, device, vram_free, ...)
    cooldowns: dict[str, float]  # stage -> seconds left
    cooldown_reasons: dict[str, str]
    last_success_s_ago: float | None
    unready_stages: list[str]
    last_error: str
    warnings: list[str] = msgspec.field(default_factory=list)  # serving, but e.g. its model has a shutdown date


class StageServe(_Wire):
    stage: str
    provider: str | None
    tier: str | None


class RouteStatus(_Wire):
    route: str
    label: str
    price: int
    mode: str
    available: bool
    why: str  # why it cannot be picked now, "" when it can


class QueueInfo(_Wire):
    queued: int
    running: int
    workers: int
    queue_size: int


class StorageInfo(_Wire):
    """The database (storage.StorageHealth)."""

    state: str  # "ok" | "full" | "unavailable"
    last_error: str
    since: str | None  # ISO 8601 UTC: when the state began
    failed_writes: int
    free_bytes: int | None


class DataDirInfo(_Wire):
    state: ServiceState
    free_bytes: int | None
    total_bytes: int | None
    min_free_bytes: int


class WorkerBackend(_Wire, omit_defaults=True):
    """A backend as a worker's last heartbeat described it."""

    name: str
    state: str  # "up" | "down" | "cooling"
    tier: str = ""
    models: list[str] = []
    free_vram_mb: int | None = None
    problem: str = ""


class WorkerInfo(_Wire, omit_defaults=True):
    """One worker of the distributed mode (README "Scaling out")."""

    name: str
    state: str  # a WorkerState value
    last_heartbeat: str  # ISO 8601 UTC
    seconds_since_heartbeat: float
    current_job: str | None = None
    jobs: list[str] = []
    routes: list[str] = []
    backends: list[WorkerBackend] = []
    problem: str = ""  # why it takes no job although it is running (a full disk), in words


class Status(_Wire):
    mode: str  # "self-hosted" | "cloud" | "offline"
    backends: list[BackendStatus]
    stages: list[StageServe]
    gpu_shared: list[str]
    elapsed_ms: float
    routes: list[RouteStatus]
    queue: QueueInfo
    state: ServiceState  # ok | degraded | down (agent.service.disk)
    problems: list[str]
    storage: StorageInfo
    data_dir: DataDirInfo
    workers: list[WorkerInfo] = []  # the distributed mode's workers; empty in the embedded default


MESSAGES: tuple[type[_Wire], ...] = (
    SubmitRequest, GrantRequest, EditRequest, DeriveRequest, DeriveQuote, Job, Event, ErrorBody, Quota, Status,
)
"""The top-level messages; every other Struct is nested in one of them (agent.service.openapi publishes all)."""


# ---------------------------------------------------------------------------- one encoder, one decoder

_ENCODER = msgspec.json.Encoder()


def encode(message: Any) -> bytes:
    """A message (or any builtin value) as compact UTF-8 JSON."""
    return _ENCODER.encode(message)


def decode(data: bytes | str, kind: type[T]) -> T:
    """JSON into a message; unknown fields are ignored (but not in the request types, which forbid
    them). Raises msgspec.ValidationError / msgspec.DecodeError."""
    return msgspec.json.decode(data, type=kind)


def convert(value: Any, kind: type[T]) -> T:
    """Builtins (a dict from json.loads, a stored event) into a message, checked like `decode`."""
    return msgspec.convert(value, kind)


def to_builtins(message: Any) -> Any:
    """A message as plain dicts and lists (what `encode` would write), e.g. to store it."""
    return msgspec.to_builtins(message)


def unknown_fields(value: Any, kind: Any, path: str = "$") -> list[str]:
    """The strict check: every key in `value` (decoded JSON) that `kind` does not define, as paths.
    The bots decode tolerantly; the contract tests call this on every answer, so a field the agent
    sends that the messages here do not describe fails a test."""
    return _unknown(value, msgspec.inspect.type_info(kind), path)


def _unknown(value: Any, info: msgspec.inspect.Type, path: str) -> list[str]:
    if isinstance(info, msgspec.inspect.UnionType):
        found: list[str] = []
        for option in info.types:
            if isinstance(option, msgspec.inspect.StructType) and isinstance(value, dict):
                return _unknown(value, option, path)
            if isinstance(option, (msgspec.inspect.ListType, msgspec.inspect.DictType)):
                found = _unknown(value, option, path)
        return found
    if isinstance(info, msgspec.inspect.StructType) and isinstance(value, dict):
        fields = {f.encode_name: f for f in info.fields}
        out = [f"{path}.{key}" for key in value if key not in fields]
        for key, item in value.items():
            if key in fields:
                out += _unknown(item, fields[key].type, f"{path}.{key}")
        return out
    if isinstance(info, msgspec.inspect.ListType) and isinstance(value, list):
        return [p for i, item in enumerate(value) for p in _unknown(item, info.item_type, f"{path}[{i}]")]
    if isinstance(info, msgspec.inspect.DictType) and isinstance(value, dict):
        return [p for key, item in value.items() for p in _unknown(item, info.value_type, f"{path}.{key}")]
    return []


# ---------------------------------------------------------------------------- server-sent events


def sse_message(seq: int, data: bytes) -> bytes:
    """THE SSE framing of an event: `id: <seq>` and one `data:` line of its JSON (a stored event's
    text is sent as it is)."""
    return b"id: %d\ndata: %s\n\n" % (seq, data)


def format_sse(event: Event) -> bytes:
    """One SSE message for an event."""
    return sse_message(event.seq, encode(event))


def sse_fields(block: str) -> tuple[int | None, str | None]:
    """THE SSE parser: one message (the text between blank lines) -> (its `id:`, its `data:` text).
    Comments (`:` lines) and unknown fields are skipped; a message without data gives None."""
    event_id: int | None = None
    data_lines: list[str] = []
    for line in block.splitlines():
        if not line or line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "id" and value.strip().isdigit():
            event_id = int(value)
        elif name == "data":
            data_lines.append(value)
    return event_id, ("\n".join(data_lines) if data_lines else None)


def parse_sse_block(block: str) -> tuple[int | None, dict[str, Any] | None]:
    """One SSE message -> (id, the event as plain JSON); for tools that inspect the raw shape."""
    event_id, data = sse_fields(block)
    return event_id, (json.loads(data) if data is not None else None)


def parse_sse_event(block: str) -> tuple[int | None, Event | None]:
    """One SSE message -> (id, Event). Raises msgspec errors on a malformed event."""
    event_id, data = sse_fields(block)
    return event_id, (decode(data, Event) if data is not None else None)
