"""The distributed mode as real processes on 127.0.0.1: a front door and workers with fake backends.

    python -m tests.support.cluster front  --config FILE
    python -m tests.support.cluster worker --config FILE --name NAME [--gpu] [--latency S] [--down FILE]
                                           [--full FILE]

Both are the product's own code (`create_app` in cluster mode, `agent.worker.main.run_worker`) with
fake providers of fixed latency instead of real ones, and a renderer that writes a small file (no
CPU-bound render: the benchmark measures the cluster, not ffmpeg). A worker started with `--gpu`
also has a fake "comfyui" provider, so it serves the `gpu` route; its probe fails while the
`--down` file exists, so a test can take its GPU away and give it back. While the `--full` file
exists, the worker's data directory reports 1 MB free (its disk usage is injected), so a test can
fill its disk and free it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "cluster-test-agent-token-0123456789"
WORKER_TOKEN = "cluster-test-worker-token-0123456789"
CONSOLE_TOKEN = "cluster-test-console-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TERMINAL = ("done", "failed", "cancelled")


def write_config(path: Path, *, url: str, port: int, data_dir: Path, name: str = "", latency: float = 0.2,
                 workers: int = 2, max_in_flight: int = 5, daily: int = 1000, heartbeat_s: float = 1.0,
                 lost_after_s: float = 6.0, grace_s: float = 10.0, event_poll_s: float = 0.05,
                 size_scale: float = 1.0, event_flush_s: float = 0.1, min_free_disk_mb: int = 0) -> Path:
    path.write_text(f"""
[video]
size_scale = {size_scale}

[stages]
script = ["offline"]
image = ["comfyui", "offline"]
clip = []
voice = ["offline"]

[routes.self-hosted]
label = "Self-hosted"
price = 5

[routes.gpu]
label = "GPU stills"
price = 10
image = ["comfyui"]

[agent]
host = "127.0.0.1"
port = {port}
data_dir = "{data_dir}"
database_url = "{url}"
workers = {workers}
event_flush_s = {event_flush_s}
sse_keepalive_s = 1.0
min_free_disk_mb = {min_free_disk_mb}
job_timeout_s = 120.0

[quotas]
daily_credits = {daily}
max_in_flight = {max_in_flight}

[cluster]
enabled = true
worker_name = "{name}"
front_door_url = "http://127.0.0.1:{port}"
advertise_url = "http://127.0.0.1:{port}"
heartbeat_s = {heartbeat_s}
lost_after_s = {lost_after_s}
shutdown_grace_s = {grace_s}
event_poll_s = {event_poll_s}
unserved_after_s = 3
""")
    return path


def env() -> dict[str, str]:
    return {**os.environ, "REELBOT_AGENT_TOKEN": TOKEN, "REELBOT_WORKER_TOKEN": WORKER_TOKEN,
            "REELBOT_CONSOLE_TOKEN": CONSOLE_TOKEN, "PYTHONUNBUFFERED": "1"}


def spawn(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "tests.support.cluster", *args], cwd=ROOT, env=env(),
                                stdout=out, stderr=subprocess.STDOUT)


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout_s: float = 30.0) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


class Front:
    """JSON calls to a front door, each bounded."""

    def __init__(self, session: aiohttp.ClientSession, port: int) -> None:
        self.session, self.base = session, f"http://127.0.0.1:{port}"

    async def call(self, method: str, path: str, body: Any = None, timeout_s: float = 15.0) -> tuple[int, Any]:
        async with self.session.request(method, self.base + path, json=body, headers=AUTH,
                                        timeout=aiohttp.ClientTimeout(total=timeout_s)) as resp:
            return resp.status, await resp.json(content_type=None)

    async def wait_up(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if (await self.call("GET", "/v1/status"))[0] == 200:
                    return
            except (aiohttp.ClientError, OSError):
                pass
            await asyncio.sleep(0.2)
        raise AssertionError("the front door did not come up")

    async def workers(self) -> dict[str, Any]:
        _, status = await self.call("GET", "/v1/status")
        return {w["name"]: w for w in status.get("workers", [])}

    async def wait_workers(self, *names: str, route: str = "self-hosted", timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        seen: dict[str, Any] = {}
        while time.monotonic() < deadline:
            seen = await self.workers()
            if all(n in seen and seen[n]["state"] == "up" and route in seen[n]["routes"] for n in names):
                return
            await asyncio.sleep(0.2)
        raise AssertionError(f"workers {names} not up on {route}: {seen}")

    async def submit(self, topic: str, user: str = "u1", model: str | None = None,
                     request_id: str | None = None) -> tuple[int, Any]:
        body: dict[str, Any] = {"request_id": request_id or f"req-{topic}", "topic": topic,
                                "user": {"platform": "discord", "id": user}}
        if model:
            body["options"] = {"model": model}
        return await self.call("POST", "/v1/jobs", body)

    async def wait_job(self, job_id: str, *statuses: str, timeout_s: float = 60.0) -> Any:
        deadline = time.monotonic() + timeout_s
        job: Any = None
        while time.monotonic() < deadline:
            try:
                _, job = await self.call("GET", f"/v1/jobs/{job_id}")
                if job["status"] in statuses:
                    return job
            except (aiohttp.ClientError, OSError):
                pass
            await asyncio.sleep(0.1)
        raise AssertionError(f"job {job_id} never reached {statuses}: {job}")


# ---------------------------------------------------------------------------- the processes


def _premade() -> tuple[bytes, bytes]:
    """A tiny PNG and a 1.5 s WAV, made once: the fakes write these bytes instead of drawing each time."""
    import io
    import random
    import tempfile

    from PIL import Image

    from tests.fakes import write_wav

    png = io.BytesIO()  # noise: more than 1 KB and not flat, as agent.engine.validation wants a real image
    Image.frombytes("RGB", (128, 228), random.Random(7).randbytes(128 * 228 * 3)).save(png, format="PNG")
    with tempfile.TemporaryDirectory() as tmp:  # a tone, as the voice checks want sound
        wav = write_wav(Path(tmp) / "tone.wav").read_bytes()
    return png.getvalue(), wav


def _providers(gpu: bool, latency: float, down: Path | None) -> list[Any]:
    from providers.base import ImageResult, Tier, VoiceResult
    from tests.fakes import FakeProvider

    png, wav = _premade()

    class Slow(FakeProvider):
        """Fixed latency on the script (one call per job), so a job takes `latency` seconds of waiting;
        images and voices are premade bytes written to their files (little CPU per job)."""

        async def write_script(self, request, ctx):  # type: ignore[no-untyped-def]
            await asyncio.sleep(latency)
            return await super().write_script(request, ctx)

        async def make_image(self, request, ctx):  # type: ignore[no-untyped-def]
            path = request.out_dir / f"{self.name}_{request.scene_index}.png"
            await asyncio.to_thread(path.write_bytes, png)
            return ImageResult(path, 128, 228)

        async def speak(self, request, ctx):  # type: ignore[no-untyped-def]
            path = request.out_dir / f"{self.name}_{request.scene_index}.wav"
            await asyncio.to_thread(path.write_bytes, wav)
            return VoiceResult(path, 1.5, None)

    class Gpu(FakeProvider):
        async def probe(self) -> dict[str, Any]:
            if down is not None and await asyncio.to_thread(down.exists):
                raise ConnectionError("the GPU server is down")
            return {"models": ["fake-sdxl"], "vram_free": 8 * 1024**3}

    out: list[Any] = [Slow("offline", Tier.OFFLINE)]
    if gpu:
        out.append(Gpu("comfyui", Tier.SELF_HOSTED))
    return out


def main() -> None:
    from agent.engine.backends import Backends
    from agent.settings import load_settings
    from providers.base import Stage
    from tests.fakes import FakeRenderer

    p = argparse.ArgumentParser()
    p.add_argument("role", choices=["front", "worker"])
    p.add_argument("--config", type=Path, required=True)
    p.add_argument("--name", default="")
    p.add_argument("--gpu", action="store_true")
    p.add_argument("--latency", type=float, default=0.2)
    p.add_argument("--down", type=Path)
    p.add_argument("--full", type=Path)
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s {args.role} {args.name} %(levelname)s "
                        "%(name)s: %(message)s")
    logging.getLogger("procrastinate").setLevel(logging.WARNING)
    settings = load_settings(args.config)
    orders = {Stage.SCRIPT: ("offline",), Stage.IMAGE: ("comfyui", "offline"), Stage.CLIP: (),
              Stage.VOICE: ("offline",)}
    if args.role == "front":
        from aiohttp import web

        from agent.service.app import create_app

        backends = Backends(_providers(True, 0.0, None), dict(orders))
        web.run_app(create_app(settings, backends=backends, renderer=FakeRenderer()), host="127.0.0.1",
                    port=settings.agent.port, print=None, access_log=None, shutdown_timeout=2)
        return
    import dataclasses

    from agent.worker.main import run_worker

    settings = dataclasses.replace(settings, cluster=dataclasses.replace(settings.cluster, worker_name=args.name))
    backends = Backends(_providers(args.gpu, args.latency, args.down), dict(orders))
    full: Path | None = args.full

    def disk_usage(path: Path) -> tuple[int, int, int]:
        total = 100 * 1024**3
        free = 1024**2 if full is not None and full.exists() else 50 * 1024**3
        return total, total - free, free

    asyncio.run(run_worker(settings, backends=backends, renderer=FakeRenderer(), disk_usage=disk_usage))


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.default_int_handler)
    main()
