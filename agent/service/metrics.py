"""Prometheus metrics: GET /metrics in the text exposition format (prometheus-client).

Counters and histograms move as jobs go: `JobMetrics` is a job observer (agent.service.observers),
so the runner only says what happened and this module decides what to count. The gauges (jobs by
status, queue depth, cooldowns) are read when scraped, from the store, the runner and the health
board. Each app has its own `CollectorRegistry`, never the process-wide one: a test process runs
many agents, and one registry per app keeps their numbers apart.

Stage durations are measured from the job's events: a stage lasts from its first event to the first
event of the next stage (or the job's end). Render speed is seconds of video per second of render.

Access: with REELBOT_METRICS_TOKEN set, a scraper sends `Authorization: Bearer <token>`; without
it, only clients on the loopback interface are answered (a Prometheus on the same box, or one that
scrapes through a tunnel). The agent token does not open /metrics, so a bot never needs to see it.
"""

from __future__ import annotations

import hmac
import ipaddress
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from agent.engine.cascade import Attempt
from agent.engine.health import HealthBoard
from agent.protocol import Event, JobStatus, QueueInfo, WorkerInfo, WorkerState
from agent.service.api import Services
from agent.service.live import LiveJob
from agent.settings import Settings
from providers.base import Clock

__all__ = ["JobMetrics", "metrics_route", "setup_metrics", "METRICS_PATH", "PIPELINE_STAGES"]

METRICS_PATH = "/metrics"
PIPELINE_STAGES = frozenset({"script", "image", "clip", "voice", "render"})
# a stage takes from a fraction of a second (offline voice) to many minutes (a clip on a busy GPU)
STAGE_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800)
SPEED_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32)


@dataclass
class _Timing:
    stage: str
    since: float  # monotonic, when the stage's first event came
    render_s: float | None = None


class JobMetrics:
    """The app's registry and a job observer that fills it."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self.clock = clock
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.submitted = Counter("reelbot_jobs_submitted", "Jobs accepted into the queue", registry=r)
        self.finished = Counter("reelbot_jobs_finished", "Jobs that ended, by final status", ["status"], registry=r)
        self.jobs = Gauge("reelbot_jobs", "Jobs in the store, by status", ["status"], registry=r)
        self.queue_depth = Gauge("reelbot_queue_depth", "Jobs waiting for a worker", registry=r)
        self.running = Gauge("reelbot_jobs_running", "Jobs a worker is running now", registry=r)
        self.workers = Gauge("reelbot_workers", "Job workers (agent.workers)", registry=r)
        self.cluster_workers = Gauge("reelbot_cluster_workers", "Workers of the distributed mode, by state "
                                     "(disk-full: running but taking no job)", ["state"], registry=r)
        self.stage_seconds = Histogram("reelbot_stage_duration_seconds", "Wall time of a pipeline stage of a job",
                                       ["stage"], buckets=STAGE_BUCKETS, registry=r)
        self.attempts = Counter("reelbot_provider_attempts", "Provider attempts, by provider, stage and outcome",
                                ["provider", "stage", "outcome"], registry=r)
        self.attempt_seconds = Histogram("reelbot_provider_attempt_duration_seconds", "Time of one provider attempt",
                                         ["provider", "stage"], buckets=STAGE_BUCKETS, registry=r)
        self.cooldowns = Gauge("reelbot_cooldowns_active", "Provider stages cooling down now",
                               ["provider", "stage"], registry=r)
        self.cooldowns_total = Gauge("reelbot_cooldowns_active_total", "How many provider stages cool down now",
                                     registry=r)
        self.charged = Counter("reelbot_credits_charged", "Credits charged for finished jobs", registry=r)
        self.refunded = Counter("reelbot_credits_refunded", "Credits given back (failures, cancels, cheaper tiers)",
                                registry=r)
        self.render_speed = Histogram("reelbot_render_speed_ratio", "Seconds of video rendered per second of render",
                                      buckets=SPEED_BUCKETS, registry=r)
        self.video_seconds = Counter("reelbot_video_seconds", "Seconds of finished video", registry=r)
        self._timing: dict[str, _Timing] = {}
        self._cooling: set[tuple[str, str]] = set()

    # ------------------------------------------------------------------ the observer

    def job_event(self, live: LiveJob, event: Event) -> None:
        now = self.clock()
        stage = event.stage.value
        timing = self._timing.get(live.id)
        if timing is None:
            if event.seq == 1 and stage == "queued":
                self.submitted.inc()
            timing = self._timing[live.id] = _Timing(stage, now)
        elif stage != timing.stage:
            self._close_stage(timing, now)
            timing.stage, timing.since = stage, now
        if not event.terminal:
            return
        del self._timing[live.id]
        self.finished.labels(event.status.value).inc()
        if event.status is JobStatus.DONE and event.result is not None:
            charged = event.result.credits_charged or 0
            self.charged.inc(charged)
            if live.price > charged:  # a cheaper tier served: the difference went back
                self.refunded.inc(live.price - charged)
            self.video_seconds.inc(event.result.duration_s)
            if timing.render_s:
                self.render_speed.observe(event.result.duration_s / timing.render_s)
        elif event.error is not None and event.error.credits_refunded:
            self.refunded.inc(event.error.credits_refunded)

    def _close_stage(self, timing: _Timing, now: float) -> None:
        if timing.stage in PIPELINE_STAGES:
            elapsed = max(0.0, now - timing.since)
            self.stage_seconds.labels(timing.stage).observe(elapsed)
            if timing.stage == "render":
                timing.render_s = elapsed

    def job_attempt(self, live: LiveJob, attempt: Attempt) -> None:
        self.attempts.labels(attempt.provider, attempt.stage, attempt.outcome.value).inc()
        self.attempt_seconds.labels(attempt.provider, attempt.stage).observe(max(0.0, attempt.elapsed_s))

    # ------------------------------------------------------------------ read when scraped

    def refresh(self, counts: dict[str, int], queue: QueueInfo, health: HealthBoard | None,
                workers: list[WorkerInfo] | None = None) -> None:
        """`workers`: a distributed front door's view of its workers (None on a single-box agent)."""
        if workers is not None:
            for state in WorkerState:
                self.cluster_workers.labels(state.value).set(sum(1 for w in workers if w.state == state))
        for status in JobStatus:
            self.jobs.labels(status.value).set(counts.get(status.value, 0))
        self.queue_depth.set(queue.queued)
        self.running.set(queue.running)
        self.workers.set(queue.workers)
        cooling: set[tuple[str, str]] = set()
        if health is not None:
            t = health._clock()  # noqa: SLF001 - the board's own clock, as agent.engine.status reads it
            cooling = {(e.provider, e.stage) for e in health.entries() if e.cooling(t)}
        for key in self._cooling - cooling:
            self.cooldowns.labels(*key).set(0)
        for key in cooling:
            self.cooldowns.labels(*key).set(1)
        self._cooling = cooling
        self.cooldowns_total.set(len(cooling))

    def render(self) -> bytes:
        return generate_latest(self.registry)


Sources = tuple[dict[str, int], QueueInfo, "HealthBoard | None", "list[WorkerInfo] | None"]
"""What /metrics reads when scraped: jobs by status, the queue, the health board, the workers."""


def _loopback(remote: str | None) -> bool:
    try:
        return remote is not None and ipaddress.ip_address(remote.split("%")[0]).is_loopback
    except ValueError:
        return False


def metrics_route(
    metrics: JobMetrics, token: str, sources: Callable[[], Awaitable[Sources]],
) -> web.RouteDef:
    """GET /metrics: the token's bearer, or (no token set) loopback clients only."""
    expected = token.encode()

    async def handler(request: web.Request) -> web.Response:
        if expected:
            scheme, _, given = request.headers.get("Authorization", "").partition(" ")
            sent = given.strip().encode("utf-8", "surrogateescape")
            if scheme.lower() != "bearer" or not hmac.compare_digest(sent, expected):
                return web.Response(status=401, text="metrics: missing or wrong bearer token\n",
                                    headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
        elif not _loopback(request.remote):
            return web.Response(status=403, text="metrics: set REELBOT_METRICS_TOKEN to scrape from elsewhere\n")
        metrics.refresh(*await sources())
        return web.Response(body=metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    return web.get(METRICS_PATH, handler, allow_head=False)


def setup_metrics(app: web.Application, settings: Settings, svc: Services, *,
                  health: Callable[[], HealthBoard | None], clock: Clock = time.monotonic) -> list[JobMetrics]:
    """/metrics on the app; returns the observer the runner tells about its jobs."""
    metrics = JobMetrics(clock)

    async def sources() -> Sources:
        workers = await svc.cluster.workers() if svc.cluster is not None else None
        return await svc.runner.store.count_by_status(), svc.runner.queue_info(), health(), workers

    app.add_routes([metrics_route(metrics, settings.agent.metrics_token, sources)])
    return [metrics]
