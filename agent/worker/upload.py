"""The finished video to a front door: an HTTP PUT with the worker token, streamed, retried.

A worker only connects out (GPU boxes sit behind NAT): to the database, and here to the front
doors' URL (`cluster.front_door_url`). The front door that receives the file keeps it on its disk
and records itself in the database as the job's holder (agent.service.worker_api). A front door
being restarted or unreachable is waited for (with capped backoff) until the deadline; the job
stays running meanwhile, so nothing is lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

import aiohttp
import tenacity

from agent.protocol import API_PREFIX

__all__ = ["upload_video", "UploadRefused", "worker_video_path", "CHUNK"]

log = logging.getLogger(__name__)
CHUNK = 1024 * 1024


class UploadRefused(Exception):
    """The front door will not take the video: the run is not current (409) or the token is wrong."""


class _TryAgain(Exception):
    pass


def worker_video_path(job_id: str) -> str:
    return f"{API_PREFIX}/worker/jobs/{job_id}/video"


async def _chunks(path: Path) -> AsyncIterator[bytes]:
    handle: BinaryIO = await asyncio.to_thread(path.open, "rb")
    try:
        while chunk := await asyncio.to_thread(handle.read, CHUNK):
            yield chunk
    finally:
        await asyncio.to_thread(handle.close)


async def upload_video(session: aiohttp.ClientSession, base_url: str, token: str, job_id: str, attempt: int,
                       path: Path, *, deadline_s: float) -> None:
    url = base_url.rstrip("/") + worker_video_path(job_id)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "video/mp4"}

    async def once() -> None:
        try:
            async with session.put(url, params={"attempt": str(attempt)}, data=_chunks(path), headers=headers,
                                   timeout=aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=60)) as resp:
                if resp.status in (200, 201):
                    return
                body = (await resp.text())[:300]
                if resp.status in (401, 403, 404, 409):
                    raise UploadRefused(f"the front door refused the video ({resp.status}): {body}")
                raise _TryAgain(f"{resp.status}: {body}")
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise _TryAgain(f"{type(exc).__name__}: {exc}") from exc

    def waiting(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning("job %s: handing the video to %s failed (%s); trying again", job_id, base_url, exc)

    retrying = tenacity.AsyncRetrying(
        retry=tenacity.retry_if_exception_type(_TryAgain), stop=tenacity.stop_after_delay(deadline_s),
        wait=tenacity.wait_exponential(multiplier=0.5, max=10), before_sleep=waiting, reraise=True)
    await retrying(once)
