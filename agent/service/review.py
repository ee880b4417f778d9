"""Script review: a job submitted with `review` stops after its script until its requester answers.

    submit(review) -> queued -> running (script only: nothing GPU-heavy) -> review
    approve  -> queued (front of the line) -> running: the pipeline resumes from the stored script
    rewrite  -> queued (front) -> running (a new script) -> review
    edit     -> review, with the new narrations (checked here: the text reaches the voice engines)
    cancel, or no answer for `agent.review_ttl_s` -> cancelled, everything reserved given back

While in review the job holds no worker. Its row stays `running` in the store (the status `review`
is the live state), so a restart resumes it like any running job: the script comes back from the
work directory and the job is in review again. What is decided is kept beside the job's files in
`review.json` (approved?, since when), so an approved job is not asked again after a restart and
an unanswered one keeps its original deadline. Credits: the price is reserved at submission, as for
every job, so Render cannot fail for want of credits; nothing is charged unless the video is made.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import unicodedata
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from agent.engine.pipeline import forget_script, set_narrations
from agent.engine.validation import BIDI_CONTROLS, MAX_NARRATION_CHARS
from agent.protocol import ErrorCode, JobStatus, ScriptView
from agent.service.live import LiveJob
from agent.service.quota import iso_utc
from providers.base import Script

__all__ = ["ReviewDesk", "NotInReview", "BadEdit", "wants_review", "clean_narration", "REVIEW_FILE"]

log = logging.getLogger(__name__)

REVIEW_FILE = "review.json"


class NotInReview(Exception):
    """approve/rewrite/edit on a job that is not waiting for review (409 not_in_review)."""


class BadEdit(ValueError):
    """The edited narrations cannot be used; the message says why (400 invalid_input)."""


class Runner(Protocol):
    """What the desk needs of agent.service.jobs.JobRunner."""

    wall: Callable[[], float]

    def workdir(self, job_id: str) -> Path: ...
    def live(self, job_id: str) -> LiveJob | None: ...
    def emit(self, live: LiveJob, **fields: Any) -> Any: ...
    def requeue(self, live: LiveJob) -> None: ...
    async def end(self, live: LiveJob, status: JobStatus, code: ErrorCode, message: str) -> None: ...


def wants_review(live: LiveJob) -> bool:
    return bool(live.options.get("review"))


def clean_narration(text: Any, scene: int) -> str:
    """One scene's new narration: text, whitespace collapsed, no control or direction characters, not
    empty, at most MAX_NARRATION_CHARS (the same bound the script stage holds a backend to)."""
    if not isinstance(text, str):
        raise BadEdit(f"scene {scene}: the narration must be text")
    text = " ".join(text.split())  # newlines and tabs become spaces
    for ch in text:
        if unicodedata.category(ch) in ("Cc", "Cs") or ch in BIDI_CONTROLS:
            raise BadEdit(f"scene {scene}: the narration has a control character (U+{ord(ch):04X})")
    if not text:
        raise BadEdit(f"scene {scene}: the narration is empty")
    if len(text) > MAX_NARRATION_CHARS:
        raise BadEdit(f"scene {scene}: the narration is {len(text)} characters; keep it under {MAX_NARRATION_CHARS}")
    return text


class ReviewDesk:
    def __init__(self, runner: Runner, ttl_s: float, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self._runner = runner
        self._ttl_s = ttl_s
        self._sleep = sleep
        self._timers: dict[str, asyncio.Task[None]] = {}

    def _file(self, job_id: str) -> Path:
        return self._runner.workdir(job_id) / REVIEW_FILE

    async def _state(self, job_id: str) -> dict[str, Any]:
        def read() -> dict[str, Any]:
            try:
                return dict(json.loads(self._file(job_id).read_text(encoding="utf-8")))
            except (FileNotFoundError, ValueError):
                return {}
        return await asyncio.to_thread(read)

    async def _save(self, job_id: str, state: dict[str, Any]) -> None:
        def write() -> None:
            path = self._file(job_id)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(state), encoding="utf-8")
            os.replace(tmp, path)
        await asyncio.to_thread(write)

    async def script_only(self, live: LiveJob) -> bool:
        """Should this run of the job stop after its script? (review asked, not approved yet)"""
        return wants_review(live) and not (await self._state(live.id)).get("approved")

    async def park(self, live: LiveJob, script: Script) -> None:
        """The script is written: show it and wait (no worker held) until an answer or the deadline."""
        state = await self._state(live.id)
        since = float(state.get("since") or self._runner.wall())  # a restart keeps the first deadline
        await self._save(live.id, {**state, "since": since, "approved": False})
        live.status, live.stage, live.position = JobStatus.REVIEW, "review", None
        live.script = _view(script, since + self._ttl_s)
        self._runner.emit(live, stage="review", message="the script is ready for review", script=live.script)
        self._arm(live.id, since + self._ttl_s - self._runner.wall())
        log.info("job %s: script ready for review (%d scenes)", live.id, len(script.scenes))

    def _arm(self, job_id: str, delay_s: float) -> None:
        self.disarm(job_id)
        self._timers[job_id] = asyncio.get_running_loop().create_task(self._expire(job_id, max(0.0, delay_s)),
                                                                      name=f"review-expiry-{job_id}")

    def disarm(self, job_id: str) -> None:
        timer = self._timers.pop(job_id, None)
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()

    async def _expire(self, job_id: str, delay_s: float) -> None:
        await self._sleep(delay_s)
        live = self._runner.live(job_id)
        if live is None or live.status is not JobStatus.REVIEW:
            return
        self._timers.pop(job_id, None)
        log.info("job %s: review unanswered for %.0fs: cancelled without charge", job_id, self._ttl_s)
        await self._runner.end(live, JobStatus.CANCELLED, ErrorCode.REVIEW_EXPIRED,
                               "nobody approved the script in time, so the video was not made; nothing was charged")

    def _in_review(self, job_id: str) -> LiveJob:
        live = self._runner.live(job_id)
        if live is None or live.status is not JobStatus.REVIEW or live.final_pending is not None:
            raise NotInReview("the job is not waiting for review")
        return live

    async def approve(self, job_id: str) -> LiveJob:
        live = self._in_review(job_id)
        self.disarm(job_id)
        await self._save(job_id, {**await self._state(job_id), "approved": True})
        live.script = None
        self._runner.requeue(live)
        log.info("job %s: script approved: rendering", job_id)
        return live

    async def rewrite(self, job_id: str) -> LiveJob:
        live = self._in_review(job_id)
        self.disarm(job_id)
        await asyncio.to_thread(forget_script, self._runner.workdir(job_id))
        live.script = None
        self._runner.requeue(live)
        log.info("job %s: a new script was asked for", job_id)
        return live

    async def edit(self, job_id: str, narrations: Sequence[Any]) -> LiveJob:
        live = self._in_review(job_id)
        assert live.script is not None
        if len(narrations) != len(live.script.narrations):
            raise BadEdit(f"the script has {len(live.script.narrations)} scenes; send one narration for each "
                          f"(got {len(narrations)})")
        clean = [clean_narration(text, i) for i, text in enumerate(narrations, 1)]
        script = await asyncio.to_thread(set_narrations, self._runner.workdir(job_id), clean)
        live.script = _view(script, None, keep=live.script)
        self._runner.emit(live, stage="review", message="the script was edited", script=live.script)
        log.info("job %s: narration edited by its requester", job_id)
        return live

    async def cancelled(self, live: LiveJob) -> None:
        """Cancel of a job in review: no task to stop, it ends here with everything given back."""
        self.disarm(live.id)
        await self._runner.end(live, JobStatus.CANCELLED, ErrorCode.CANCELLED, "cancelled; nothing was charged")

    def close(self) -> None:
        for job_id in list(self._timers):
            self.disarm(job_id)


def _view(script: Script, expires_at: float | None, keep: ScriptView | None = None) -> ScriptView:
    expires = iso_utc(expires_at) if expires_at is not None else (keep.expires_at if keep is not None else None)
    return ScriptView(title=script.title, narrations=[s.narration for s in script.scenes], expires_at=expires)
