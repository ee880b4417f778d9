"""A fake agent on 127.0.0.1 that sends exactly what the real agent sends (DESIGN.md "Agent HTTP API").

The shapes are not re-typed here: every answer is built from the wire messages of `agent.protocol`
(Job, Event, Quota, Status) and sent with its encoder, errors come from the real
`agent.service.api.error_response` (with its `Retry-After` header), SSE framing from
`agent.protocol.format_sse`, and the event fields follow `agent.service.views.make_event` and
`agent.service.jobs.JobRunner._finish`. `tests/bot/test_integration.py::test_fake_agent_matches_the_real_one`
compares this fake with the real agent, key by key, and tests/test_wire_contract.py decodes its
answers strictly, so it cannot drift.

Jobs are driven by the test: `emit(job_id, ...)` appends an event (SSE `id:` = seq), `finish()`
ends one. `drop_streams_after` closes event streams early to exercise `Last-Event-ID` resume.
Everything received is kept in `requests`.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field
from typing import Any

import msgspec
from aiohttp import web

from agent.service.api import error_response
from agent.protocol import (
    API_PREFIX,
    BackendStatus,
    Credits,
    Change,
    ChangeKind,
    DataDirInfo,
    DeriveQuote,
    DeriveRequest,
    EditRequest,
    ErrorCode,
    Event,
    Job,
    JobError,
    JobOptions,
    JobResult,
    JobStatus,
    QueueInfo,
    Quota,
    ResolvedOptions,
    RoutePrice,
    ScriptView,
    ServiceState,
    Stage,
    Status,
    StorageInfo,
    SubmitRequest,
    UserRef,
    decode,
    format_sse,
)
from agent.service.quota import iso_utc
from agent.service.views import json_response
from tests.support.servers import LocalServer, start_server
from tests.support.waiting import wait_until

RESETS_AT = "2030-01-01T00:00:00.000Z"
ASPECTS = ("9:16", "16:9", "1:1")
LENGTHS = ("short", "medium", "long")
OPTION_KEYS = frozenset(JobOptions.__struct_fields__)


@dataclass
class FakeJob:
    id: str
    request_id: str
    user: UserRef
    topic: str
    options: ResolvedOptions  # resolved as the agent does: every key present
    price: int = 0
    status: str = "queued"
    stage: str = "queued"
    progress: float = 0.0
    message: str = ""
    provider: str = ""
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    events: list[Event] = field(default_factory=list)
    error: JobError | None = None
    refunded: int = 0  # credits given back
    result: JobResult | None = None
    video_expired: bool = False
    review: bool = False  # submitted with review: true
    parent_job_id: str | None = None  # a derived job
    changes: list[Any] = field(default_factory=list)
    script: ScriptView | None = None  # while in review
    review_steps: list[str] = field(default_factory=list)  # approve / rewrite / edit, as the bot asked


class _Refused(Exception):
    def __init__(self, response: web.Response) -> None:
        self.response = response


def _error(status: int, code: ErrorCode, message: str, **extra: Any) -> _Refused:
    return _Refused(error_response(status, code, message, **extra))


def _backend(name: str, up: bool, **fields: Any) -> BackendStatus:
    """agent.engine.status.BackendStatus as the real agent reports it."""
    base: dict[str, Any] = {
        "name": name, "tier": "offline" if name == "offline" else "self-hosted", "stages": ["script"],
        "configured": True, "url": "", "up": up, "ready": up, "latency_ms": None, "version": "", "problem": "",
        "hint": "", "details": {}, "cooldowns": {}, "cooldown_reasons": {}, "last_success_s_ago": None,
        "unready_stages": [], "last_error": ""}
    base.update(fields)
    return BackendStatus(**base)


class FakeAgent:
    def __init__(self, token: str = "secret") -> None:
        self.token = token
        self.jobs: dict[str, FakeJob] = {}
        self.by_request: dict[tuple[str, str, str], str] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.credits: dict[str, int] = {}
        self.daily = 100
        self.prices = {"self-hosted": 0, "sora": 50}
        self.max_in_flight = 10
        self.queue_full = False  # answer submissions with 503 queue_full
        self.video = b"\x00" * 1000
        self.stills_note = ""  # the result's: "3 of 5 scenes are stills: ComfyUI lacks AnimateDiff-Evolved"
        self.invalid_words = ("forbidden",)
        self.drop_streams_after: int | None = None
        self.fail_next_posts = 0  # answer 503 (a proxy's, not the agent's) this many times before accepting
        self.status_body = Status(
            mode="self-hosted",
            backends=[
                _backend("ollama", True, latency_ms=12.0, version="0.5.7"),
                _backend("comfyui", False, problem="connection refused"),
                _backend("offline", True),
            ],
            stages=[], gpu_shared=[], elapsed_ms=3.0, routes=[],
            queue=QueueInfo(queued=1, running=1, workers=2, queue_size=100),
            state=ServiceState.OK, problems=[],
            storage=StorageInfo(state="ok", last_error="", since=None, failed_writes=0, free_bytes=10**10),
            data_dir=DataDirInfo(state=ServiceState.OK, free_bytes=10**10, total_bytes=10**11,
                                 min_free_bytes=500 * 1024 * 1024),
        )
        self._changed = asyncio.Condition()
        self._next = 0
        self.url = ""
        self._server: LocalServer | None = None

    # ----------------------------------------------------------- driving jobs from the test

    def _event(self, job: FakeJob, **fields: Any) -> Event:
        """agent.service.views.make_event: the job's state, then the event's own fields."""
        base: dict[str, Any] = {
            "seq": len(job.events) + 1, "job_id": job.id, "status": job.status, "stage": job.stage,
            "progress": round(job.progress, 4), "message": "", "provider": "", "at": iso_utc(time.time()),
            "position": None,
        }
        base.update(fields)
        base["status"], base["stage"] = JobStatus(base["status"]), Stage(base["stage"])
        return Event(**base)

    async def _append(self, job: FakeJob, event: Event) -> None:
        job.status, job.stage = event.status.value, event.stage.value
        job.progress, job.message = event.progress, event.message
        job.provider = event.provider or job.provider
        job.events.append(event)
        async with self._changed:
            self._changed.notify_all()

    async def emit(self, job_id: str, **fields: Any) -> None:
        """A queue or progress event. Progress events carry done/total/stage_done as the pipeline's do."""
        job = self.jobs[job_id]
        fields.setdefault("status", "running")
        if fields["status"] == "running" and job.started_at is None:
            job.started_at = time.time()
        if fields["status"] == "queued":
            fields.setdefault("stage", "queued")
            fields.setdefault("position", 1)
        elif "stage" in fields and fields["stage"] not in ("starting", "queued"):
            fields.setdefault("done", 0)
            fields.setdefault("total", 1)
            fields.setdefault("stage_done", False)
        await self._append(job, self._event(job, **fields))

    def _derived(self, parent_id: str, changes: list[Change]) -> tuple[FakeJob, int, ResolvedOptions]:
        """As agent.service.derive.plan_derived prices it: 3 scenes, a redone scene is 2 of 6 items."""
        parent = self.jobs.get(parent_id)
        if parent is None or parent.status != "done":
            raise _error(400, ErrorCode.INVALID_INPUT, "the parent job has not finished with a video", field="changes")
        if parent.video_expired:
            raise _error(409, ErrorCode.PARENT_EXPIRED,
                         "the files of that video have been deleted (videos are kept for a limited time)")
        options, redo, voices = parent.options, 0, 0
        for change in changes:
            if change.kind is ChangeKind.REDO_SCENE:
                redo += 1
            elif change.kind is ChangeKind.VOICE:
                voices = 3
                options = msgspec.structs.replace(options, voice=change.voice or options.voice)
            elif change.kind is ChangeKind.ASPECT:
                options = msgspec.structs.replace(options, aspect=change.aspect or options.aspect)
        made = 2 * redo if not voices else redo + voices
        return parent, math.ceil(self.prices[parent.options.model] * made / 6), options

    async def quote(self, request: web.Request) -> web.Response:
        self._auth(request)
        self._get(request)
        body = decode(await request.read(), DeriveRequest)
        _parent, price, _options = self._derived(request.match_info["id"], body.changes)
        voice = any(c.kind is ChangeKind.VOICE for c in body.changes)
        redo = sum(1 for c in body.changes if c.kind is ChangeKind.REDO_SCENE)
        made = redo + 3 if voice else 2 * redo
        return json_response(DeriveQuote(price=price, regenerated=made, reused=6 - made,
                                         voices=["en-gb", "en-us+f3"] if voice else []))

    async def review(self, job_id: str, narrations: list[str], title: str = "") -> None:
        """The script is written and waits (agent.service.review.ReviewDesk.park)."""
        job = self.jobs[job_id]
        job.script = ScriptView(title=title or f"All about {job.topic}", narrations=list(narrations),
                                expires_at="2030-01-01T00:30:00.000Z")
        await self._append(job, self._event(job, status="review", stage="review", message="the script is ready "
                                            "for review", script=job.script))

    async def review_step(self, request: web.Request) -> web.Response:
        """POST /v1/jobs/{id}/approve | rewrite | edit, answered as agent.service.api does."""
        self._auth(request)
        job = self._get(request)
        step = request.path.rsplit("/", 1)[1]
        if job.status != "review":
            raise _error(409, ErrorCode.NOT_IN_REVIEW, "the job is not waiting for review")
        assert job.script is not None
        if step == "edit":
            edit = decode(await request.read(), EditRequest)
            if len(edit.narrations) != len(job.script.narrations):
                raise _error(400, ErrorCode.INVALID_INPUT, f"the script has {len(job.script.narrations)} scenes",
                             field="narrations")
            job.review_steps.append(step)
            job.script = ScriptView(title=job.script.title, narrations=edit.narrations,
                                    expires_at=job.script.expires_at)
            await self._append(job, self._event(job, status="review", stage="review", message="the script was edited",
                                                script=job.script))
            return json_response(self._job(job))
        job.review_steps.append(step)
        job.script = None
        if step == "approve":
            await self._append(job, self._event(job, status="queued", stage="queued", position=1,
                                                message="queued: #1 in line"))
        else:
            await self._append(job, self._event(job, status="running", stage="script", message="writing the script",
                                                done=0, total=1, stage_done=False))
        return json_response(self._job(job), status=202)

    async def finish(self, job_id: str, status: str = "done", error: dict[str, str] | None = None) -> None:
        """The terminal event, as agent.service.jobs.JobRunner._finish builds it."""
        job = self.jobs[job_id]
        user_id = job.user.id
        job.finished_at = time.time()
        if status == "done":
            job.result = self._result(job)
            await self._append(job, self._event(job, status="done", stage="done", position=None, progress=1.0,
                                                message="done", result=job.result, provider=""))
            return
        job.refunded = job.price
        self.credits[user_id] = self._left(user_id) + job.price
        code = ErrorCode((error or {}).get("code", "cancelled" if status == "cancelled" else "internal"))
        message = (error or {}).get("message", "cancelled; your credits were refunded" if status == "cancelled"
                                    else "something went wrong on our side")
        refunded = job.refunded > 0
        job.error = JobError(code=code, message=message, refunded=refunded, credits_refunded=job.refunded)
        await self._append(job, self._event(
            job, status=status, stage=status, position=None, message=message, refunded=refunded,
            error=JobError(code=code, message=message, refunded=refunded, credits_refunded=job.refunded,
                           credits_left=self._left(user_id))))

    async def run_default(self, job_id: str, images: int = 3) -> None:
        await self.emit(job_id, stage="starting", message="started")
        await self.emit(job_id, stage="script", message="writing the script", done=0, total=1)
        await self.emit(job_id, stage="script", provider="ollama", progress=0.08, done=1, total=1, stage_done=True)
        for n in range(1, images + 1):
            await self.emit(job_id, stage="image", provider="comfyui", done=n, total=images,
                            stage_done=n == images)
        await self.emit(job_id, stage="voice", provider="coqui", done=1, total=1, stage_done=True)
        await self.emit(job_id, stage="render", provider="local", done=50, total=100)
        await self.finish(job_id)

    async def wait_job(self, n: int = 1, timeout_s: float = 5.0) -> FakeJob:
        await wait_until(lambda: len(self.jobs) >= n, timeout_s)
        return list(self.jobs.values())[n - 1]

    def _left(self, user_id: str) -> int:
        return self.credits.get(user_id, self.daily)

    def _result(self, job: FakeJob) -> JobResult:
        """agent.engine.outcome.wire_result plus the credits _finish adds."""
        provenance = {"script": {"ollama": 1}, "image": {"comfyui": 2, "offline": 1}, "voice": {"coqui": 3},
                      "render": {"local": 1}}
        return JobResult(
            title=f"All about {job.topic}", duration_s=27.0, bytes=len(self.video), width=1080, height=1920,
            provenance=provenance,
            provenance_line=", ".join(f"{stage}: {', '.join(who)}" for stage, who in provenance.items()),
            video_url=f"{API_PREFIX}/jobs/{job.id}/video", download_url=None,
            credits_charged=job.price, credits_left=self._left(job.user.id), stills_note=self.stills_note,
            language=job.options.language, languages={stage: job.options.language for stage in provenance},
            scenes=3, parent_job_id=job.parent_job_id,
        )

    # ----------------------------------------------------------- HTTP

    def _auth(self, request: web.Request) -> None:
        self.requests.append((request.method, request.path, dict(request.headers)))
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            raise _error(401, ErrorCode.UNAUTHORIZED, "missing or wrong bearer token")

    @web.middleware
    async def _refusals(self, request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            return await handler(request)
        except _Refused as exc:
            return exc.response

    async def post_job(self, request: web.Request) -> web.Response:
        self._auth(request)
        if self.fail_next_posts > 0:
            self.fail_next_posts -= 1
            return web.Response(status=503, text="starting up")
        raw = await request.read()
        try:  # the request type forbids unknown fields: a bot sending one fails here, as on the agent
            body = decode(raw, SubmitRequest)
        except Exception as exc:  # noqa: BLE001 - worded as the agent would
            unknown = sorted(set((await request.json()).get("options") or {}) - set(OPTION_KEYS))
            if unknown:
                raise _error(400, ErrorCode.BAD_REQUEST, f"unknown option(s): {', '.join(unknown)}",
                             field="options") from None
            raise _error(400, ErrorCode.BAD_REQUEST, str(exc)) from None
        user_id = body.user.id
        key = (body.user.platform, user_id, body.request_id)
        if key in self.by_request:
            return json_response(self._job(self.jobs[self.by_request[key]]), status=202)
        topic = body.topic
        if any(w in topic for w in self.invalid_words):
            raise _error(400, ErrorCode.INVALID_INPUT, "the topic asks for something the content policy does not allow",
                         field="topic")
        options = body.options
        model = options.model or "self-hosted"
        if model not in self.prices:
            raise _error(400, ErrorCode.INVALID_INPUT,
                         f"unknown model {model!r}; available now: {', '.join(self.prices)}", field="model")
        if self.queue_full:
            raise _error(503, ErrorCode.QUEUE_FULL, "the agent's queue is full; try again in a little while",
                         retry_after_s=30)
        in_flight = sum(1 for j in self.jobs.values()
                        if j.user.id == user_id and j.status in ("queued", "running"))
        if in_flight >= self.max_in_flight:
            raise _error(429, ErrorCode.TOO_MANY_JOBS,
                         f"you already have {self.max_in_flight} video(s) on the way; wait for one to finish",
                         retry_after_s=30)
        price = self.prices[model]
        if body.parent_job_id is not None:  # agent.service.derive: the parent's topic and options, changed
            parent, price, options = self._derived(body.parent_job_id, body.changes)
            topic, model = parent.topic, parent.options.model
            body = msgspec.structs.replace(body, options=JobOptions(
                aspect=options.aspect, length=options.length, mode=options.mode, model=model, voice=options.voice,
                max_bytes=options.max_bytes))
        if self._left(user_id) < price:
            raise _error(429, ErrorCode.QUOTA_EXCEEDED,
                         f"not enough credits: this costs {price}, you have {self._left(user_id)}; credits reset in 1 h 0 min",
                         retry_after_s=3600, balance=self._left(user_id), price=price, resets_at=RESETS_AT)
        self.credits[user_id] = self._left(user_id) - price
        self._next += 1
        resolved = ResolvedOptions(aspect=options.aspect or "9:16", length=options.length or "short",
                                   mode=options.mode or "slideshow", model=model,
                                   voice=(options.voice or "").strip(), max_bytes=options.max_bytes,
                                   language=options.language or options.locale or "en")
        job = FakeJob(f"job-{self._next}", body.request_id, body.user, " ".join(topic.split()), resolved, price,
                      review=body.review, parent_job_id=body.parent_job_id, changes=list(body.changes))
        self.jobs[job.id] = job
        self.by_request[key] = job.id
        await self._append(job, self._event(job, stage="queued", position=1, message="queued: #1 in line"))
        return json_response(self._job(job), status=202)

    def _job(self, job: FakeJob) -> Job:
        """agent.service.views: the same Struct, from the fake's state."""
        done = job.status == "done"
        charged = job.price if done else 0
        result = job.result
        flat: dict[str, Any] = {}
        if result is not None:
            flat = {"title": result.title, "duration_s": result.duration_s, "width": result.width,
                    "height": result.height, "credits_left": result.credits_left,
                    "download_url": result.download_url, "size_bytes": result.bytes}
        return Job(
            id=job.id, request_id=job.request_id, status=JobStatus(job.status), stage=Stage(job.stage),
            progress=round(job.progress, 4), message=job.message, provider=job.provider,
            position=1 if job.status == "queued" else None, user=job.user, topic=job.topic, options=job.options,
            route=job.options.model, price=job.price, cost=charged if job.finished_at else job.price,
            credits=Credits(reserved=job.price, charged=charged, refunded=job.refunded), refunded=job.refunded > 0,
            providers=dict(result.provenance) if result is not None else {}, result=result, error=job.error,
            last_seq=len(job.events), created_at=iso_utc(job.created_at) or "", started_at=iso_utc(job.started_at),
            finished_at=iso_utc(job.finished_at), events_url=f"{API_PREFIX}/jobs/{job.id}/events",
            video_url=f"{API_PREFIX}/jobs/{job.id}/video", video_expired=job.video_expired,
            script=job.script if job.status == "review" else None, **flat,
        )

    def _get(self, request: web.Request) -> FakeJob:
        job = self.jobs.get(request.match_info["id"])
        if job is None:
            raise _error(404, ErrorCode.NOT_FOUND, "no such job")
        return job

    async def get_job(self, request: web.Request) -> web.Response:
        self._auth(request)
        return json_response(self._job(self._get(request)))

    async def events(self, request: web.Request) -> web.StreamResponse:
        self._auth(request)
        job = self._get(request)
        try:
            last = int((request.headers.get("Last-Event-ID") or "0").strip())
        except ValueError:
            raise _error(400, ErrorCode.BAD_REQUEST, "Last-Event-ID must be a sequence number") from None
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                           "X-Accel-Buffering": "no"})
        await resp.prepare(request)
        sent = 0
        while True:
            pending = [e for e in job.events if e.seq > last]
            for event in pending:
                await resp.write(format_sse(event))
                last = event.seq
                sent += 1
                if event.terminal:
                    await resp.write_eof()
                    return resp
                if self.drop_streams_after is not None and sent >= self.drop_streams_after:
                    request.transport and request.transport.close()
                    return resp
            async with self._changed:
                await self._changed.wait_for(lambda seen=last: any(e.seq > seen for e in job.events))

    async def get_video(self, request: web.Request) -> web.StreamResponse:
        self._auth(request)
        job = self._get(request)
        if job.status in ("failed", "cancelled"):
            raise _error(404, ErrorCode.NOT_FOUND, f"the job {job.status}: there is no video")
        if job.status != "done":
            raise _error(409, ErrorCode.NOT_READY, "the video is not ready yet", job_status=JobStatus(job.status))
        if job.video_expired:
            raise _error(404, ErrorCode.VIDEO_EXPIRED, "the video was deleted after the retention period")
        return web.Response(body=self.video, content_type="video/mp4",
                            headers={"Content-Disposition": 'attachment; filename="video.mp4"'})

    async def delete(self, request: web.Request) -> web.Response:
        self._auth(request)
        job = self._get(request)
        if job.status in ("done", "failed"):
            raise _error(409, ErrorCode.ALREADY_FINISHED,
                         f"the job has already {job.status.replace('done', 'finished')}",
                         job_status=JobStatus(job.status))
        if job.status != "cancelled":
            await self.finish(job.id, "cancelled")
        return json_response(self._job(job), status=202)

    async def status(self, request: web.Request) -> web.Response:
        self._auth(request)
        return json_response(self.status_body)

    async def quota(self, request: web.Request) -> web.Response:
        self._auth(request)
        uid = request.match_info["uid"]
        in_flight = sum(1 for j in self.jobs.values() if j.user.id == uid and j.status in ("queued", "running"))
        return json_response(Quota(  # agent.service.quota.QuotaPolicy.quota
            platform=request.match_info["platform"], user_id=uid, admin=False, balance=self._left(uid),
            daily_credits=self.daily, in_flight=in_flight, max_in_flight=self.max_in_flight, resets_at=RESETS_AT,
            resets_in_s=3600, prices={name: RoutePrice(label=name, price=p, mode="slideshow", available=True)
                                      for name, p in self.prices.items()},
            credits_left=self._left(uid)))

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._refusals])
        app.router.add_post("/v1/jobs", self.post_job)
        app.router.add_get("/v1/jobs/{id}", self.get_job)
        app.router.add_get("/v1/jobs/{id}/events", self.events)
        app.router.add_get("/v1/jobs/{id}/video", self.get_video)
        app.router.add_delete("/v1/jobs/{id}", self.delete)
        app.router.add_post("/v1/jobs/{id}/quote", self.quote)
        for step in ("approve", "rewrite", "edit"):
            app.router.add_post(f"/v1/jobs/{{id}}/{step}", self.review_step)
        app.router.add_get("/v1/status", self.status)
        app.router.add_get("/v1/users/{platform}/{uid}/quota", self.quota)
        return app

    async def start(self) -> str:
        self._server = await start_server(self)
        self.url = self._server.url
        return self.url

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.close()
