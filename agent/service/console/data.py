"""What the console's pages show, read from the runner, the store and the ledger: plain view models.

Jobs are the wire's `Job` messages (agent.service.views builds them from the live state or the stored
row), so the console shows exactly what a bot would be told. The detail of a finished job adds the
stored provider attempts (who made each scene, what failed first: the fallbacks) and the timings
per stage, measured from its stored events (a stage runs from its first event to the next stage's).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from agent.protocol import Job, Status, to_builtins
from agent.service.api import Services
from agent.service.views import job_from_row
from storage.models import LedgerEntry, ProviderAttemptRow

__all__ = ["JobDetail", "Fallback", "StageTiming", "job_list", "job_detail", "stage_timings", "fallbacks",
           "backend_rows", "worker_rows", "ledger_rows", "parse_user_ref"]

PIPELINE_STAGES = ("script", "image", "clip", "voice", "render")
RECENT_JOBS = 50


@dataclass
class StageTiming:
    stage: str
    seconds: float


@dataclass
class Fallback:
    stage: str
    item: str
    failed: str  # "comfyui (unavailable: ...)"
    served_by: str


@dataclass
class JobDetail:
    job: Job
    attempts: list[ProviderAttemptRow]
    timings: list[StageTiming]
    fallbacks: list[Fallback]
    total_s: float | None
    extra: dict[str, Any] = field(default_factory=dict)


async def job_list(svc: Services) -> tuple[list[Job], list[Job]]:
    """(active jobs, oldest first; the latest finished ones, newest first)."""
    runner = svc.runner
    active_rows = [*await runner.store.with_status("running"), *await runner.store.with_status("queued")]
    active = [job for row in active_rows if (job := await runner.job(row.id)) is not None and not job.terminal]
    active.sort(key=lambda j: (j.status.value != "running", j.position or 0, j.created_at))
    finished = [job_from_row(row, user) for row, user in await runner.store.recent(RECENT_JOBS)]
    return active, [j for j in finished if j.terminal]


async def job_detail(svc: Services, job_id: str) -> JobDetail | None:
    runner = svc.runner
    job = await runner.job(job_id)
    if job is None:
        return None
    attempts = await runner.store.attempts(job_id)
    events = [json.loads(data) for data in await runner.store.events_after(job_id, 0)]
    timings = stage_timings(events)
    total = None
    if job.started_at and job.finished_at:
        total = max(0.0, (_epoch(job.finished_at) - _epoch(job.started_at)))
    return JobDetail(job, attempts, timings, fallbacks(attempts), total)


def _epoch(iso: str) -> float:
    return dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def stage_timings(events: Sequence[dict[str, Any]]) -> list[StageTiming]:
    """Seconds per pipeline stage from the events' times (a resumed job adds up its runs)."""
    spans: dict[str, float] = {}
    current: tuple[str, float] | None = None
    for event in sorted(events, key=lambda e: e.get("seq", 0)):
        stage, at = str(event.get("stage", "")), event.get("at")
        if not at:
            continue
        t = _epoch(str(at))
        if current is not None and stage != current[0]:
            if current[0] in PIPELINE_STAGES:
                spans[current[0]] = spans.get(current[0], 0.0) + max(0.0, t - current[1])
            current = None
        if current is None:
            current = (stage, t)
    return [StageTiming(s, round(spans[s], 3)) for s in PIPELINE_STAGES if s in spans]


def fallbacks(attempts: Sequence[ProviderAttemptRow]) -> list[Fallback]:
    """Each item that one provider failed and another then served."""
    failed: dict[tuple[str, str], list[str]] = {}
    out: list[Fallback] = []
    for a in attempts:
        key = (a.stage, a.item)
        if a.outcome == "ok":
            if key in failed:
                out.append(Fallback(a.stage, a.item, "; ".join(failed.pop(key)), a.provider))
        elif a.outcome != "skipped":
            why = f"{a.outcome}: {a.message[:120]}" if a.message else a.outcome
            failed.setdefault(key, []).append(f"{a.provider} ({why})")
    return out


def backend_rows(status: Status) -> list[dict[str, Any]]:
    """Every backend with the probe's details picked apart: models, VRAM, queue."""
    rows = []
    for b in status.backends:
        d = b.details
        models = d.get("models") or []
        if isinstance(models, int):
            models = [f"{models} listed"]
        vram = _vram(d)
        queue = _queue(d)
        if not b.configured:
            state = "not configured"
        elif b.up is False:
            state = "down"
        elif b.cooldowns:
            state = "cooling down"
        elif b.ready:
            state = "ready"
        else:
            state = "problem" if b.problem else "up"
        rows.append({"b": b, "state": state, "models": models if isinstance(models, list) else [str(models)],
                     "vram": vram, "queue": queue,
                     "extra": {k: v for k, v in d.items() if k not in _SHOWN_DETAILS}})
    return rows


_SHOWN_DETAILS = frozenset({"models", "vram_free", "vram_total", "queue_running", "queue_pending",
                            "vram_free_mb", "vram_total_mb"})


def _vram(d: dict[str, Any]) -> str:
    free, total = d.get("vram_free"), d.get("vram_total")
    if isinstance(free, int | float) and isinstance(total, int | float) and total:
        return f"{free / 2**30:.1f} / {total / 2**30:.1f} GiB free"
    free_mb, total_mb = d.get("vram_free_mb"), d.get("vram_total_mb")
    if isinstance(free_mb, int | float) and isinstance(total_mb, int | float):
        return f"{free_mb / 1024:.1f} / {total_mb / 1024:.1f} GiB free"
    return ""


def _queue(d: dict[str, Any]) -> str:
    running, pending = d.get("queue_running"), d.get("queue_pending")
    if running is None and pending is None:
        return ""
    return f"{running or 0} running, {pending or 0} waiting"


def worker_rows(status: Status, distributed: bool) -> list[dict[str, Any]] | None:
    """The cluster's workers (`Status.workers`), each as plain fields, shown as they come. None on a
    single-box agent (the section is left out); a distributed front door with none shows it empty."""
    if not distributed:
        return None
    rows = []
    for worker in status.workers:
        plain = to_builtins(worker)
        rows.append(plain if isinstance(plain, dict) else {"worker": plain})
    # the wire leaves out a field at its default (no current job, no problem): every row gets every
    # column any row has, in first-seen order, so the table's header (the first row's keys) fits all
    columns = list(dict.fromkeys(key for row in rows for key in row))
    return [{key: row.get(key, "") for key in columns} for row in rows]


def ledger_rows(entries: Sequence[LedgerEntry], limit: int = 200) -> list[LedgerEntry]:
    """The newest entries first."""
    return list(reversed(entries))[:limit]


def parse_user_ref(text: str) -> tuple[str, str] | None:
    """"platform:id" -> (platform, id); None when it is not one."""
    platform, sep, user_id = text.strip().partition(":")
    if not sep or not platform or not user_id:
        return None
    return platform, user_id
