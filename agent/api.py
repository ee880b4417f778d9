"""HTTP handlers for /v1 (the contract in agent.protocol and DESIGN.md), with auth and errors.

Handlers are thin: they validate what the client sent, then ask the `JobRunner`, the `QuotaLedger`
or the status function. Every error leaves as `{"error": {"code", "message", ...}}`. Client input
never becomes part of a file path: job ids are matched against a strict pattern and only ever used
as keys; the files served are those the runner derives from the stored job id.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import unicodedata
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from agent.jobs import JobRunner, QueueFull, QuotaExceeded, SubmitData, TooManyJobs
from agent.protocol import API_PREFIX, ErrorCode, JobStatus, format_sse
from agent.quota import QuotaPolicy
from agent.render.spec import ASPECTS
from agent.routes import plan_route
from agent.settings import LENGTHS, MODES, Settings
from agent.validation import InvalidInput, clean_topic
from storage import QuotaLedger

__all__ = ["ApiError", "routes", "auth_middleware", "error_middleware", "parse_submission", "Services"]

log = logging.getLogger(__name__)

JOB_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
PLATFORM = re.compile(r"^[a-z0-9_-]{1,32}$")
OPTION_KEYS = frozenset({"mode", "model", "aspect", "voice", "length", "max_bytes"})
MIN_MAX_BYTES = 100_000
MAX_MAX_BYTES = 4 * 1024**3


class ApiError(Exception):
    def __init__(self, status: int, code: ErrorCode, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


def error_response(status: int, code: ErrorCode | str, message: str, **extra: Any) -> web.Response:
    headers = {}
    if "retry_after_s" in extra:
        headers["Retry-After"] = str(int(extra["retry_after_s"]))
    code_value = code.value if isinstance(code, ErrorCode) else code
    return web.json_response({"error": {"code": code_value, "message": message, **extra}}, status=status,
                             headers=headers)


# ---------------------------------------------------------------------------- middlewares

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_HTTP_CODES = {
    400: ErrorCode.BAD_REQUEST, 401: ErrorCode.UNAUTHORIZED, 404: ErrorCode.NOT_FOUND,
    405: ErrorCode.BAD_REQUEST, 413: ErrorCode.PAYLOAD_TOO_LARGE,
}


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.code, exc.message, **exc.extra)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status, ErrorCode.BAD_REQUEST if exc.status < 500 else ErrorCode.INTERNAL)
        message = "request body too large" if exc.status == 413 else (exc.reason or "error")
        return error_response(exc.status, code, message)
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, ErrorCode.INTERNAL, "internal error")


def auth_middleware(token: str) -> Any:
    expected = token.encode()

    @web.middleware
    async def check_token(request: web.Request, handler: Handler) -> web.StreamResponse:
        if expected:
            header = request.headers.get("Authorization", "")
            scheme, _, given = header.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
                raise ApiError(401, ErrorCode.UNAUTHORIZED, "missing or wrong bearer token")
        return await handler(request)

    return check_token


# ---------------------------------------------------------------------------- input


def _text(value: Any, field: str, max_chars: int, *, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if isinstance(value, int) and not isinstance(value, bool) and field == "user.id":
        value = str(value)
    if not isinstance(value, str):
        raise ApiError(400, ErrorCode.BAD_REQUEST, f"{field} must be a string", field=field)
    if required and not value.strip():
        raise ApiError(400, ErrorCode.BAD_REQUEST, f"{field} must not be empty", field=field)
    if len(value) > max_chars:
        raise ApiError(400, ErrorCode.BAD_REQUEST, f"{field} is longer than {max_chars} characters", field=field)
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in value):
        raise ApiError(400, ErrorCode.BAD_REQUEST, f"{field} must not contain control characters", field=field)
    return value


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(400, ErrorCode.INVALID_INPUT, message, field=field)


def parse_submission(body: Any, settings: Settings, runtime_backends: Any) -> SubmitData:
    """Validate a POST /v1/jobs body against what the config offers; ApiError says what is wrong."""
    if not isinstance(body, Mapping):
        raise ApiError(400, ErrorCode.BAD_REQUEST, "the body must be a JSON object")
    unknown = set(body) - {"request_id", "user", "topic", "options"}
    if unknown:
        raise ApiError(400, ErrorCode.BAD_REQUEST, f"unknown field(s): {', '.join(sorted(unknown))}")
    request_id = _text(body.get("request_id"), "request_id", 128)
    user = body.get("user")
    if not isinstance(user, Mapping):
        raise ApiError(400, ErrorCode.BAD_REQUEST, "user must be an object {platform, id, name?}", field="user")
    platform = _text(user.get("platform"), "user.platform", 32)
    if not PLATFORM.match(platform):
        raise ApiError(400, ErrorCode.BAD_REQUEST, "user.platform must be 1-32 of a-z 0-9 _ -", field="user.platform")
    user_id = _text(user.get("id"), "user.id", 64)
    name = _text(user.get("name"), "user.name", 128, required=False)
    try:
        topic = clean_topic(body.get("topic"))  # type: ignore[arg-type]
    except InvalidInput as exc:
        raise _invalid("topic", str(exc)) from None
    options = body.get("options", {}) or {}
    if not isinstance(options, Mapping):
        raise ApiError(400, ErrorCode.BAD_REQUEST, "options must be an object", field="options")
    unknown = set(options) - OPTION_KEYS
    if unknown:
        raise ApiError(400, ErrorCode.BAD_REQUEST,
                       f"unknown option(s): {', '.join(sorted(unknown))}; known: {', '.join(sorted(OPTION_KEYS))}",
                       field="options")
    v = settings.video
    resolved: dict[str, Any] = {}
    for key, choices, default in (("aspect", tuple(ASPECTS), v.aspect), ("length", tuple(LENGTHS), v.length)):
        value = options.get(key)
        if value is None:
            resolved[key] = default
        elif not isinstance(value, str) or value not in choices:
            raise _invalid(key, f"{key} must be one of {', '.join(choices)}")
        else:
            resolved[key] = value
    mode = options.get("mode")
    if mode is not None and (not isinstance(mode, str) or mode not in MODES):
        raise _invalid("mode", f"mode must be one of {', '.join(MODES)}")
    model = options.get("model")
    if model is not None and not isinstance(model, str):
        raise _invalid("model", "model must be a string")
    try:
        plan = plan_route(settings, runtime_backends, model or None)
    except InvalidInput as exc:
        raise _invalid("model", str(exc)) from None
    resolved["mode"] = mode or plan.mode
    resolved["model"] = plan.name
    voice = _text(options.get("voice"), "options.voice", 64, required=False)
    resolved["voice"] = voice.strip()
    max_bytes = options.get("max_bytes")
    if max_bytes is not None:
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int):
            raise _invalid("max_bytes", "max_bytes must be a whole number of bytes")
        if not MIN_MAX_BYTES <= max_bytes <= MAX_MAX_BYTES:
            raise _invalid("max_bytes", f"max_bytes must be between {MIN_MAX_BYTES} and {MAX_MAX_BYTES}")
    resolved["max_bytes"] = max_bytes
    return SubmitData(request_id=request_id, platform=platform, user_id=user_id, user_name=name.strip(),
                      topic=topic, options=resolved, route=plan.name, route_price=plan.price)


def _job_id(request: web.Request) -> str:
    job_id = request.match_info["job_id"]
    if not JOB_ID.match(job_id):
        raise ApiError(404, ErrorCode.NOT_FOUND, "no such job")
    return job_id


def _user_path(request: web.Request) -> tuple[str, str]:
    platform, user_id = request.match_info["platform"], request.match_info["user_id"]
    if not PLATFORM.match(platform) or not 1 <= len(user_id) <= 64 or any(
        unicodedata.category(ch) in ("Cc", "Cf") for ch in user_id
    ):
        raise ApiError(404, ErrorCode.NOT_FOUND, "no such user")
    return platform, user_id


async def _json_body(request: web.Request) -> Any:
    try:
        raw = await request.read()  # capped by client_max_size (agent.max_body_bytes): 413 beyond
    except web.HTTPRequestEntityTooLarge:
        raise ApiError(413, ErrorCode.PAYLOAD_TOO_LARGE, "request body too large") from None
    try:
        return json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, ErrorCode.BAD_REQUEST, "the body is not valid JSON") from None


# ---------------------------------------------------------------------------- handlers


class Services:
    """What the handlers need. The app factory creates it empty; its cleanup contexts fill it in
    (agent.app), so the handlers are bound before the resources they use exist."""

    def __init__(self, settings: Settings, policy: QuotaPolicy) -> None:
        self.settings, self.policy = settings, policy
        self.runner: JobRunner = None  # type: ignore[assignment]
        self.ledger: QuotaLedger = None  # type: ignore[assignment]
        self.backends: Any = None
        self.status: Callable[[], Awaitable[Mapping[str, Any]]] = None  # type: ignore[assignment]


def routes(svc: Services) -> list[web.RouteDef]:
    settings = svc.settings

    async def submit(request: web.Request) -> web.Response:
        data = parse_submission(await _json_body(request), settings, svc.backends)
        try:
            job, _created = await svc.runner.submit(data)
        except QuotaExceeded as exc:
            raise ApiError(429, ErrorCode.QUOTA_EXCEEDED, str(exc), retry_after_s=exc.retry_after_s,
                           balance=exc.balance, price=exc.price, resets_at=exc.resets_at) from None
        except TooManyJobs as exc:
            raise ApiError(429, ErrorCode.TOO_MANY_JOBS, str(exc), retry_after_s=exc.retry_after_s) from None
        except QueueFull as exc:
            raise ApiError(503, ErrorCode.QUEUE_FULL, str(exc), retry_after_s=exc.retry_after_s) from None
        return web.json_response(job, status=202)

    async def get_job(request: web.Request) -> web.Response:
        job = await svc.runner.job_json(_job_id(request))
        if job is None:
            raise ApiError(404, ErrorCode.NOT_FOUND, "no such job")
        return web.json_response(job)

    async def cancel(request: web.Request) -> web.Response:
        job_id = _job_id(request)
        await svc.runner.cancel(job_id)
        job = await svc.runner.job_json(job_id)
        if job is None:
            raise ApiError(404, ErrorCode.NOT_FOUND, "no such job")
        if job["status"] in (JobStatus.DONE.value, JobStatus.FAILED.value):
            raise ApiError(409, ErrorCode.ALREADY_FINISHED, f"the job has already {job['status'].replace('done', 'finished')}",
                           job_status=job["status"])
        return web.json_response(job, status=202)

    async def video(request: web.Request) -> web.StreamResponse:
        job_id = _job_id(request)
        job = await svc.runner.job_json(job_id)
        if job is None:
            raise ApiError(404, ErrorCode.NOT_FOUND, "no such job")
        if job["status"] != JobStatus.DONE.value:
            if job["status"] in (JobStatus.FAILED.value, JobStatus.CANCELLED.value):
                raise ApiError(404, ErrorCode.NOT_FOUND, f"the job {job['status']}: there is no video")
            raise ApiError(409, ErrorCode.NOT_READY, "the video is not ready yet", job_status=job["status"])
        path = svc.runner.video_file(job_id)
        if job.get("video_expired") or not await asyncio.to_thread(path.is_file):
            raise ApiError(404, ErrorCode.VIDEO_EXPIRED, "the video was deleted after the retention period")
        title = (job.get("title") or "video").encode("ascii", "ignore").decode()
        safe = re.sub(r"[^A-Za-z0-9 _.-]+", "", title).strip()[:60] or "video"
        return web.FileResponse(path, headers={
            "Content-Type": "video/mp4", "Content-Disposition": f'attachment; filename="{safe}.mp4"',
        })

    async def events(request: web.Request) -> web.StreamResponse:
        job_id = _job_id(request)
        last = _last_event_id(request)
        live = svc.runner.live(job_id)
        if live is None and await svc.runner.store.get(job_id) is None:
            raise ApiError(404, ErrorCode.NOT_FOUND, "no such job")
        response = web.StreamResponse(headers={
            "Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no",
        })
        await response.prepare(request)
        if live is None:  # finished: replay what was stored, then end
            for data in await svc.runner.store.events_after(job_id, last):
                await response.write(f"id: {json.loads(data)['seq']}\ndata: {data}\n\n".encode())
            await response.write_eof()
            return response
        if last < live.first_seq - 1:  # older events than memory holds (a resumed job): from the store
            for data in await svc.runner.store.events_after(job_id, last):
                seq = int(json.loads(data)["seq"])
                if seq >= live.first_seq:
                    break
                await response.write(f"id: {seq}\ndata: {data}\n\n".encode())
                last = seq
        keepalive = settings.agent.sse_keepalive_s
        while True:
            for event in live.events_after(last):
                await response.write(format_sse(event))  # type: ignore[arg-type]
                last = int(event["seq"])
                if event["status"] in ("done", "failed", "cancelled"):
                    await response.write_eof()
                    return response
            if not await live.wait_change(keepalive) and not live.events_after(last):
                await response.write(b": keep-alive\n\n")

    async def status(request: web.Request) -> web.Response:
        return web.json_response(await svc.status())

    async def quota(request: web.Request) -> web.Response:
        platform, user_id = _user_path(request)
        return web.json_response(await _quota(platform, user_id))

    async def _quota(platform: str, user_id: str) -> dict[str, Any]:
        now = svc.policy.wall_clock()
        user, in_flight = await svc.ledger.quota(platform, user_id, day=svc.policy.day(now), daily=svc.policy.daily,
                                                 now=now)
        balance = user.balance
        out = dict(svc.policy.quota_json(platform, user_id, balance, in_flight, svc.backends))
        out["credits_left"] = balance
        return out

    async def grant(request: web.Request) -> web.Response:
        platform, user_id = _user_path(request)
        body = await _json_body(request)
        if not isinstance(body, Mapping):
            raise ApiError(400, ErrorCode.BAD_REQUEST, "the body must be a JSON object {amount, note?}")
        amount = body.get("amount", body.get("credits"))
        if isinstance(amount, bool) or not isinstance(amount, int) or not -10**9 <= amount <= 10**9 or amount == 0:
            raise ApiError(400, ErrorCode.INVALID_INPUT, "amount must be a non-zero whole number of credits",
                           field="amount")
        note = _text(body.get("note"), "note", 500, required=False)
        now = svc.policy.wall_clock()
        user = await svc.ledger.ensure_user(platform, user_id, "", now)
        await svc.ledger.grant(user.id, amount, now, day=svc.policy.day(now), daily=svc.policy.daily, note=note)
        log.info("granted %d credits to %s:%s (%s)", amount, platform, user_id, note)
        return web.json_response(await _quota(platform, user_id))

    p = API_PREFIX
    return [
        web.post(f"{p}/jobs", submit),
        web.get(f"{p}/jobs/{{job_id}}", get_job, allow_head=False),
        web.delete(f"{p}/jobs/{{job_id}}", cancel),
        web.get(f"{p}/jobs/{{job_id}}/events", events, allow_head=False),
        web.get(f"{p}/jobs/{{job_id}}/video", video),
        web.get(f"{p}/status", status, allow_head=False),
        web.get(f"{p}/users/{{platform}}/{{user_id}}/quota", quota, allow_head=False),
        web.post(f"{p}/users/{{platform}}/{{user_id}}/credits", grant),
    ]


def _last_event_id(request: web.Request) -> int:
    raw = request.headers.get("Last-Event-ID") or request.query.get("last_event_id") or "0"
    try:
        return max(0, int(raw.strip()))
    except ValueError:
        raise ApiError(400, ErrorCode.BAD_REQUEST, "Last-Event-ID must be a sequence number") from None

