"""A worker of the distributed mode with a full data directory: it takes no job, says why in its
heartbeat, and every view of the cluster (the front door's status, the CLI's, the bot's) shows it.
The processes themselves: tests/faults/test_cluster.py."""

from __future__ import annotations

from pathlib import Path

import msgspec

from agent.engine.disk import MB, DiskReport
from agent.protocol import ServiceState, WorkerState
from agent.service.cluster import worker_infos
from agent.worker.main import Switch, refusal, serving, switch
from bot import wording
from reelbot.commands.status import format_workers
from storage import open_database
from storage.cluster import ClusterStore, WorkerBeat
from storage.models import ClusterWorkerRow
from tests.bot.fake_agent import FakeAgent


def _report(free_mb: int | None, min_mb: int = 500) -> DiskReport:
    free = None if free_mb is None else free_mb * MB
    return DiskReport(Path("/data"), 100_000 * MB, free, min_mb * MB)


def test_a_full_data_directory_serves_no_route_and_says_why() -> None:
    plan = serving(("self-hosted", "gpu"), _report(12))
    assert plan.state is WorkerState.DISK_FULL and plan.routes == ()
    assert plan.problem == "the data directory /data has 12 MB free (minimum 500 MB): it takes no new job until " \
                           "space is freed"


def test_room_or_an_unreadable_disk_serves_every_route() -> None:
    for report in (_report(501), _report(None)):  # statvfs failed: not a reason to stop working
        plan = serving(("self-hosted", "gpu"), report)
        assert (plan.state, plan.routes, plan.problem) == (WorkerState.UP, ("self-hosted", "gpu"), "")


def _row(name: str, state: str, heartbeat_at: float, problem: str = "") -> ClusterWorkerRow:
    return ClusterWorkerRow(name=name, started_at=0.0, heartbeat_at=heartbeat_at, state=state,
                            routes='["self-hosted"]', backends="[]", jobs="[]", problem=problem)


def test_the_front_door_shows_the_state_and_the_reason_until_the_worker_is_lost() -> None:
    rows = [_row("full", "disk-full", 99.0, "the data directory /d has 1 MB free (minimum 500 MB): ..."),
            _row("silent", "disk-full", 10.0, "the data directory /d has 1 MB free"),
            _row("done", "stopped", 10.0)]
    infos = {w.name: w for w in worker_infos(rows, now=100.0, lost_after_s=6.0)}
    assert infos["full"].state == WorkerState.DISK_FULL and infos["full"].problem.startswith("the data directory")
    assert infos["silent"].state == WorkerState.LOST and infos["silent"].problem == ""  # its last word is stale
    assert infos["done"].state == WorkerState.STOPPED


async def test_the_heartbeat_stores_the_problem_and_clears_it(tmp_path: Path) -> None:
    async with open_database(f"sqlite+aiosqlite:///{tmp_path}/agent.db") as db:
        store = ClusterStore(db)
        await store.beat(WorkerBeat("w1", 1.0, 2.0, WorkerState.DISK_FULL.value, ["self-hosted"], [], [],
                                    "the data directory /d has 1 MB free"))
        (row,) = await store.workers()
        assert (row.state, row.problem) == ("disk-full", "the data directory /d has 1 MB free")
        await store.beat(WorkerBeat("w1", 1.0, 3.0, WorkerState.UP.value, ["self-hosted"], [], []))
        (row,) = await store.workers()
        assert (row.state, row.problem, row.heartbeat_at) == ("up", "", 3.0)


def test_the_bot_and_the_cli_show_a_full_worker() -> None:
    info = worker_infos([_row("w1", "disk-full", 99.0, "the data directory /d has 1 MB free (minimum 500 MB)")],
                        now=100.0, lost_after_s=6.0)
    status = msgspec.structs.replace(FakeAgent().status_body, state=ServiceState.DEGRADED, workers=info)
    (line,) = wording.worker_lines(status)
    assert line.startswith("🟠 worker w1: disk-full, idle")
    text = format_workers([msgspec.to_builtins(w) for w in info])
    assert "0 up of 1" in text and "w1                  disk-full heartbeat" in text
    assert "      the data directory /d has 1 MB free (minimum 500 MB)" in text


def test_a_job_starts_only_from_a_queue_served_now_with_room_on_the_disk() -> None:
    routes = ("self-hosted",)
    assert refusal("route:self-hosted", routes, _report(501)) == ""
    assert refusal("route:gpu", routes, _report(501)) == "this worker no longer serves 'gpu'"
    assert refusal("route:self-hosted", routes, _report(3)).startswith("the data directory /data has 3 MB free")
    assert refusal("route:self-hosted", routes, _report(None)) == ""  # an unreadable disk stops nothing


def test_the_queues_change_without_stopping_while_jobs_run_and_a_route_added_restarts_when_idle() -> None:
    a, ab = ("self-hosted",), ("self-hosted", "gpu")
    assert switch(ab, (), (), engine=False, dead=False, running=0) is Switch.START
    assert switch((), (), (), engine=False, dead=False, running=0) is Switch.NONE  # full from the start
    assert switch(ab, ab, ab, engine=True, dead=True, running=0) is Switch.START  # it stopped by itself
    assert switch(ab, ab, ab, engine=True, dead=False, running=2) is Switch.NONE
    # a route dropped (its GPU went down) or the disk full: fetch from fewer queues, jobs running or not
    assert switch(a, ab, ab, engine=True, dead=False, running=2) is Switch.RETARGET
    assert switch((), ab, ab, engine=True, dead=False, running=0) is Switch.RETARGET
    # back within what it was started with: no restart needed, its notifications still come
    assert switch(ab, a, ab, engine=True, dead=False, running=1) is Switch.RETARGET
    # a route it was not started with: polled for while jobs run, then a restart, instant when idle
    assert switch(ab, a, a, engine=True, dead=False, running=1) is Switch.RETARGET
    assert switch(ab, ab, a, engine=True, dead=False, running=1) is Switch.NONE
    assert switch(ab, ab, a, engine=True, dead=False, running=0) is Switch.RESTART
