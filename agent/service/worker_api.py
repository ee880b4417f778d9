"""The front door's endpoints for workers, and a video held by another front door.

    PUT /v1/worker/jobs/{id}/video?attempt=N   a worker hands over a finished video (streamed to a
                                               hidden temp file, renamed into place), then this
                                               front door records itself as its holder, fenced by
                                               the attempt: a run that is no longer current gets 409
    GET /v1/worker/jobs/{id}/video             the held file (Range as for users), for the other
                                               front doors

Both take only the worker token (REELBOT_WORKER_TOKEN, checked in constant time); without one
configured they answer 401: a front door never takes files from anyone by default.

Why the front door's disk, not an S3 store: a worker already has to reach a front door, and the
front doors already serve Range downloads and delete videos by retention from their disk; no other
service to run. The rule "front doors share nothing but the database" holds because the holder is
in the database: a download that reaches a front door without the file is streamed from the holder
(`proxy_video`), Range and all.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from agent.protocol import API_PREFIX, ErrorCode
from storage.cluster import ClusterStore

__all__ = ["WORKER_PREFIX", "worker_routes", "proxy_video", "check_worker_token"]

log = logging.getLogger(__name__)

WORKER_PREFIX = f"{API_PREFIX}/worker/"
JOB_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
CHUNK = 1024 * 1024
PROXIED_HEADERS = ("Content-Type", "Content-Length", "Content-Range", "Content-Disposition", "Accept-Ranges",
                   "Last-Modified", "ETag")


class WorkerRefused(Exception):
    def __init__(self, status: int, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code


def check_worker_token(request: web.Request, token: str) -> None:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    sent = given.strip().encode("utf-8", "surrogateescape")
    if not token or scheme.lower() != "bearer" or not hmac.compare_digest(sent, token.encode()):
        raise WorkerRefused(401, ErrorCode.UNAUTHORIZED, "missing or wrong worker token")


def _job_id(request: web.Request) -> str:
    job_id = request.match_info["job_id"]
    if not JOB_ID.fullmatch(job_id):
        raise WorkerRefused(404, ErrorCode.NOT_FOUND, "no such job")
    return job_id


def worker_routes(*, token: str, store: Callable[[], ClusterStore], jobs_dir: Path, holder: str,
                  refuse: Callable[[int, ErrorCode, str], web.Response]) -> list[web.RouteDef]:
    """The routes; `store()` gives the cluster store once the database is open."""
    def guarded(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> Any:
        async def run(request: web.Request) -> web.StreamResponse:
            try:
                check_worker_token(request, token)
                return await handler(request)
            except WorkerRefused as exc:
                return refuse(exc.status, exc.code, str(exc))
        return run

    async def put_video(request: web.Request) -> web.StreamResponse:
        job_id = _job_id(request)
        try:
            attempt = int(request.query.get("attempt", ""))
        except ValueError:
            raise WorkerRefused(400, ErrorCode.BAD_REQUEST, "attempt must be a number") from None
        cluster = store()
        row = await cluster.job(job_id)
        if row is None:
            raise WorkerRefused(404, ErrorCode.NOT_FOUND, "no such job")
        if row.status != "running" or row.attempt != attempt:
            raise WorkerRefused(409, ErrorCode.ALREADY_FINISHED, "this run of the job is not the current one")
        folder = jobs_dir / job_id
        await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
        part, final = folder / ".video.mp4.part", folder / "video.mp4"
        handle = await asyncio.to_thread(part.open, "wb")
        try:
            while chunk := await request.content.read(CHUNK):
                await asyncio.to_thread(handle.write, chunk)
        finally:
            await asyncio.to_thread(handle.close)
        await asyncio.to_thread(os.replace, part, final)
        if not await cluster.set_holder(job_id, attempt, holder):
            await asyncio.to_thread(final.unlink, True)
            raise WorkerRefused(409, ErrorCode.ALREADY_FINISHED, "this run of the job is not the current one")
        log.info("job %s: video received from a worker (attempt %d)", job_id, attempt)
        return web.json_response({"holder": holder}, status=201)

    async def get_video(request: web.Request) -> web.StreamResponse:
        path = jobs_dir / _job_id(request) / "video.mp4"
        if not await asyncio.to_thread(path.is_file):
            raise WorkerRefused(404, ErrorCode.VIDEO_EXPIRED, "this front door does not hold the video")
        return web.FileResponse(path, headers={"Content-Type": "video/mp4"})

    return [
        web.put(f"{WORKER_PREFIX}jobs/{{job_id}}/video", guarded(put_video)),
        web.get(f"{WORKER_PREFIX}jobs/{{job_id}}/video", guarded(get_video), allow_head=False),
    ]


async def proxy_video(request: web.Request, session: aiohttp.ClientSession, holder: str, job_id: str,
                      token: str, disposition: str) -> web.StreamResponse | None:
    """Stream the video from the front door holding it (Range and If-Range passed on); None when the
    holder does not have it or cannot be reached."""
    headers = {"Authorization": f"Bearer {token}"}
    for name in ("Range", "If-Range"):
        if name in request.headers:
            headers[name] = request.headers[name]
    try:
        async with session.get(f"{holder.rstrip('/')}{WORKER_PREFIX}jobs/{job_id}/video", headers=headers,
                               timeout=aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=60)) as resp:
            if resp.status not in (200, 206, 416):
                return None
            out = web.StreamResponse(status=resp.status, headers={
                k: resp.headers[k] for k in PROXIED_HEADERS if k in resp.headers})
            out.headers["Content-Disposition"] = disposition
            await out.prepare(request)
            async for chunk in resp.content.iter_chunked(CHUNK):
                await out.write(chunk)
            await out.write_eof()
            return out
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        log.warning("job %s: the front door %s holding the video cannot be reached: %s", job_id, holder, exc)
        return None
