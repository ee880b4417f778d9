"""Observers of the job runner: what the metrics and the operator console learn as jobs go.

The runner tells each observer about every event a job publishes (the first, the progress ones and
the terminal one, in order) and every provider attempt. Observers are called on the event loop, in
line with the job, so they must be quick and must not block; one that raises is logged as a bug of
its own and never stops the job (agent.service.jobs.JobRunner.observe).
"""

from __future__ import annotations

from typing import Protocol

from agent.engine.cascade import Attempt
from agent.protocol import Event
from agent.service.live import LiveJob

__all__ = ["JobObserver"]


class JobObserver(Protocol):
    def job_event(self, live: LiveJob, event: Event) -> None:
        """An event was published (subscribers of the job can see it now)."""

    def job_attempt(self, live: LiveJob, attempt: Attempt) -> None:
        """A provider was tried for one item of a stage (any outcome)."""
