"""What the HTTP handlers ask of a job runner: the embedded `JobRunner` (agent.service.jobs) and the
distributed mode's front door `ClusterRunner` (agent.service.cluster) both answer it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from agent.protocol import QueueInfo, Job
from storage import JobStore

if TYPE_CHECKING:
    from agent.service.jobs import CancelOutcome, SubmitData
    from agent.service.live import LiveJob

__all__ = ["Runner"]


class Runner(Protocol):
    store: JobStore

    async def submit(self, data: SubmitData) -> tuple[Job, bool]: ...

    async def job(self, job_id: str) -> Job | None: ...

    async def cancel(self, job_id: str) -> CancelOutcome: ...

    def live(self, job_id: str) -> LiveJob | None: ...

    def queue_info(self) -> QueueInfo: ...

    def video_file(self, job_id: str) -> Path: ...
