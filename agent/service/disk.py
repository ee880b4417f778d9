"""Disk space: the status of both disks, the data directory's (agent.engine.disk) and the database's.

`GET /v1/status` shows both disks (the data directory here, the database's via
`storage.StorageHealth`) and an overall `state`:

    ok        both disks take writes, the data directory has more than twice the minimum free
    degraded  the data directory has less than twice the minimum free: an operator should act soon
    down      the database cannot store anything, or the data directory is below the minimum:
              no new job can run
"""

from __future__ import annotations

import asyncio
from typing import Any

from agent.engine.disk import DataDisk, DiskState
from storage import Database

__all__ = ["disk_status"]


async def disk_status(db: Database, data: DataDisk) -> dict[str, Any]:
    """The status sections: `storage` (the database), `data_dir`, the overall `state`, `problems`."""
    from agent.service.quota import iso_utc

    if not db.health.ok:
        await db.probe_write()  # learn that space came back even when nothing else writes
    report = await data.check()
    db_free = await asyncio.to_thread(db.free_bytes)
    health = db.health.to_json()
    storage = {**health, "since": iso_utc(health["since"]), "free_bytes": db_free}
    data_dir = {"state": report.state.value, "free_bytes": report.free_bytes, "total_bytes": report.total_bytes,
                "min_free_bytes": report.min_free_bytes}
    problems: list[str] = []
    state = report.state
    if not db.health.ok:
        problems.append(f"the database cannot store anything: {db.health.last_error}")
        state = DiskState.DOWN
    if report.low:
        problems.append(f"{report.describe()}: new jobs are refused")
    elif report.state is DiskState.DEGRADED:
        problems.append(f"{report.describe()}: free some space soon")
    return {"state": state.value, "problems": problems, "storage": storage, "data_dir": data_dir}
