"""Whether the database takes writes: the state of its last write, logged once per change.

`Database.write` reports every outcome here. A storage fault (storage.errors) moves the state to
FULL or UNAVAILABLE and logs once; the next write that succeeds moves it back to OK and logs once
more, so an operator reads one line when the disk fills and one when it has room again, never one
per retry. The agent's `/v1/status` shows `to_json()`.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from storage.errors import StorageFull, StorageUnavailable

__all__ = ["StorageState", "StorageHealth"]

log = logging.getLogger(__name__)


class StorageState(str, enum.Enum):
    OK = "ok"  # the last write was stored (or none was tried yet)
    FULL = "full"  # the last write failed: the database's disk is full
    UNAVAILABLE = "unavailable"  # the last write failed for another storage fault (I/O, server gone)


@dataclass
class StorageHealth:
    clock: Callable[[], float] = time.time  # UTC epoch seconds, for `since`
    state: StorageState = StorageState.OK
    last_error: str = ""
    since: float | None = None  # when the state last changed
    failed_writes: int = 0  # since the state last left OK

    @property
    def ok(self) -> bool:
        return self.state is StorageState.OK

    def succeeded(self) -> None:
        if self.state is StorageState.OK:
            return
        log.info("database: writes are stored again after %d failed write(s) (%s)", self.failed_writes,
                 self.last_error)
        self._move(StorageState.OK)
        self.failed_writes = 0

    def failed(self, fault: StorageUnavailable) -> None:
        state = StorageState.FULL if isinstance(fault, StorageFull) else StorageState.UNAVAILABLE
        self.failed_writes += 1
        self.last_error = str(fault)
        if state is self.state:
            return
        log.error("database: %s; nothing can be stored until this is fixed (writes are retried)", fault)
        self._move(state)

    def _move(self, state: StorageState) -> None:
        self.state, self.since = state, self.clock()

    def to_json(self) -> dict[str, Any]:
        return {"state": self.state.value, "last_error": self.last_error, "since": self.since,
                "failed_writes": self.failed_writes}
