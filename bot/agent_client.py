"""HTTP client for the agent (DESIGN.md "Agent HTTP API"): submit, follow, fetch, cancel, status, quota.

Errors are types the flow words for people::

    AgentError                      anything the agent said no to, or could not be asked
     ├── AgentUnreachable           connection refused / 5xx gateway, after retries with backoff
     ├── QuotaExceeded              429 quota_exceeded: retry_after_s, resets_at, balance, price
     │   └── TooManyJobs            429 too_many_jobs: the user's in-flight limit, retry_after_s
     ├── AgentBusy                  503 queue_full / storage_unavailable / disk_full, retry_after_s
     ├── InvalidRequest             400 invalid_input / bad_request: message says why, `field` what
     ├── JobNotFound                404 not_found on a job (expired, or another agent's)
     │   └── VideoExpired           404 video_expired: deleted after the retention period
     └── VideoTooLarge             the finished file is over the platform's limit

`code` is the agent's `error.code` (an `ErrorCode`, matched exactly) when it sent one, else a short
text saying what went wrong on the way ("unreachable", "http_502"); the classes are chosen from the
code, never from the message. Answers are decoded into the `agent.protocol` messages; events come
through the protocol's one SSE parser.

Idempotency lives in the agent: the same `request_id` returns the same job, so retrying a submit
after a dropped connection can never charge twice. The SSE follower resumes with `Last-Event-ID`.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import msgspec
import tenacity

from agent.protocol import Change, DeriveQuote, DeriveRequest, EditRequest, convert, decode, sse_fields, to_builtins
from bot.wire import ErrorBody, ErrorCode, Event, Job, JobOptions, Quota, Status, SubmitRequest, UserRef

__all__ = [
    "AgentClient",
    "AgentError",
    "AgentUnreachable",
    "QuotaExceeded",
    "TooManyJobs",
    "AgentBusy",
    "InvalidRequest",
    "JobNotFound",
    "VideoExpired",
    "VideoTooLarge",
    "DEFAULT_BACKOFF_S",
]

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
DEFAULT_BACKOFF_S: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0)  # ~15 s before "unreachable"
_RETRY_STATUSES = frozenset({502, 503, 504})
_RETRYABLE = (aiohttp.ClientError, asyncio.TimeoutError, OSError)  # no answer, or a gateway's 5xx
# 503s the agent itself answers: it is up but cannot take the job now; nothing was charged
_BUSY_CODES = frozenset({ErrorCode.QUEUE_FULL, ErrorCode.STORAGE_UNAVAILABLE, ErrorCode.DISK_FULL})


class AgentError(Exception):
    """The agent refused, or could not be reached. `code` is the agent's error code when it sent one."""

    def __init__(self, message: str, code: ErrorCode | str = "error", status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


class AgentUnreachable(AgentError):
    """No answer from the agent after every retry."""


class QuotaExceeded(AgentError):
    """429 quota_exceeded: not enough credits. `resets_at` (ISO 8601) is when the allowance refills."""

    def __init__(self, message: str, retry_after_s: float | None, resets_at: str = "",
                 code: ErrorCode | str = ErrorCode.QUOTA_EXCEEDED, *, balance: int | None = None,
                 price: int | None = None) -> None:
        super().__init__(message, code, 429)
        self.retry_after_s = retry_after_s
        self.resets_at = resets_at
        self.balance = balance
        self.price = price


class TooManyJobs(QuotaExceeded):
    """429 too_many_jobs: the user already has as many videos on the way as allowed."""


class AgentBusy(AgentError):
    """503 queue_full (or its storage is full): the agent is up but cannot take a job; nothing was charged."""

    def __init__(self, message: str, retry_after_s: float | None, code: ErrorCode | str = ErrorCode.QUEUE_FULL) -> None:
        super().__init__(message, code, 503)
        self.retry_after_s = retry_after_s


class InvalidRequest(AgentError):
    """400: the agent explained what is wrong with the topic or an option (`field`)."""

    def __init__(self, message: str, code: ErrorCode | str = ErrorCode.INVALID_INPUT, status: int | None = 400,
                 field: str = "") -> None:
        super().__init__(message, code, status)
        self.field = field


class JobNotFound(AgentError):
    """404 for a job id."""


class VideoExpired(JobNotFound):
    """404 video_expired: the job is done but its video was deleted after the retention period."""


class VideoTooLarge(AgentError):
    """The finished video is larger than the caller's limit."""

    def __init__(self, size_bytes: int, limit_bytes: int) -> None:
        super().__init__(f"video is {size_bytes} bytes, limit {limit_bytes}", "too_large")
        self.size_bytes = size_bytes
        self.limit_bytes = limit_bytes


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and value.replace(".", "", 1).isdigit():
        return float(value)
    return None


async def _error_from(resp: aiohttp.ClientResponse) -> AgentError:
    """Map the agent's `ErrorBody` (agent.service.api.error_response) to a type, by its exact code."""
    try:
        err = convert(await resp.json(content_type=None), ErrorBody).error
    except (ValueError, aiohttp.ClientError, msgspec.ValidationError):  # not the agent's (a proxy's), or a
        # code this bot does not know yet: the HTTP status is all there is
        return _by_status(resp.status, f"http_{resp.status}", resp.reason or f"agent answered {resp.status}",
                          _number(resp.headers.get("Retry-After")))
    retry = float(err.retry_after_s) if err.retry_after_s is not None else _number(resp.headers.get("Retry-After"))
    code = err.code
    if code is ErrorCode.TOO_MANY_JOBS:
        return TooManyJobs(err.message, retry, code=code)
    if code is ErrorCode.QUOTA_EXCEEDED:
        return QuotaExceeded(err.message, retry, err.resets_at or "", code, balance=err.balance, price=err.price)
    if code in _BUSY_CODES:
        return AgentBusy(err.message, retry, code)
    if code in (ErrorCode.INVALID_INPUT, ErrorCode.BAD_REQUEST):
        return InvalidRequest(err.message, code, resp.status, err.field or "")
    if code is ErrorCode.VIDEO_EXPIRED:
        return VideoExpired(err.message, code, 404)
    return _by_status(resp.status, code, err.message, retry)


def _by_status(status: int, code: ErrorCode | str, message: str, retry: float | None) -> AgentError:
    if status == 429:
        return QuotaExceeded(message, retry, "", code)
    if status in (400, 422):
        return InvalidRequest(message, code, status)
    if status == 404:
        return JobNotFound(message, code, 404)
    return AgentError(message, code, status)


async def _gateway_error(resp: aiohttp.ClientResponse) -> AgentError | None:
    """A 502/503/504 is retried as an outage, unless it is the agent itself saying its queue is full."""
    if resp.content_type != "application/json":
        return None
    error = await _error_from(resp)
    return error if isinstance(error, AgentBusy) else None



class _Retries(tenacity.AsyncRetrying):
    """One call's retries (tenacity, with the client's injected sleep): `backoff_s[n]` is the wait
    before retry n+1; after the last, `give_up(error)` is raised. `progress()` starts the count
    again (an event stream that delivered something before it dropped)."""

    def __init__(self, backoff: Sequence[float], sleep: Sleep, give_up: Callable[[BaseException], AgentError],
                 on_retry: Callable[[BaseException, int, float], None] | None = None) -> None:
        self.failures = 0
        self._backoff, self._give_up, self._on_retry = backoff, give_up, on_retry
        super().__init__(retry=tenacity.retry_if_exception_type(_RETRYABLE), stop=self._spent, wait=self._wait,
                         sleep=sleep, before_sleep=self._before_sleep, retry_error_callback=self._raise)

    def progress(self) -> None:
        self.failures = 0

    def _spent(self, state: tenacity.RetryCallState) -> bool:
        return self.failures >= len(self._backoff)

    def _wait(self, state: tenacity.RetryCallState) -> float:
        return self._backoff[self.failures] if self.failures < len(self._backoff) else 0.0

    def _before_sleep(self, state: tenacity.RetryCallState) -> None:
        delay = self._backoff[self.failures]
        self.failures += 1
        if self._on_retry is not None and state.outcome is not None:
            self._on_retry(_outcome_error(state), self.failures, delay)

    def _raise(self, state: tenacity.RetryCallState) -> Any:
        error = _outcome_error(state)
        raise self._give_up(error) from error


def _outcome_error(state: tenacity.RetryCallState) -> BaseException:
    error = state.outcome.exception() if state.outcome is not None else None
    return error if error is not None else RuntimeError("no outcome")


class AgentClient:
    """One per process, over the process's shared `ClientSession`."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        token: str = "",
        *,
        backoff_s: Sequence[float] = DEFAULT_BACKOFF_S,
        sleep: Sleep = asyncio.sleep,
        request_timeout_s: float = 30.0,
        sse_idle_timeout_s: float = 120.0,
    ) -> None:
        self._session = session
        self._base = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._backoff = tuple(backoff_s)
        self._sleep = sleep
        self._timeout = aiohttp.ClientTimeout(total=request_timeout_s)
        self._sse_timeout = aiohttp.ClientTimeout(total=None, sock_read=sse_idle_timeout_s)

    # ------------------------------------------------------------------ plain requests

    async def _request(self, method: str, path: str, *, json_body: Any = None) -> Any:
        """JSON request with retries on connection errors and gateway 5xx. Returns the parsed body."""
        def unreachable(exc: BaseException) -> AgentError:
            log.warning("agent unreachable: %s %s: %s", method, path, exc)
            return AgentUnreachable(f"agent unreachable at {self._base}: {exc}", "unreachable")

        def retrying(exc: BaseException, n: int, delay: float) -> None:
            log.info("agent %s %s failed (%s), retry %d in %.1fs", method, path, exc, n, delay)

        async for attempt in _Retries(self._backoff, self._sleep, unreachable, retrying):
            with attempt:
                async with self._session.request(
                    method, self._base + path, json=json_body, headers=self._headers, timeout=self._timeout
                ) as resp:
                    if resp.status in _RETRY_STATUSES:
                        busy = await _gateway_error(resp)
                        if busy is not None:
                            raise busy
                        raise aiohttp.ClientResponseError(resp.request_info, (), status=resp.status)
                    if resp.status >= 400:
                        raise await _error_from(resp)
                    if resp.status == 204:
                        return {}
                    return await resp.json(content_type=None)
        raise AssertionError("unreachable: the retries return or raise")

    async def submit(
        self, request_id: str, user: Mapping[str, Any], topic: str, options: Mapping[str, Any], *,
        review: bool = False, parent_job_id: str | None = None, changes: Sequence[Mapping[str, Any]] = (),
    ) -> Job:
        body = SubmitRequest(request_id=request_id, user=convert(dict(user), UserRef), topic=topic,
                             options=convert({k: v for k, v in options.items() if v not in (None, "")}, JobOptions),
                             review=review, parent_job_id=parent_job_id, changes=convert(list(changes), list[Change]))
        return convert(await self._request("POST", "/v1/jobs", json_body=to_builtins(body)), Job)

    async def job(self, job_id: str) -> Job:
        return convert(await self._request("GET", f"/v1/jobs/{quote(job_id)}"), Job)

    async def cancel(self, job_id: str) -> None:
        await self._request("DELETE", f"/v1/jobs/{quote(job_id)}")

    async def quote(self, job_id: str, changes: Sequence[Mapping[str, Any]]) -> DeriveQuote:
        """What a job derived from `job_id` with `changes` would cost (raises AgentError parent_expired)."""
        body = to_builtins(DeriveRequest(changes=convert(list(changes), list[Change])))
        return convert(await self._request("POST", f"/v1/jobs/{quote(job_id)}/quote", json_body=body), DeriveQuote)

    async def review(self, job_id: str, step: str, narrations: Sequence[str] | None = None) -> Job:
        """A job in review: step "approve", "rewrite" or "edit" (with every scene's narration)."""
        body = to_builtins(EditRequest(narrations=list(narrations or []))) if step == "edit" else None
        return convert(await self._request("POST", f"/v1/jobs/{quote(job_id)}/{quote(step)}", json_body=body), Job)

    async def status(self) -> Status:
        return convert(await self._request("GET", "/v1/status"), Status)

    async def quota(self, platform: str, user_id: str) -> Quota:
        return convert(await self._request("GET", f"/v1/users/{quote(platform)}/{quote(user_id)}/quota"), Quota)

    # ------------------------------------------------------------------ events

    async def events(self, job_id: str, last_event_id: int | None = None) -> AsyncGenerator[Event, None]:
        """Follow the job's SSE stream until its terminal event, resuming with Last-Event-ID."""
        last = last_event_id

        def lost(exc: BaseException) -> AgentError:
            return AgentUnreachable(f"lost the event stream for job {job_id}: {exc}", "unreachable")

        def resuming(exc: BaseException, n: int, delay: float) -> None:
            log.info("job %s: event stream dropped (%s), resuming after %s in %.1fs", job_id, exc, last, delay)

        retries = _Retries(self._backoff, self._sleep, lost, resuming)
        async for attempt in retries:
            headers = dict(self._headers, Accept="text/event-stream")
            if last is not None:
                headers["Last-Event-ID"] = str(last)
            with attempt:
                async with self._session.get(
                    f"{self._base}/v1/jobs/{quote(job_id)}/events", headers=headers, timeout=self._sse_timeout
                ) as resp:
                    if resp.status in _RETRY_STATUSES:
                        raise aiohttp.ClientResponseError(resp.request_info, (), status=resp.status)
                    if resp.status >= 400:
                        raise await _error_from(resp)
                    async for event in _sse(resp.content):
                        retries.progress()
                        last = event.seq
                        yield event
                        if event.terminal:
                            return
                raise aiohttp.ServerDisconnectedError("event stream ended before the job did")

    # ------------------------------------------------------------------ the video

    async def download(self, job_id: str, dest: Path, max_bytes: int | None = None) -> int:
        """Stream the MP4 to `dest` (atomically). Raises VideoTooLarge past `max_bytes`."""
        tmp = dest.with_name(dest.name + ".part")

        def unfetched(exc: BaseException) -> AgentError:
            return AgentUnreachable(f"could not fetch the video of job {job_id}: {exc}", "unreachable")

        async for attempt in _Retries(self._backoff, self._sleep, unfetched):
            with attempt:
                try:
                    async with self._session.get(
                        f"{self._base}/v1/jobs/{quote(job_id)}/video", headers=self._headers,
                        timeout=aiohttp.ClientTimeout(total=None, sock_read=60),
                    ) as resp:
                        if resp.status in _RETRY_STATUSES:
                            raise aiohttp.ClientResponseError(resp.request_info, (), status=resp.status)
                        if resp.status >= 400:
                            raise await _error_from(resp)
                        length = resp.content_length
                        if max_bytes and length and length > max_bytes:
                            raise VideoTooLarge(length, max_bytes)
                        size = 0
                        fh = await asyncio.to_thread(open, tmp, "wb")
                        try:
                            async for chunk in resp.content.iter_chunked(1 << 16):
                                size += len(chunk)
                                if max_bytes and size > max_bytes:
                                    raise VideoTooLarge(length or size, max_bytes)
                                await asyncio.to_thread(fh.write, chunk)
                        finally:
                            await asyncio.to_thread(fh.close)  # flushes the last buffered chunk
                        await asyncio.to_thread(os.replace, tmp, dest)
                        return size
                finally:
                    await asyncio.to_thread(tmp.unlink, missing_ok=True)
        raise AssertionError("unreachable: the retries return or raise")


async def _sse(stream: aiohttp.StreamReader) -> AsyncIterator[Event]:
    """The events of a `text/event-stream`: lines up to a blank one make a message, which the
    protocol's SSE parser reads (agent.protocol.sse_fields); a malformed event is logged and skipped."""
    lines: list[str] = []
    while True:
        raw = await stream.readline()
        if not raw:
            return
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if line:
            lines.append(line)
            continue
        _event_id, data = sse_fields("\n".join(lines))
        lines = []
        if data is None:
            continue
        try:
            yield decode(data, Event)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            log.warning("ignoring a malformed event (%s): %.200s", exc, data)
