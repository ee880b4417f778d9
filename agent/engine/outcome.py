"""A finished pipeline job as the wire's `JobResult`, and what it costs: one definition for the
single-box runner (agent.service.jobs) and the distributed worker (agent.worker.execute)."""

from __future__ import annotations

from typing import Any

from agent.engine.pipeline import JobResult as PipelineResult
from agent.engine.routes import RoutePlan, charged_price
from agent.protocol import JobResult, to_builtins
from agent.settings import Settings

__all__ = ["wire_result", "job_charge"]


def wire_result(r: PipelineResult, video_url: str, public_url: str, parent_job_id: str | None = None) -> dict[str, Any]:
    """The result as stored with the final state (plain JSON); the credits are added when it is settled."""
    public = public_url.rstrip("/")
    return to_builtins(JobResult(
        title=r.title, duration_s=round(r.duration_s, 3), bytes=r.bytes, width=r.width, height=r.height,
        provenance={k: dict(v) for k, v in r.provenance.items()}, provenance_line=r.provenance_line(),
        video_url=video_url, download_url=f"{public}{video_url}" if public else None,
        stills_note=r.stills_note(), language=r.language, languages=dict(r.languages) or None,
        language_note="; ".join(r.language_notes) or None, scenes=len(r.script.scenes), parent_job_id=parent_job_id,
    ))


def job_charge(settings: Settings, plan: RoutePlan, r: PipelineResult, reserved: int, admin: bool) -> int:
    """What the job costs: the route's price when its providers served, a video scene that became a
    still at a slideshow's price; never more than was reserved, nothing for an admin."""
    if admin:
        return 0
    return min(reserved, charged_price(settings, plan, r.provenance, [scene.kind for scene in r.scenes]))
