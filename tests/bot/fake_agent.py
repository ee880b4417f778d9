"""A fake agent on 127.0.0.1 that speaks the DESIGN.md HTTP contract.

Jobs are driven by the test: `emit(job_id, ...)` appends an event (SSE `id:` = seq), `finish()`
ends one. `drop_streams_after` closes event streams early to exercise `Last-Event-ID` resume.
Everything received is kept in `requests`.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class FakeJob:
    id: str
    request_id: str
    user: dict[str, Any]
    topic: str
    options: dict[str, Any]
    price: int = 0
    status: str = "queued"
    stage: str = ""
    events: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, str] | None = None
    refunded: bool | None = None


class FakeAgent:
    def __init__(self, token: str = "secret") -> None:
        self.token = token
        self.jobs: dict[str, FakeJob] = {}
        self.by_request: dict[str, str] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.credits: dict[str, int] = {}
        self.daily = 100
        self.prices = {"self-hosted": 0, "sora": 50}
        self.video = b"\x00" * 1000
        self.invalid_words = ("forbidden",)
        self.drop_streams_after: int | None = None
        self.fail_next_posts = 0  # answer 503 this many times before accepting
        self.status_body: dict[str, Any] = {
            "mode": "self-hosted",
            "backends": [  # agent.status.BackendStatus
                {"name": "ollama", "tier": "self-hosted", "configured": True, "up": True, "latency_ms": 12,
                 "version": "0.5.7", "problem": "", "cooldowns": {}},
                {"name": "comfyui", "tier": "self-hosted", "configured": True, "up": False,
                 "problem": "connection refused", "cooldowns": {}},
                {"name": "offline", "tier": "offline", "configured": True, "up": True, "cooldowns": {}},
            ],
            "queue": {"queued": 1, "running": 1},
        }
        self._changed = asyncio.Condition()
        self._next = 0
        self.url = ""
        self._runner: web.AppRunner | None = None

    # ----------------------------------------------------------- driving jobs from the test

    async def emit(self, job_id: str, **fields: Any) -> None:
        job = self.jobs[job_id]
        job.status = fields.setdefault("status", "running")
        job.stage = fields.get("stage", job.stage)
        fields.update(seq=len(job.events) + 1, job_id=job_id, at=time.time())
        fields.setdefault("progress", 0.0)
        job.events.append(fields)
        async with self._changed:
            self._changed.notify_all()

    async def finish(self, job_id: str, status: str = "done", error: dict[str, str] | None = None) -> None:
        job = self.jobs[job_id]
        job.error = error
        if status != "done":
            job.refunded = True
            self.credits[job.user["id"]] = self._left(job.user["id"]) + job.price
        await self.emit(job_id, status=status, stage="done" if status == "done" else job.stage,
                        error=error, refunded=job.refunded, progress=1.0 if status == "done" else 0.0)

    async def run_default(self, job_id: str, images: int = 3) -> None:
        await self.emit(job_id, stage="script", provider="ollama", done=0, total=1)
        await self.emit(job_id, stage="script", provider="ollama", done=1, total=1, stage_done=True)
        for n in range(1, images + 1):
            await self.emit(job_id, stage="image", provider="comfyui", done=n, total=images)
        await self.emit(job_id, stage="voice", provider="coqui", done=1, total=1, stage_done=True)
        await self.emit(job_id, stage="render", done=50, total=100)
        await self.finish(job_id)

    async def wait_job(self, n: int = 1, timeout: float = 5.0) -> FakeJob:
        async def poll() -> FakeJob:
            while len(self.jobs) < n:
                await asyncio.sleep(0.01)
            return list(self.jobs.values())[n - 1]

        return await asyncio.wait_for(poll(), timeout)

    def _left(self, user_id: str) -> int:
        return self.credits.get(user_id, self.daily)

    # ----------------------------------------------------------- HTTP

    def _auth(self, request: web.Request) -> None:
        self.requests.append((request.method, request.path, dict(request.headers)))
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            raise _error(401, "unauthorized", "missing or wrong bearer token")

    async def post_job(self, request: web.Request) -> web.Response:
        self._auth(request)
        if self.fail_next_posts > 0:
            self.fail_next_posts -= 1
            return web.Response(status=503, text="starting up")
        body = await request.json()
        if body["request_id"] in self.by_request:
            return web.json_response(self._job_json(self.jobs[self.by_request[body["request_id"]]]), status=202)
        topic = body["topic"]
        if any(w in topic for w in self.invalid_words):
            raise _error(400, "invalid_topic", "the topic asks for something the content policy does not allow")
        price = self.prices.get(body["options"].get("model", "self-hosted"), 0)
        user_id = body["user"]["id"]
        if self._left(user_id) < price:
            raise _error(429, "quota_exceeded", f"this needs {price} credits, you have {self._left(user_id)}",
                         retry_after_s=3600, resets_at="2030-01-01T00:00:00+00:00")
        self.credits[user_id] = self._left(user_id) - price
        self._next += 1
        job = FakeJob(f"job-{self._next}", body["request_id"], body["user"], topic, body["options"], price)
        self.jobs[job.id] = job
        self.by_request[job.request_id] = job.id
        return web.json_response(self._job_json(job), status=202)

    def _job_json(self, job: FakeJob) -> dict[str, Any]:
        done = job.status == "done"
        provenance = {"script": {"ollama": 1}, "image": {"comfyui": 2, "offline": 1}, "voice": {"coqui": 3}}
        result = {"title": f"All about {job.topic}", "duration_s": 27.0, "bytes": len(self.video), "width": 1080,
                  "height": 1920, "provenance": provenance, "credits_charged": job.price,
                  "credits_left": self._left(job.user["id"]), "video_url": f"/v1/jobs/{job.id}/video",
                  "download_url": None}
        return {  # agent.protocol.Job
            "id": job.id, "request_id": job.request_id, "status": job.status, "stage": job.stage,
            "topic": job.topic, "position": 2 if job.status == "queued" else None, "price": job.price,
            "cost": {"reserved": job.price, "charged": job.price if done else 0,
                     "refunded": job.price if job.refunded else 0},
            "providers": provenance if done else {},
            "result": result if done else None,
            "error": dict(job.error, refunded=bool(job.refunded)) if job.error else None,
        }

    def _get(self, request: web.Request) -> FakeJob:
        job = self.jobs.get(request.match_info["id"])
        if job is None:
            raise _error(404, "not_found", "no such job")
        return job

    async def get_job(self, request: web.Request) -> web.Response:
        self._auth(request)
        return web.json_response(self._job_json(self._get(request)))

    async def events(self, request: web.Request) -> web.StreamResponse:
        self._auth(request)
        job = self._get(request)
        last = int(request.headers.get("Last-Event-ID", "0") or 0)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        await resp.write(b": hello\n\n")
        sent = 0
        while True:
            pending = [e for e in job.events if e["seq"] > last]
            for event in pending:
                await resp.write(f"id: {event['seq']}\ndata: {json.dumps(event)}\n\n".encode())
                last = event["seq"]
                sent += 1
                if event["status"] in ("done", "failed", "cancelled"):
                    return resp
                if self.drop_streams_after is not None and sent >= self.drop_streams_after:
                    request.transport and request.transport.close()
                    return resp
            async with self._changed:
                await self._changed.wait_for(lambda: any(e["seq"] > last for e in job.events))

    async def get_video(self, request: web.Request) -> web.StreamResponse:
        self._auth(request)
        job = self._get(request)
        if job.status != "done":
            raise _error(409, "not_ready", "the video is not ready")
        return web.Response(body=self.video, content_type="video/mp4")

    async def delete(self, request: web.Request) -> web.Response:
        self._auth(request)
        job = self._get(request)
        if job.status not in ("done", "failed", "cancelled"):
            await self.finish(job.id, "cancelled")
        return web.json_response(self._job_json(job), status=202)

    async def status(self, request: web.Request) -> web.Response:
        self._auth(request)
        return web.json_response(self.status_body)

    async def quota(self, request: web.Request) -> web.Response:
        self._auth(request)
        return web.json_response({  # agent.protocol.Quota
            "platform": request.match_info["platform"], "user_id": request.match_info["uid"], "admin": False,
            "balance": self._left(request.match_info["uid"]), "daily_credits": self.daily, "in_flight": 0,
            "max_in_flight": 2, "resets_at": "2030-01-01T00:00:00+00:00", "resets_in_s": 3600,
            "prices": {name: {"label": name, "price": p, "available": True} for name, p in self.prices.items()}})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/jobs", self.post_job)
        app.router.add_get("/v1/jobs/{id}", self.get_job)
        app.router.add_get("/v1/jobs/{id}/events", self.events)
        app.router.add_get("/v1/jobs/{id}/video", self.get_video)
        app.router.add_delete("/v1/jobs/{id}", self.delete)
        app.router.add_get("/v1/status", self.status)
        app.router.add_get("/v1/users/{platform}/{uid}/quota", self.quota)
        return app

    async def start(self) -> str:
        self._runner = web.AppRunner(self.app(), shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def _error(status: int, code: str, message: str, **extra: Any) -> web.HTTPException:
    body = json.dumps({"error": {"code": code, "message": message, **extra}})
    cls = {400: web.HTTPBadRequest, 401: web.HTTPUnauthorized, 404: web.HTTPNotFound, 409: web.HTTPConflict,
           429: web.HTTPTooManyRequests}[status]
    return cls(text=body, content_type="application/json")
