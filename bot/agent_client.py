"""HTTP client for the agent (DESIGN.md "Agent HTTP API"): submit, follow, fetch, cancel, status, quota.

Errors are types the flow words for people::

    AgentError                      anything the agent said no to, or could not be asked
     ├── AgentUnreachable           connection refused / 5xx gateway, after retries with backoff
     ├── QuotaExceeded              429 quota_exceeded, with retry_after_s
     ├── InvalidRequest             400: the topic or an option was refused; message says why
     ├── JobNotFound                404 on a job (expired, or another agent's)
     └── VideoTooLarge             the finished file is over the platform's limit

Idempotency lives in the agent: the same `request_id` returns the same job, so retrying a submit
after a dropped connection can never charge twice. The SSE follower resumes with `Last-Event-ID`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp

from bot.wire import AgentStatus, ErrorInfo, Job, JobEvent, Quota

__all__ = [
    "AgentClient",
    "AgentError",
    "AgentUnreachable",
    "QuotaExceeded",
    "InvalidRequest",
    "JobNotFound",
    "VideoTooLarge",
    "DEFAULT_BACKOFF_S",
]

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
DEFAULT_BACKOFF_S: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0)  # ~15 s before "unreachable"
_RETRY_STATUSES = frozenset({502, 503, 504})


class AgentError(Exception):
    """The agent refused, or could not be reached. `code` is the agent's error code when it sent one."""

    def __init__(self, message: str, code: str = "error", status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


class AgentUnreachable(AgentError):
    """No answer from the agent after every retry."""


class QuotaExceeded(AgentError):
    """429 quota_exceeded: out of credits or too many jobs in flight."""

    def __init__(self, message: str, retry_after_s: float | None, resets_at: str = "", code: str = "quota_exceeded") -> None:
        super().__init__(message, code, 429)
        self.retry_after_s = retry_after_s
        self.resets_at = resets_at


class InvalidRequest(AgentError):
    """400: the agent explained what is wrong with the topic or an option."""


class JobNotFound(AgentError):
    """404 for a job id."""


class VideoTooLarge(AgentError):
    """The finished video is larger than the caller's limit."""

    def __init__(self, size_bytes: int, limit_bytes: int) -> None:
        super().__init__(f"video is {size_bytes} bytes, limit {limit_bytes}", "too_large")
        self.size_bytes = size_bytes
        self.limit_bytes = limit_bytes


async def _error_from(resp: aiohttp.ClientResponse) -> AgentError:
    try:
        body: Any = await resp.json(content_type=None)
    except (ValueError, aiohttp.ClientError):
        body = {}
    info = ErrorInfo.parse(body) or ErrorInfo(code=f"http_{resp.status}", message=resp.reason or "")
    if resp.status == 429:
        err = body.get("error", {}) if isinstance(body, Mapping) else {}
        retry = err.get("retry_after_s", body.get("retry_after_s") if isinstance(body, Mapping) else None)
        if retry is None and resp.headers.get("Retry-After", "").replace(".", "", 1).isdigit():
            retry = float(resp.headers["Retry-After"])
        return QuotaExceeded(info.message, float(retry) if retry is not None else None, str(err.get("resets_at", "")), info.code)
    if resp.status == 400 or resp.status == 422:
        return InvalidRequest(info.message, info.code, resp.status)
    if resp.status == 404:
        return JobNotFound(info.message, info.code, 404)
    return AgentError(info.message or f"agent answered {resp.status}", info.code, resp.status)


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
        attempt = 0
        while True:
            try:
                async with self._session.request(
                    method, self._base + path, json=json_body, headers=self._headers, timeout=self._timeout
                ) as resp:
                    if resp.status in _RETRY_STATUSES:
                        raise aiohttp.ClientResponseError(resp.request_info, (), status=resp.status)
                    if resp.status >= 400:
                        raise await _error_from(resp)
                    if resp.status == 204:
                        return {}
                    return await resp.json(content_type=None)
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                if attempt >= len(self._backoff):
                    log.warning("agent unreachable: %s %s: %s", method, path, exc)
                    raise AgentUnreachable(f"agent unreachable at {self._base}: {exc}", "unreachable") from exc
                delay = self._backoff[attempt]
                attempt += 1
                log.info("agent %s %s failed (%s), retry %d in %.1fs", method, path, exc, attempt, delay)
                await self._sleep(delay)

    async def submit(
        self, request_id: str, user: Mapping[str, Any], topic: str, options: Mapping[str, Any]
    ) -> Job:
        body = {"request_id": request_id, "user": dict(user), "topic": topic,
                "options": {k: v for k, v in options.items() if v not in (None, "")}}
        return Job.parse(await self._request("POST", "/v1/jobs", json_body=body))

    async def job(self, job_id: str) -> Job:
        return Job.parse(await self._request("GET", f"/v1/jobs/{quote(job_id)}"))

    async def cancel(self, job_id: str) -> None:
        await self._request("DELETE", f"/v1/jobs/{quote(job_id)}")

    async def status(self) -> AgentStatus:
        return AgentStatus.parse(await self._request("GET", "/v1/status"))

    async def quota(self, platform: str, user_id: str) -> Quota:
        return Quota.parse(await self._request("GET", f"/v1/users/{quote(platform)}/{quote(user_id)}/quota"))

    # ------------------------------------------------------------------ events

    async def events(self, job_id: str, last_event_id: int | None = None) -> AsyncIterator[JobEvent]:
        """Follow the job's SSE stream until its terminal event, resuming with Last-Event-ID."""
        failures = 0
        last = last_event_id
        while True:
            headers = dict(self._headers, Accept="text/event-stream")
            if last is not None:
                headers["Last-Event-ID"] = str(last)
            try:
                async with self._session.get(
                    f"{self._base}/v1/jobs/{quote(job_id)}/events", headers=headers, timeout=self._sse_timeout
                ) as resp:
                    if resp.status in _RETRY_STATUSES:
                        raise aiohttp.ClientResponseError(resp.request_info, (), status=resp.status)
                    if resp.status >= 400:
                        raise await _error_from(resp)
                    async for event_id, data in _sse(resp.content):
                        failures = 0
                        event = JobEvent.parse(data, seq=event_id)
                        if event_id is not None:
                            last = event_id
                        yield event
                        if event.terminal:
                            return
                raise aiohttp.ServerDisconnectedError("event stream ended before the job did")
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                if failures >= len(self._backoff):
                    raise AgentUnreachable(f"lost the event stream for job {job_id}: {exc}", "unreachable") from exc
                delay = self._backoff[failures]
                failures += 1
                log.info("job %s: event stream dropped (%s), resuming after %s in %.1fs", job_id, exc, last, delay)
                await self._sleep(delay)

    # ------------------------------------------------------------------ the video

    async def download(self, job_id: str, dest: Path, max_bytes: int | None = None) -> int:
        """Stream the MP4 to `dest` (atomically). Raises VideoTooLarge past `max_bytes`."""
        tmp = dest.with_name(dest.name + ".part")
        attempt = 0
        while True:
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
                    with open(tmp, "wb") as fh:
                        async for chunk in resp.content.iter_chunked(1 << 16):
                            size += len(chunk)
                            if max_bytes and size > max_bytes:
                                raise VideoTooLarge(length or size, max_bytes)
                            await asyncio.to_thread(fh.write, chunk)
                    os.replace(tmp, dest)
                    return size
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                if attempt >= len(self._backoff):
                    raise AgentUnreachable(f"could not fetch the video of job {job_id}: {exc}", "unreachable") from exc
                delay = self._backoff[attempt]
                attempt += 1
                await self._sleep(delay)
            finally:
                if tmp.exists():
                    tmp.unlink()


async def _sse(stream: aiohttp.StreamReader) -> AsyncIterator[tuple[int | None, dict[str, Any]]]:
    """Parse `text/event-stream`: `id:` and `data:` fields, a blank line ends an event, `:` comments."""
    event_id: int | None = None
    data: list[str] = []
    while True:
        raw = await stream.readline()
        if not raw:
            return
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if not line:
            if data:
                try:
                    payload = json.loads("\n".join(data))
                except ValueError:
                    log.warning("ignoring a malformed event: %.200s", "\n".join(data))
                else:
                    if isinstance(payload, dict):
                        yield event_id, payload
            data = []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            data.append(value)
        elif name == "id":
            event_id = int(value) if value.strip().isdigit() else event_id
