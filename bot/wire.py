"""The agent's wire types as the bot reads them: the messages of `agent.protocol`, re-exported.

There is one definition of every message (agent.protocol, stdlib + msgspec only); the bot decodes the
agent's answers into those Structs (tolerantly: a field the bot does not know is ignored) and reads
typed fields: `job.status is JobStatus.DONE`, `err.code is ErrorCode.QUOTA_EXCEEDED`.
"""

from __future__ import annotations

from agent.protocol import (
    TERMINAL_STATUSES,
    BackendStatus,
    Credits,
    ErrorBody,
    ErrorCode,
    ErrorDetail,
    Event,
    Job,
    JobError,
    JobStatus,
    Quota,
    ScriptView,
    ServiceState,
    Stage,
    Status,
    SubmitRequest,
    UserRef,
    JobOptions,
    WorkerState,
    job_from_event,
)

__all__ = ["TERMINAL_STATUSES", "BackendStatus", "Credits", "ErrorBody", "ErrorCode", "ErrorDetail", "Event", "Job",
           "JobError", "JobOptions", "JobStatus", "Quota", "ScriptView", "ServiceState", "Stage", "Status",
           "SubmitRequest", "UserRef", "WorkerState", "job_from_event", "served_by"]


def served_by(job: Job) -> dict[str, str]:
    """Stage -> who served it, the provider that served most items first ("comfyui, offline")."""
    return {stage: ", ".join(name for name, _n in sorted(counts.items(), key=lambda kv: -kv[1]))
            for stage, counts in job.providers.items() if counts}
