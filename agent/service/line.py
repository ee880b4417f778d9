"""The single-box agent's waiting line: job ids in the order workers take them, and how many of
them are queued jobs (rather than jobs resumed after a restart, which wait in the same line).

The count is kept as the line changes instead of being counted on demand: every submission asks
for it (the queue-full check and the new job's place in line), and counting a line of a thousand
jobs on each of a thousand submissions that arrive together held the event loop for a quarter of a
second (bench/agent_load.py)."""

from __future__ import annotations

from collections.abc import Iterator

__all__ = ["WaitingLine"]


class WaitingLine:
    def __init__(self) -> None:
        self._ids: dict[str, bool] = {}  # insertion-ordered; the value: counted as queued
        self._queued = 0

    @property
    def queued(self) -> int:
        """How many of the waiting jobs are queued ones."""
        return self._queued

    def add(self, job_id: str, *, queued: bool, front: bool = False) -> None:
        """Put `job_id` at the back of the line (`front`: at its head). `queued`: a queued job, as
        opposed to one resumed after a restart."""
        self.remove(job_id)
        if front:
            self._ids = {job_id: queued, **self._ids}
        else:
            self._ids[job_id] = queued
        self._queued += queued

    def remove(self, job_id: str) -> bool:
        """Take `job_id` out of the line; whether it was in it."""
        if job_id not in self._ids:
            return False
        self._queued -= self._ids.pop(job_id)
        return True

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._ids

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)
