"""GET /metrics: the counters and histograms move as jobs run; the endpoint's own access rule."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from providers.errors import AuthFailed, Unavailable
from tests.support.agent_app import AUTH, GatedProvider, make_settings, run_agent

METRICS_TOKEN = "metrics-token-0123456789"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(found: dict, name: str, **labels: str) -> float:  # type: ignore[type-arg]
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


async def scrape(agent, headers: dict[str, str] | None = None) -> dict:  # type: ignore[no-untyped-def,type-arg]
    resp = await agent.client.get("/metrics", headers=headers or {})
    assert resp.status == 200, await resp.text()
    assert resp.headers["Content-Type"].startswith("text/plain")
    return samples(await resp.text())


async def test_a_job_moves_the_counters_and_histograms(tmp_path: Path) -> None:
    provider = GatedProvider()
    async with run_agent(tmp_path, provider=provider) as agent:
        before = await scrape(agent)
        assert value(before, "reelbot_jobs_finished_total", status="done") == 0
        assert value(before, "reelbot_stage_duration_seconds_count", stage="script") == 0

        provider.enqueue(Unavailable("the fake is down"))  # the only script provider fails once: job failed
        failed = await agent.submit("glaciers", user="7")
        await agent.wait_status(failed["id"], "failed")
        done = await agent.submit("rivers", user="8")
        await agent.wait_status(done["id"], "done")
        provider.hold("script")
        cancelled = await agent.submit("deserts", user="9")
        await asyncio.wait_for(provider.entered["script"].wait(), 10)
        mid = await scrape(agent)
        assert value(mid, "reelbot_jobs", status="running") == 1
        assert value(mid, "reelbot_jobs_running") == 1
        resp = await agent.client.delete(f"/v1/jobs/{cancelled['id']}", headers=AUTH)
        assert resp.status == 202
        await agent.wait_status(cancelled["id"], "cancelled")

        after = await scrape(agent)
        assert value(after, "reelbot_jobs_submitted_total") == 3
        for status in ("done", "failed", "cancelled"):
            assert value(after, "reelbot_jobs_finished_total", status=status) == 1, status
            assert value(after, "reelbot_jobs", status=status) == 1, status
        assert value(after, "reelbot_queue_depth") == 0 and value(after, "reelbot_jobs_running") == 0
        for stage in ("script", "image", "voice", "render"):
            assert value(after, "reelbot_stage_duration_seconds_count", stage=stage) >= 1, stage
        assert value(after, "reelbot_provider_attempts_total", provider="offline", stage="image", outcome="ok") == 4
        assert value(after, "reelbot_provider_attempts_total", provider="offline", stage="script",
                     outcome="unavailable") >= 1
        assert value(after, "reelbot_provider_attempt_duration_seconds_count", provider="offline", stage="voice") == 4
        assert value(after, "reelbot_credits_charged_total") == 5
        assert value(after, "reelbot_credits_refunded_total") == 10  # the failed and the cancelled job
        assert value(after, "reelbot_render_speed_ratio_count") == 1
        assert value(after, "reelbot_video_seconds_total") > 0


async def test_cooldowns_are_counted_while_they_last(tmp_path: Path) -> None:
    provider = GatedProvider()
    async with run_agent(tmp_path, provider=provider) as agent:
        provider.enqueue(AuthFailed("the key was refused"))  # cools the provider's script stage at once
        job = await agent.submit("auroras")
        await agent.wait_status(job["id"], "failed")
        found = await scrape(agent)
        assert value(found, "reelbot_cooldowns_active", provider="offline", stage="script") == 1
        assert value(found, "reelbot_cooldowns_active_total") == 1
        assert value(found, "reelbot_provider_attempts_total", provider="offline", stage="script",
                     outcome="auth_failed") == 1


async def test_each_app_counts_its_own_jobs(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    async with run_agent(tmp_path / "a") as one, run_agent(tmp_path / "b") as two:
        job = await one.submit("one app only")
        await one.wait_status(job["id"], "done")
        assert value(await scrape(one), "reelbot_jobs_finished_total", status="done") == 1
        assert value(await scrape(two), "reelbot_jobs_finished_total", status="done") == 0


async def test_the_metrics_token_is_its_own(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, env={"REELBOT_METRICS_TOKEN": METRICS_TOKEN})
    async with run_agent(tmp_path, settings) as agent:
        assert (await agent.client.get("/metrics")).status == 401
        assert (await agent.client.get("/metrics", headers=AUTH)).status == 401  # the bots' token opens nothing here
        wrong = await agent.client.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status == 401 and METRICS_TOKEN not in await wrong.text()
        assert "reelbot_queue_depth" in str(await scrape(agent, {"Authorization": f"Bearer {METRICS_TOKEN}"}))


async def test_an_observer_that_fails_never_stops_a_job(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        def job_event(self, live, event):  # type: ignore[no-untyped-def]
            raise RuntimeError("observer bug")

        def job_attempt(self, live, attempt):  # type: ignore[no-untyped-def]
            raise RuntimeError("observer bug")

    async with run_agent(tmp_path) as agent:
        agent.runner.observers.insert(0, Broken())
        job = await agent.submit("observed")
        done = await agent.wait_status(job["id"], "done")
        assert done["credits"]["charged"] == 5
        assert value(await scrape(agent), "reelbot_jobs_finished_total", status="done") == 1  # the others still hear
    assert any("observer Broken failed" in r.getMessage() and job["id"] in r.getMessage() for r in caplog.records)


def test_a_front_door_counts_its_workers_by_state_and_a_single_box_agent_has_none() -> None:
    """An alert can watch `reelbot_cluster_workers{state="disk-full"}` (a box running but taking no job)."""
    import time

    from agent.protocol import QueueInfo, WorkerInfo
    from agent.service.metrics import JobMetrics

    def worker(name: str, state: str) -> WorkerInfo:
        return WorkerInfo(name=name, state=state, last_heartbeat="2026-11-30T09:00:00Z", seconds_since_heartbeat=1.0)

    queue = QueueInfo(queued=0, running=0, workers=2, queue_size=10)
    single = JobMetrics(time.monotonic)
    single.refresh({}, queue, None)
    assert not any(name == "reelbot_cluster_workers" for name, _ in samples(single.render().decode()))
    front = JobMetrics(time.monotonic)
    front.refresh({}, queue, None, [worker("a", "up"), worker("b", "up"), worker("c", "disk-full"),
                                    worker("d", "lost")])
    found = samples(front.render().decode())
    assert value(found, "reelbot_cluster_workers", state="up") == 2
    assert value(found, "reelbot_cluster_workers", state="disk-full") == 1
    assert value(found, "reelbot_cluster_workers", state="lost") == 1
    assert ("reelbot_cluster_workers", (("state", "stopping"),)) in found  # every state, 0 when none
    front.refresh({}, queue, None, [worker("a", "up")])  # the full one was fixed (or forgotten)
    assert value(samples(front.render().decode()), "reelbot_cluster_workers", state="disk-full") == 0
