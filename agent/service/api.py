"""HTTP handlers for /v1 (the contract in agent.protocol and DESIGN.md), with auth and errors.

Handlers are thin: they validate what the client sent, then ask the `JobRunner`, the `QuotaLedger`
or the status function. Every error leaves as `{"error": {"code", "message", ...}}`; client errors
are 4xx answers without a traceback in the log (the untrusted parts of a request are parsed in
agent.service.http_input). Client input never becomes part of a file path: job ids are matched against a
strict pattern and only ever used as keys; the files served are those the runner derives from the
stored job id. GETs never write: asking about a user nobody has seen yet creates nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import logging
import os
import re
import stat
import unicodedata
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import msgspec
from aiohttp import web

from agent.choices import Aspect, InvalidChoice, Length, Mode, parse_choice
from agent.service.http_input import BadInput, parse_event_id, parse_json_body, range_satisfiable
from agent.service.intake import Turnstile
from agent.service.jobs import CancelOutcome, DiskFull, JobRunner, QueueFull, QuotaExceeded, SubmitData, TooManyJobs
from agent.protocol import (
    API_PREFIX,
    ErrorBody,
    ErrorCode,
    ErrorDetail,
    Change,
    DeriveQuote,
    DeriveRequest,
    EditRequest,
    JobOptions,
    JobStatus,
    Quota,
    Status,
    SubmitRequest,
    convert,
)
from agent.service.quota import QuotaPolicy
from agent.service.derive import BadChange, DerivePlan, ParentExpired, derived_data, plan_derived
from agent.service.review import BadEdit, NotInReview
from agent.engine.routes import RouteUnavailable, job_mode, plan_route
from agent.settings import Settings
from agent.service.runner import Runner
from agent.service.sse import open_stream, send_stream
from agent.service.worker_api import WORKER_PREFIX
from agent.engine.validation import InvalidInput, clean_topic
from agent.service.views import json_response
from agent.engine.voices import check_route_voice, route_voice_examples
from providers.language import detect as detect_language
from providers.language import ready as language_model_ready
from providers.language import normalize as normalize_language
from storage import QuotaLedger, StorageUnavailable

if TYPE_CHECKING:
    from agent.service.cluster import ClusterRunner

__all__ = ["ApiError", "routes", "auth_middleware", "error_middleware", "parse_submission", "check_submission_voice",
           "Services"]

log = logging.getLogger(__name__)

JOB_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
PLATFORM = re.compile(r"^[a-z0-9_-]{1,32}$")
OPTION_KEYS = frozenset(JobOptions.__struct_fields__)  # the wire protocol's, checked here with messages for people
SUBMIT_KEYS = frozenset(SubmitRequest.__struct_fields__)
MIN_MAX_BYTES = 100_000
MAX_MAX_BYTES = 4 * 1024**3
INTAKE_PER_TURN = 32  # submissions parsed in one turn of the event loop at most (Services.intake)
STORAGE_RETRY_AFTER_S = 30  # a full disk is freed by an operator: minutes, not a client's quick retry


class ApiError(Exception):
    def __init__(self, status: int, code: ErrorCode, message: str, *, headers: Mapping[str, str] | None = None,
                 **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra
        self.headers = dict(headers or {})


class UnreadableBody(ApiError):
    """The body could not be read (it does not decode as its Content-Encoding says). The answer is
    sent and the connection closed at once: aiohttp would otherwise drain the rest of the body after
    the handler, meet the same error again, and log it as an unhandled exception."""


def error_response(status: int, code: ErrorCode, message: str, *, headers: Mapping[str, str] | None = None,
                   **extra: Any) -> web.Response:
    """`ErrorBody`; `extra` are `ErrorDetail`'s optional fields (field, retry_after_s, balance, ...)."""
    headers = dict(headers or {})
    detail = ErrorDetail(code=code, message=message, **extra)
    if detail.retry_after_s is not None:
        headers["Retry-After"] = str(int(detail.retry_after_s))
    return json_response(ErrorBody(error=detail), status=status, headers=headers)


# ---------------------------------------------------------------------------- middlewares

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_HTTP_CODES = {
    400: ErrorCode.BAD_REQUEST, 401: ErrorCode.UNAUTHORIZED, 404: ErrorCode.NOT_FOUND,
    405: ErrorCode.BAD_REQUEST, 413: ErrorCode.PAYLOAD_TOO_LARGE, 416: ErrorCode.RANGE_NOT_SATISFIABLE,
}


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except UnreadableBody as exc:
        response = error_response(exc.status, exc.code, exc.message, headers=exc.headers, **exc.extra)
        response.force_close()
        await response.prepare(request)
        await response.write_eof()
        request.protocol.force_close()  # the answer is written; closing flushes it, then ends the connection
        return response
    except ApiError as exc:
        return error_response(exc.status, exc.code, exc.message, headers=exc.headers, **exc.extra)
    except StorageUnavailable:  # nothing was written: the unit of work rolled back whole
        return error_response(503, ErrorCode.STORAGE_UNAVAILABLE, "the video service cannot save anything right "
                              "now (its storage is full); nothing was changed or charged, please try again later",
                              retry_after_s=STORAGE_RETRY_AFTER_S)
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


def auth_middleware(token: str, exempt: tuple[str, ...] = ()) -> Any:
    """The bearer token on every path but the `exempt` prefixes (the console and /metrics have their own)."""
    expected = token.encode()

    @web.middleware
    async def check_token(request: web.Request, handler: Handler) -> web.StreamResponse:
        if (expected and not request.path.startswith(WORKER_PREFIX)  # those take the worker token
                and not any(request.path == p or request.path.startswith(p + "/") for p in exempt)):
            header = request.headers.get("Authorization", "")
            scheme, _, given = header.partition(" ")
            try:  # header bytes that are not UTF-8 arrive as surrogate escapes: back to the bytes sent
                sent = given.strip().encode("utf-8", "surrogateescape")
            except UnicodeEncodeError:
                sent = b""
            if scheme.lower() != "bearer" or not hmac.compare_digest(sent, expected):
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
    if not value.isprintable() and any(unicodedata.category(ch) in ("Cc", "Cf") for ch in value):
        raise ApiError(400, ErrorCode.BAD_REQUEST, f"{field} must not contain control characters", field=field)
    return value


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(400, ErrorCode.INVALID_INPUT, message, field=field)


def parse_submission(body: Any, settings: Settings, runtime_backends: Any) -> SubmitData:
    """Validate a POST /v1/jobs body against what the config offers; ApiError says what is wrong."""
    if not isinstance(body, Mapping):
        raise ApiError(400, ErrorCode.BAD_REQUEST, "the body must be a JSON object")
    unknown = set(body) - SUBMIT_KEYS
    if unknown:
        raise ApiError(400, ErrorCode.BAD_REQUEST, f"unknown field(s): {', '.join(sorted(unknown))}")
    request_id = _text(body.get("request_id"), "request_id", 128)
    user = body.get("user")
    if not isinstance(user, Mapping):
        raise ApiError(400, ErrorCode.BAD_REQUEST, "user must be an object {platform, id, name?}", field="user")
    platform = _text(user.get("platform"), "user.platform", 32)
    if not PLATFORM.fullmatch(platform):
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
    # an unset mode is the route's (below), so its default is None
    for key, kind, default in (("aspect", Aspect, v.aspect), ("length", Length, v.length), ("mode", Mode, None)):
        value = options.get(key)
        try:
            resolved[key] = default if value is None else parse_choice(kind, value, key)
        except InvalidChoice as exc:
            raise _invalid(key, str(exc)) from None
    mode = resolved.pop("mode")
    model = options.get("model")
    if model is not None and not isinstance(model, str):
        raise _invalid("model", "model must be a string")
    try:
        plan = plan_route(settings, runtime_backends, model or None)
    except InvalidInput as exc:
        raise _invalid("model", str(exc)) from None
    resolved["mode"] = job_mode(settings, plan, mode)
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
    for key in ("language", "locale"):
        given = _text(options.get(key), f"options.{key}", 35, required=False)
        tag = normalize_language(given) if given.strip() else ""
        if tag is None:
            raise _invalid(key, f"{key} must be a language code such as en, fr, ja or pt-BR (got {given[:35]!r})")
        resolved[key] = tag
    review = body.get("review", False)
    if not isinstance(review, bool):
        raise ApiError(400, ErrorCode.BAD_REQUEST, "review must be true or false", field="review")
    if review:  # kept with the options: agent.service.review reads it, a restart keeps it
        resolved["review"] = True
    return SubmitData(request_id=request_id, platform=platform, user_id=user_id, user_name=name.strip(),
                      topic=topic, options=resolved, route=plan.name, route_price=plan.price)


async def check_submission_voice(data: SubmitData, settings: Settings, runtime_backends: Any) -> None:
    """The voice must be one that a provider of the job's route offers (agent.engine.voices): 400 if not.

    Asynchronous, unlike `parse_submission`: the offline provider lists eSpeak's voices in its
    child process."""
    voice = str(data.options.get("voice") or "")
    if not voice:
        return
    try:
        plan = plan_route(settings, runtime_backends, data.route)
        await check_route_voice(voice, plan, runtime_backends)
    except InvalidInput as exc:
        raise _invalid(exc.field, str(exc)) from None


async def resolve_submission_language(data: SubmitData, settings: Settings) -> SubmitData:
    """`data` with the job's language in its options: the user's choice, else the topic's language
    when it says so clearly, else the chat client's locale, else the configured default. Detection
    loads a model the first time (off the event loop; the agent loads it as it starts)."""
    options = dict(data.options)
    locale = options.pop("locale", "") or ""
    if not options.get("language"):
        fallback = locale or settings.video.language
        if language_model_ready():  # in memory: ~0.1 ms, cheaper than the hop to a thread and back
            found = detect_language(data.topic, fallback)
        else:
            found = await asyncio.to_thread(detect_language, data.topic, fallback)
        options["language"] = found or fallback
    return dataclasses.replace(data, options=options)


def _job_id(request: web.Request) -> str:
    job_id = request.match_info["job_id"]
    if not JOB_ID.fullmatch(job_id):  # fullmatch: `$` alone would let a trailing newline through
        raise ApiError(404, ErrorCode.NOT_FOUND, "no such job")
    return job_id


def _user_path(request: web.Request) -> tuple[str, str]:
    platform, user_id = request.match_info["platform"], request.match_info["user_id"]
    if not PLATFORM.fullmatch(platform) or not 1 <= len(user_id) <= 64 or any(
        unicodedata.category(ch) in ("Cc", "Cf", "Cs") for ch in user_id
    ):
        raise ApiError(404, ErrorCode.NOT_FOUND, "no such user")
    return platform, user_id


async def _json_body(request: web.Request) -> Any:
    try:
        raw = await request.read()  # capped by client_max_size (agent.max_body_bytes): 413 beyond
    except web.HTTPRequestEntityTooLarge:
        raise ApiError(413, ErrorCode.PAYLOAD_TOO_LARGE, "request body too large") from None
    except web.RequestPayloadError:
        raise UnreadableBody(400, ErrorCode.BAD_REQUEST,
                             "the body does not decode as its Content-Encoding says") from None
    try:
        return parse_json_body(raw)
    except BadInput as exc:
        raise ApiError(400, ErrorCode.BAD_REQUEST, str(exc)) from None


# ---------------------------------------------------------------------------- handlers


class Services:
    """What the handlers need. The app factory creates it empty; its cleanup contexts fill it in
    (agent.service.app), so the handlers are bound before the resources they use exist."""

    def __init__(self, settings: Settings, policy: QuotaPolicy) -> None:
        self.settings, self.policy = settings, policy
        self.runner: Runner = None  # type: ignore[assignment]
        self.cluster: ClusterRunner | None = None  # the distributed mode's front door (also `runner`)
        self.ledger: QuotaLedger = None  # type: ignore[assignment]
        self.backends: Any = None
        self.status: Callable[[], Awaitable[Status]] = None  # type: ignore[assignment]
        # submissions that arrive together are parsed and admitted a few per turn of the event loop
        # (agent.service.intake: 1000 at once held the loop for 300+ ms)
        self.intake = Turnstile(INTAKE_PER_TURN)


def routes(svc: Services) -> list[web.RouteDef]:
    settings = svc.settings

    def single_box() -> JobRunner:
        """Script review and derived jobs need the job's files where the API runs: the single-box
        agent. A distributed front door refuses them in so many words (the workers hold the files)."""
        if not isinstance(svc.runner, JobRunner):
            raise ApiError(400, ErrorCode.BAD_REQUEST, "script review and derived jobs (Redo scene, Other voice, "
                           "another shape) are not available on a distributed agent yet", field="review")
        return svc.runner

    async def derive_plan(parent_id: str, body: Any, quote: bool = False) -> DerivePlan:
        try:
            changes = convert(body.get("changes", []), list[Change])
        except msgspec.ValidationError as exc:
            raise ApiError(400, ErrorCode.BAD_REQUEST, f"changes: {exc}", field="changes") from None
        parent = await svc.runner.job(parent_id)
        price = settings.routes[parent.route].price if parent is not None and parent.route in settings.routes else 0
        try:
            return await plan_derived(parent, single_box().workdir(parent_id), changes, price, quote=quote)
        except BadChange as exc:
            raise _invalid("changes", str(exc)) from None
        except ParentExpired as exc:
            raise ApiError(409, ErrorCode.PARENT_EXPIRED, str(exc)) from None

    async def submit(request: web.Request) -> web.Response:
        await svc.intake.enter()
        data = await intake(request)
        try:
            job, _created = await svc.runner.submit(data)
        except RouteUnavailable as exc:  # distributed: no live worker serves the route now
            raise _invalid("model", str(exc)) from None
        except QuotaExceeded as exc:
            raise ApiError(429, ErrorCode.QUOTA_EXCEEDED, str(exc), retry_after_s=exc.retry_after_s,
                           balance=exc.balance, price=exc.price, resets_at=exc.resets_at) from None
        except TooManyJobs as exc:
            raise ApiError(429, ErrorCode.TOO_MANY_JOBS, str(exc), retry_after_s=exc.retry_after_s) from None
        except QueueFull as exc:
            raise ApiError(503, ErrorCode.QUEUE_FULL, str(exc), retry_after_s=exc.retry_after_s) from None
        except DiskFull as exc:
            raise ApiError(503, ErrorCode.DISK_FULL, str(exc), retry_after_s=exc.retry_after_s) from None
        return json_response(job, status=202)

    async def intake(request: web.Request) -> SubmitData:
        """A submission read and checked: what `runner.submit` takes."""
        body = await _json_body(request)
        data = parse_submission(body, settings, svc.backends)
        parent_id = body.get("parent_job_id")
        if data.options.get("review"):
            single_box()
        if parent_id is not None:  # agent.service.derive: the parent's topic and files, with the changes
            if not isinstance(parent_id, str) or not JOB_ID.fullmatch(parent_id):
                raise ApiError(400, ErrorCode.BAD_REQUEST, "parent_job_id must be a job id", field="parent_job_id")
            plan = await derive_plan(parent_id, body)
            parent = await svc.runner.job(parent_id)
            assert parent is not None
            data = derived_data(data, plan, parent.topic)
        elif body.get("changes"):
            raise ApiError(400, ErrorCode.BAD_REQUEST, "changes need a parent_job_id", field="changes")
        if svc.cluster is None:  # distributed: the voices are the workers' (a wrong one fails the job)
            await check_submission_voice(data, settings, svc.backends)
        return await resolve_submission_language(data, settings)

    async def get_job(request: web.Request) -> web.Response:
        job = await svc.runner.job(_job_id(request))
        if job is None:
            raise ApiError(404, ErrorCode.NOT_FOUND, "no such job")
        return json_response(job)

    async def cancel(request: web.Request) -> web.Response:
        job_id = _job_id(request)
        outcome = await svc.runner.cancel(job_id)
        job = await svc.runner.job(job_id)
        if job is None:
            raise ApiError(404, ErrorCode.NOT_FOUND, "no such job")
        if outcome is CancelOutcome.ALREADY_FINISHED:  # finished first; its result waits for the database
            live = svc.runner.live(job_id)
            status = JobStatus(live.final_pending) if live is not None and live.final_pending else job.status
            raise ApiError(409, ErrorCode.ALREADY_FINISHED, "the job has already finished; its result is being saved",
                           job_status=status)
        if job.status in (JobStatus.DONE, JobStatus.FAILED):
            raise ApiError(409, ErrorCode.ALREADY_FINISHED,
                           f"the job has already {'finished' if job.status is JobStatus.DONE else job.status.value}",
                           job_status=job.status)
        return json_response(job, status=202)

    async def quote(request: web.Request) -> web.Response:
        """POST /v1/jobs/{id}/quote: what a job derived with these changes would cost, before it starts."""
        body = await _json_body(request)
        try:
            convert(body, DeriveRequest)
        except msgspec.ValidationError as exc:
            raise ApiError(400, ErrorCode.BAD_REQUEST, f"quote: {exc}", field="changes") from None
        job_id = _job_id(request)
        if await svc.runner.job(job_id) is None:
            raise ApiError(404, ErrorCode.NOT_FOUND, "no such job")
        plan = await derive_plan(job_id, body, quote=True)
        voices: list[str] = []
        if any(c.get("kind") == "voice" for c in body.get("changes", []) if isinstance(c, Mapping)):
            current = str(plan.options.get("voice") or "")
            route = plan_route(settings, svc.backends, plan.route)
            voices = [v for v in await route_voice_examples(route, svc.backends, 7) if v != current][:6]
        return json_response(DeriveQuote(price=plan.price, regenerated=plan.regenerated, reused=plan.reused,
                                         voices=voices))

    async def review_step(request: web.Request) -> web.Response:
        """POST /v1/jobs/{id}/approve | rewrite | edit (agent.service.review)."""
        job_id, step = _job_id(request), request.path.rsplit("/", 1)[1]
        desk = single_box().review
        try:
            if step == "approve":
                await desk.approve(job_id)
            elif step == "rewrite":
                await desk.rewrite(job_id)
            else:
                body = await _json_body(request)
                try:
                    edit = convert(body, EditRequest)
                except msgspec.ValidationError as exc:
                    raise ApiError(400, ErrorCode.BAD_REQUEST, f"edit: {exc}", field="narrations") from None
                await desk.edit(job_id, edit.narrations)
        except NotInReview as exc:
            if await svc.runner.job(job_id) is None:
                raise ApiError(404, ErrorCode.NOT_FOUND, "no such job") from None
            raise ApiError(409, ErrorCode.NOT_IN_REVIEW, str(exc)) from None
        except BadEdit as exc:
            raise _invalid("narrations", str(exc)) from None
        job = await svc.runner.job(job_id)
        assert job is not None
        return json_response(job, status=202 if step != "edit" else 200)

    async def video(request: web.Request) -> web.StreamResponse:
        job_id = _job_id(request)
        job = await svc.runner.job(job_id)
        if job is None:
            raise ApiError(404, ErrorCode.NOT_FOUND, "no such job")
        if job.status is not JobStatus.DONE:
            if job.status in (JobStatus.FAILED, JobStatus.CANCELLED):
                raise ApiError(404, ErrorCode.NOT_FOUND, f"the job {job.status.value}: there is no video")
            raise ApiError(409, ErrorCode.NOT_READY, "the video is not ready yet", job_status=job.status)
        path = svc.runner.video_file(job_id)
        st = None if job.video_expired else await asyncio.to_thread(_file_stat, path)
        title = (job.title or "video").encode("ascii", "ignore").decode()
        safe = re.sub(r"[^A-Za-z0-9 _.-]+", "", title).strip()[:60] or "video"
        if st is None and svc.cluster is not None and not job.video_expired:  # held by another front door
            proxied = await svc.cluster.proxy_video(request, job_id, f'attachment; filename="{safe}.mp4"')
            if proxied is not None:
                return proxied
        if st is None:
            raise ApiError(404, ErrorCode.VIDEO_EXPIRED, "the video was deleted after the retention period")
        _check_range(request, st)
        return web.FileResponse(path, headers={
            "Content-Type": "video/mp4", "Content-Disposition": f'attachment; filename="{safe}.mp4"',
        })

    async def events(request: web.Request) -> web.StreamResponse:
        job_id = _job_id(request)
        try:
            last = parse_event_id(request.headers.get("Last-Event-ID") or request.query.get("last_event_id"))
        except BadInput as exc:
            raise ApiError(400, ErrorCode.BAD_REQUEST, str(exc)) from None
        if svc.cluster is not None:  # distributed: the events are in the database, written by workers
            from agent.service.cluster_sse import cluster_stream

            streamed = await cluster_stream(request, svc.runner.store, job_id, last,
                                            keepalive_s=settings.agent.sse_keepalive_s,
                                            poll_s=settings.cluster.event_poll_s)
            if streamed is None:
                raise ApiError(404, ErrorCode.NOT_FOUND, "no such job")
            return streamed
        plan = await open_stream(svc.runner, job_id, last)  # may fail: still a plain answer here
        if plan is None:
            raise ApiError(404, ErrorCode.NOT_FOUND, "no such job")
        return await send_stream(request, plan, svc.runner, settings.agent.sse_keepalive_s)

    async def status(request: web.Request) -> web.Response:
        return json_response(await svc.status())

    async def quota(request: web.Request) -> web.Response:
        platform, user_id = _user_path(request)
        return json_response(await _quota(platform, user_id))

    async def _quota(platform: str, user_id: str) -> Quota:
        now = svc.policy.wall_clock()
        # read only: a user not seen yet is answered as a new one (the full allowance), and not created
        balance, in_flight = await svc.ledger.peek_quota(platform, user_id, day=svc.policy.day(now),
                                                         daily=svc.policy.daily)
        return svc.policy.quota(platform, user_id, balance, in_flight, svc.backends)

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
        return json_response(await _quota(platform, user_id))

    async def openapi(request: web.Request) -> web.Response:
        from agent.service.openapi import openapi_document

        return json_response(openapi_document())

    p = API_PREFIX
    return [
        web.post(f"{p}/jobs", submit),
        web.get(f"{p}/jobs/{{job_id}}", get_job, allow_head=False),
        web.delete(f"{p}/jobs/{{job_id}}", cancel),
        web.get(f"{p}/jobs/{{job_id}}/events", events, allow_head=False),
        web.post(f"{p}/jobs/{{job_id}}/quote", quote),
        *(web.post(f"{p}/jobs/{{job_id}}/{step}", review_step) for step in ("approve", "rewrite", "edit")),
        web.get(f"{p}/jobs/{{job_id}}/video", video),
        web.get(f"{p}/status", status, allow_head=False),
        web.get(f"{p}/users/{{platform}}/{{user_id}}/quota", quota, allow_head=False),
        web.post(f"{p}/users/{{platform}}/{{user_id}}/credits", grant),
        web.get(f"{p}/openapi.json", openapi, allow_head=False),
    ]


def _file_stat(path: os.PathLike[str]) -> os.stat_result | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st if stat.S_ISREG(st.st_mode) else None


def _check_range(request: web.Request, st: os.stat_result) -> None:
    """416 with `Content-Range: bytes */SIZE` for a Range the file cannot satisfy (agent.service.http_input
    says why FileResponse is not left to decide); satisfiable ranges are FileResponse's to serve."""
    header = request.headers.get("Range")
    if header is None:
        return
    if_range = request.if_range
    if if_range is not None and st.st_mtime > if_range.timestamp():
        return  # the file changed since: FileResponse ignores the Range and sends it whole
    if not range_satisfiable(header, st.st_size):
        raise ApiError(416, ErrorCode.RANGE_NOT_SATISFIABLE,
                       f"the requested range is not within the video, which is {st.st_size} bytes long",
                       headers={"Content-Range": f"bytes */{st.st_size}"})
