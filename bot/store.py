"""Active deliveries, persisted so a restarted bot resumes following its jobs and still delivers.

One small JSON file, rewritten atomically (temp file + rename) off the event loop. Saves are
coalesced: a burst of `last_event_id` updates costs one write. A delivery is removed once its
video (or its failure message) reached the chat.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

__all__ = ["Delivery", "DeliveryStore"]

log = logging.getLogger(__name__)


@dataclass
class Delivery:
    job_id: str
    platform: str  # "telegram" | "discord"
    chat_id: int  # Telegram chat / Discord channel
    message_id: int | None  # the progress message (Discord: None while on the interaction response)
    requester_id: int
    topic: str
    started_at: float  # wall clock, for the elapsed time
    last_event_id: int | None = None
    reply_to: int | None = None  # Telegram: the user's /video message
    progress: float = 0.0  # the furthest the job got (0..1): a restart that went back is said
    extra: dict[str, Any] = field(default_factory=dict)  # platform details (Discord interaction token…)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Delivery:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in known})


class DeliveryStore:
    def __init__(self, path: Path | str | None) -> None:
        self._path = Path(path) if path else None  # None: memory only (tests, no data dir)
        self._items: dict[str, Delivery] = {}
        self._lock = asyncio.Lock()
        self._dirty = False
        # A cancelled save leaves its thread writing; the next write must wait for it, not race it.
        self._write_lock = threading.Lock()

    async def load(self) -> list[Delivery]:
        if self._path is not None and await asyncio.to_thread(self._path.exists):
            text = await asyncio.to_thread(self._path.read_text, encoding="utf-8")
            try:
                rows = json.loads(text) if text.strip() else []
            except ValueError:
                log.error("delivery store %s is corrupt; starting empty", self._path)
                rows = []
            self._items = {row["job_id"]: Delivery.from_json(row) for row in rows if isinstance(row, dict)}
        return list(self._items.values())

    def get(self, job_id: str) -> Delivery | None:
        return self._items.get(job_id)

    def all(self, platform: str | None = None) -> list[Delivery]:
        return [d for d in self._items.values() if platform is None or d.platform == platform]

    async def put(self, delivery: Delivery) -> None:
        self._items[delivery.job_id] = delivery
        await self._save()

    async def update(self, job_id: str, **changes: Any) -> None:
        item = self._items.get(job_id)
        if item is None:
            return
        for key, value in changes.items():
            setattr(item, key, value)
        await self._save()

    async def remove(self, job_id: str) -> None:
        if self._items.pop(job_id, None) is not None:
            await self._save()

    async def flush(self) -> None:
        """Write anything a cancelled save left behind (graceful shutdown)."""
        if self._dirty:
            await self._save()

    async def _save(self) -> None:
        if self._path is None:
            return
        self._dirty = True
        async with self._lock:  # whoever holds the lock writes the newest state; later callers find it clean
            if not self._dirty:
                return
            self._dirty = False
            rows = [asdict(d) for d in self._items.values()]
            try:
                await asyncio.to_thread(self._write, json.dumps(rows, indent=1))
            except asyncio.CancelledError:
                self._dirty = True  # flush() writes it again, after the orphaned write finishes
                raise

    def _write(self, text: str) -> None:
        assert self._path is not None
        with self._write_lock:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self._path.with_name(self._path.name + ".tmp")
            # owner-only: a Discord delivery keeps its interaction token (valid 15 minutes) to resume edits
            with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self._path)
