"""The agent's wire types as the bot reads them (DESIGN.md, "Agent HTTP API").

Parsing is deliberately tolerant: unknown keys are ignored and optional keys may be missing, so the
bot keeps working while the agent grows fields. The enums come from `agent.protocol` (stdlib only),
so both sides share one definition; the dataclasses here are the bot's read-only view.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["JobStatus", "ErrorCode", "TERMINAL", "ErrorInfo", "JobEvent", "Job", "Quota", "AgentStatus", "BackendLine"]

from agent.protocol import TERMINAL_STATUSES, ErrorCode, JobStatus  # stdlib-only wire module

TERMINAL = frozenset(str(getattr(s, "value", s)) for s in TERMINAL_STATUSES)


def _status(value: Any) -> str:
    return str(getattr(value, "value", value) or "queued").lower()


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class ErrorInfo:
    code: str
    message: str

    @classmethod
    def parse(cls, raw: Any) -> ErrorInfo | None:
        if not raw:
            return None
        if isinstance(raw, str):
            return cls(code=raw, message=raw)
        if isinstance(raw, Mapping):
            inner = raw.get("error", raw)
            if isinstance(inner, Mapping):
                return cls(code=str(inner.get("code", "error")), message=str(inner.get("message", "")))
        return None


@dataclass(frozen=True)
class JobEvent:
    """One SSE event: a stage change or a progress step."""

    seq: int
    job_id: str
    status: str
    stage: str = ""
    progress: float = 0.0  # the whole job, 0..1
    message: str = ""
    provider: str = ""
    done: int | None = None  # items finished in this stage (images 3/7; render percent /100)
    total: int | None = None
    stage_done: bool = False
    position: int | None = None  # place in the queue while queued, 1 = next
    error: ErrorInfo | None = None
    refunded: bool | None = None
    result: Mapping[str, Any] | None = None  # agent.protocol.JobResultInfo, on a done job's terminal event
    credits_left: int | None = None  # terminal events: after settlement or refund (None for admins)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def as_job(self) -> Job:
        """What the terminal event says about the job, for when GET /v1/jobs/{id} can't be asked."""
        raw: dict[str, Any] = {"id": self.job_id, "status": self.status, "stage": self.stage}
        if self.result is not None:
            raw["result"] = dict(self.result)
        if self.error is not None:
            raw["error"] = {"code": self.error.code, "message": self.error.message}
            if self.refunded is not None:
                raw["error"]["refunded"] = self.refunded
        if self.refunded is not None:
            raw["refunded"] = self.refunded
        if self.credits_left is not None:
            raw["credits_left"] = self.credits_left
        return Job.parse(raw)

    @classmethod
    def parse(cls, raw: Mapping[str, Any], seq: int | None = None) -> JobEvent:
        return cls(
            seq=_int(raw.get("seq")) if raw.get("seq") is not None else (seq or 0),  # type: ignore[arg-type]
            job_id=str(raw.get("job_id", "")),
            status=_status(raw.get("status")),
            stage=str(raw.get("stage") or ""),
            progress=_float(raw.get("progress")) or 0.0,
            message=str(raw.get("message") or ""),
            provider=str(raw.get("provider") or ""),
            done=_int(raw.get("done")),
            total=_int(raw.get("total")),
            stage_done=bool(raw.get("stage_done", False)),
            position=_int(raw.get("position", raw.get("queue_position"))),
            error=ErrorInfo.parse(raw.get("error")),
            refunded=_refunded(raw),
            result=raw.get("result") if isinstance(raw.get("result"), Mapping) else None,
            credits_left=_credits_left(raw),
        )


def _refunded(raw: Mapping[str, Any]) -> bool | None:
    error = raw.get("error")
    for value in (raw.get("refunded"), error.get("refunded") if isinstance(error, Mapping) else None):
        if isinstance(value, bool):
            return value
    return None


def _credits_left(raw: Mapping[str, Any]) -> int | None:
    """`result.credits_left` on done, `error.credits_left` on failed/cancelled (agent.jobs._finish)."""
    for part in (raw.get("result"), raw.get("error")):
        if isinstance(part, Mapping) and part.get("credits_left") is not None:
            return _int(part.get("credits_left"))
    return None


@dataclass(frozen=True)
class Job:
    """GET /v1/jobs/{id}: the job's state, read tolerantly."""

    id: str
    status: str
    stage: str = ""
    progress: float = 0.0
    position: int | None = None
    topic: str = ""
    title: str = ""
    providers: Mapping[str, str] = field(default_factory=dict)  # stage -> provider that served it
    cost: int | None = None  # credits charged (after settlement)
    reserved: int | None = None  # credits held at submission (the route's price; 0 for free routes)
    credits_left: int | None = None
    refunded: bool | None = None
    error: ErrorInfo | None = None
    duration_s: float | None = None
    width: int | None = None
    height: int | None = None
    size_bytes: int | None = None
    download_url: str = ""
    video_expired: bool = False

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> Job:
        """agent.views.job_json: `result` on done jobs, `error` (with `refunded`) on failed ones.

        Credits: `credits` = {reserved, charged, refunded}; `cost` is the charged amount once done and
        the reserved one before (an int), so the charge is read from `credits.charged` when present."""
        job = raw.get("job", raw)
        result = job.get("result") if isinstance(job.get("result"), Mapping) else {}
        error = job.get("error") if isinstance(job.get("error"), Mapping) else {}
        credits = job.get("credits") if isinstance(job.get("credits"), Mapping) else None
        cost = job.get("cost")
        if credits is None and isinstance(cost, Mapping):
            credits = cost
        charged = _int(credits.get("charged")) if credits is not None else _int(cost)
        refunded = error.get("refunded") if isinstance(error.get("refunded"), bool) else job.get("refunded")
        if not isinstance(refunded, bool) and credits is not None and _int(credits.get("refunded")):
            refunded = True
        return cls(
            id=str(job.get("id", job.get("job_id", ""))),
            status=_status(job.get("status")),
            stage=str(job.get("stage") or ""),
            progress=_float(job.get("progress")) or 0.0,
            position=_int(job.get("position", job.get("queue_position"))),
            topic=str(job.get("topic") or ""),
            title=str(result.get("title") or job.get("title") or ""),
            providers=_providers(result.get("provenance") or job.get("providers") or job.get("provenance") or {}),
            cost=_int(result.get("credits_charged")) if result.get("credits_charged") is not None else charged,
            credits_left=_int(result.get("credits_left", job.get("credits_left"))),
            reserved=_int(credits.get("reserved")) if credits is not None else _int(job.get("price")),
            refunded=refunded if isinstance(refunded, bool) else None,
            error=ErrorInfo.parse(job.get("error")),
            duration_s=_float(result.get("duration_s", job.get("duration_s"))),
            width=_int(result.get("width", job.get("width"))),
            height=_int(result.get("height", job.get("height"))),
            size_bytes=_int(result.get("bytes", job.get("size_bytes"))),
            download_url=str(result.get("download_url") or job.get("download_url") or ""),
            video_expired=job.get("video_expired") is True,
        )


def _providers(raw: Any) -> dict[str, str]:
    """`{"script": "ollama"}` or `{"image": {"comfyui": 5, "offline": 2}}` -> stage -> main provider."""
    out: dict[str, str] = {}
    if not isinstance(raw, Mapping):
        return out
    for stage, value in raw.items():
        if isinstance(value, str):
            out[str(stage)] = value
        elif isinstance(value, Mapping) and value:
            ranked = sorted(value.items(), key=lambda kv: -(_int(kv[1]) or 0))
            out[str(stage)] = ", ".join(str(name) for name, _ in ranked)
        elif isinstance(value, list) and value:
            out[str(stage)] = ", ".join(dict.fromkeys(str(v) for v in value))
    return out


@dataclass(frozen=True)
class Quota:
    credits_left: int | None
    costs: Mapping[str, int]  # model/route -> credits
    resets_at: str = ""  # ISO 8601 as the agent sent it
    daily_credits: int | None = None
    unavailable: frozenset[str] = frozenset()  # routes priced in config that can't be picked now

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> Quota:
        costs_raw = raw.get("costs", raw.get("prices", {}))
        costs: dict[str, int] = {}
        unavailable: set[str] = set()
        if isinstance(costs_raw, Mapping):  # agent.quota: route -> {"label", "price", "mode", "available"}
            for k, v in costs_raw.items():
                price = v.get("price") if isinstance(v, Mapping) else v
                costs[str(k)] = _int(price) or 0
                if isinstance(v, Mapping) and v.get("available") is False:
                    unavailable.add(str(k))
        elif isinstance(costs_raw, list):
            for item in costs_raw:
                if isinstance(item, Mapping):
                    costs[str(item.get("name", item.get("model", "?")))] = _int(item.get("price", item.get("cost"))) or 0
        return cls(
            credits_left=_int(raw.get("balance", raw.get("credits_left"))),
            costs=costs,
            resets_at=str(raw.get("resets_at") or raw.get("reset_at") or ""),
            daily_credits=_int(raw.get("daily_credits", raw.get("allowance"))),
            unavailable=frozenset(unavailable),
        )

    @property
    def available(self) -> dict[str, int]:
        """The routes a user can pick now, with their prices."""
        return {name: price for name, price in self.costs.items() if name not in self.unavailable}


@dataclass(frozen=True)
class BackendLine:
    name: str
    configured: bool
    up: bool | None
    latency_ms: float | None = None
    detail: str = ""


@dataclass(frozen=True)
class AgentStatus:
    mode: str  # self-hosted | cloud | offline
    backends: tuple[BackendLine, ...]
    queued: int | None = None
    running: int | None = None

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> AgentStatus:
        lines: list[BackendLine] = []
        backends = raw.get("backends", raw.get("providers", []))
        items = backends.items() if isinstance(backends, Mapping) else (
            (b.get("name", "?"), b) for b in backends if isinstance(b, Mapping)
        )
        for name, b in items:
            if not isinstance(b, Mapping):
                continue
            detail = b.get("problem") or b.get("last_error") or b.get("error") or ""
            cooldowns = b.get("cooldowns") if isinstance(b.get("cooldowns"), Mapping) else {}
            if cooldowns:
                detail = f"cooling down ({', '.join(f'{k} {float(v):.0f}s' for k, v in cooldowns.items())}) {detail}".strip()
            version = b.get("version")
            if version and not detail:
                detail = f"v{version}"
            latency = _float(b.get("latency_ms"))
            if latency is None and _float(b.get("latency_s")) is not None:
                latency = (_float(b.get("latency_s")) or 0.0) * 1000
            up = b.get("up", b.get("healthy"))
            lines.append(
                BackendLine(str(name), bool(b.get("configured", True)), up if isinstance(up, bool) else None, latency, str(detail))
            )
        queue = raw.get("queue", {}) if isinstance(raw.get("queue"), Mapping) else {}
        return cls(
            mode=str(raw.get("mode", "offline")).lower(),
            backends=tuple(lines),
            queued=_int(queue.get("queued", queue.get("waiting"))),
            running=_int(queue.get("running")),
        )
