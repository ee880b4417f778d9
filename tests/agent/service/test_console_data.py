"""What the console's pages make of stored attempts, events and the status: fallbacks, timings,
backend details, and the workers list the distributed mode adds to the status."""

from __future__ import annotations

import jinja2
import msgspec

from agent.protocol import BackendStatus, Status, convert
from agent.service.console import configure_environment, environment_options
from agent.service.console.data import backend_rows, fallbacks, stage_timings, worker_rows
from agent.service.metrics import _loopback
from storage.models import ProviderAttemptRow


def attempt(stage: str, item: str, provider: str, outcome: str, message: str = "") -> ProviderAttemptRow:
    return ProviderAttemptRow(job_id="j", stage=stage, item=item, provider=provider, tier="t", outcome=outcome,
                              message=message, elapsed_s=0.1, at=0.0)


def test_a_fallback_is_an_item_one_provider_failed_and_another_served() -> None:
    rows = [
        attempt("image", "scene 1", "comfyui", "ok"),
        attempt("image", "scene 2", "comfyui", "unavailable", "out of memory"),
        attempt("image", "scene 2", "openai", "skipped"),
        attempt("image", "scene 2", "offline", "ok"),
        attempt("voice", "scene 1", "coqui", "rate_limited"),  # never served: no fallback, a failure
    ]
    found = fallbacks(rows)
    assert [(f.stage, f.item, f.served_by) for f in found] == [("image", "scene 2", "offline")]
    assert found[0].failed == "comfyui (unavailable: out of memory)"


def test_stage_timings_run_from_a_stage_s_first_event_to_the_next_stage() -> None:
    at = "2026-01-01T00:00:{:06.3f}Z".format
    events = [
        {"seq": 1, "stage": "queued", "at": at(0)},
        {"seq": 2, "stage": "starting", "at": at(1)},
        {"seq": 3, "stage": "script", "at": at(1.5)},
        {"seq": 4, "stage": "image", "at": at(3.5)},
        {"seq": 5, "stage": "image", "at": at(6)},
        {"seq": 6, "stage": "voice", "at": at(9.5)},
        {"seq": 7, "stage": "render", "at": at(10)},
        {"seq": 8, "stage": "done", "at": at(14.25)},
    ]
    timings = {t.stage: t.seconds for t in stage_timings(list(reversed(events)))}
    assert timings == {"script": 2.0, "image": 6.0, "voice": 0.5, "render": 4.25}


def _status(**extra: object) -> Status:
    backend = BackendStatus(
        name="comfyui", tier="self-hosted", stages=["image"], configured=True, url="http://gpu:8188", up=True,
        ready=True, latency_ms=12.0, version="0.3", problem="", hint="",
        details={"vram_free": 2 * 2**30, "vram_total": 8 * 2**30, "queue_running": 1, "queue_pending": 2,
                 "models": ["sdxl.safetensors (ok)"], "device": "cuda:0"},
        cooldowns={}, cooldown_reasons={}, last_success_s_ago=None, unready_stages=[], last_error="")
    return convert({
        "mode": "self-hosted", "backends": [msgspec.to_builtins(backend)], "stages": [], "gpu_shared": [],
        "elapsed_ms": 1.0, "routes": [], "queue": {"queued": 0, "running": 0, "workers": 1, "queue_size": 9},
        "state": "ok", "problems": [], "data_dir": {"state": "ok", "free_bytes": 1, "total_bytes": 2,
                                                     "min_free_bytes": 0},
        "storage": {"state": "ok", "last_error": "", "since": None, "failed_writes": 0, "free_bytes": None},
        **extra,
    }, Status)


def test_backend_details_are_picked_apart() -> None:
    (row,) = backend_rows(_status())
    assert row["state"] == "ready"
    assert row["vram"] == "2.0 / 8.0 GiB free"
    assert row["queue"] == "1 running, 2 waiting"
    assert row["models"] == ["sdxl.safetensors (ok)"]
    assert row["extra"] == {"device": "cuda:0"}


def test_workers_are_shown_on_a_distributed_front_door() -> None:
    assert worker_rows(_status(), distributed=False) is None  # a single-box agent: the section is left out
    assert worker_rows(_status(), distributed=True) == []  # a front door with no worker says so
    rows = worker_rows(_status(workers=[{"name": "gpu-1", "state": "up", "last_heartbeat": "2026-11-30T09:00:00Z",
                                         "seconds_since_heartbeat": 2.0}]), distributed=True)
    assert rows is not None and rows[0]["name"] == "gpu-1" and rows[0]["state"] == "up"
    # an idle worker first, a full one after it: the table's columns (the first row's) show the problem
    rows = worker_rows(_status(workers=[
        {"name": "gpu-1", "state": "up", "last_heartbeat": "2026-11-30T09:00:00Z", "seconds_since_heartbeat": 2.0},
        {"name": "gpu-2", "state": "disk-full", "last_heartbeat": "2026-11-30T09:00:00Z",
         "seconds_since_heartbeat": 1.0, "current_job": "j1", "problem": "the data directory /d has 1 MB free"}]),
        distributed=True)
    assert rows is not None and list(rows[0]) == list(rows[1])
    assert (rows[0]["problem"], rows[1]["problem"]) == ("", "the data directory /d has 1 MB free")
    assert (rows[0]["current_job"], rows[1]["current_job"]) == ("", "j1")


def test_metrics_without_a_token_answer_loopback_only() -> None:
    assert _loopback("127.0.0.1") and _loopback("::1") and _loopback("127.8.9.1")
    assert not _loopback("192.168.1.20") and not _loopback("10.0.0.1") and not _loopback(None)
    assert not _loopback("not an address")


def test_the_overview_renders_the_workers_when_there_are_some() -> None:
    env = configure_environment(jinja2.Environment(**environment_options()))
    status = _status()
    base = {"csrf": "c", "path": "/console/", "prefix": "/console", "status": status,
            "backends": backend_rows(status)}
    page = env.get_template("overview.html").render(**base, workers=None)
    assert 'id="workers"' not in page and "Workers</h2>" not in page
    workers = [{"name": "gpu-1", "state": "busy", "models": ["sdxl", "llama"]}, {"name": "<b>gpu-2</b>"}]
    page = env.get_template("overview.html").render(**base, workers=workers)
    assert 'id="workers"' in page and "<td>sdxl, llama</td>" in page
    assert "&lt;b&gt;gpu-2&lt;/b&gt;" in page  # what a worker reports is escaped
    assert "No workers have reported yet." in env.get_template("overview.html").render(**base, workers=[])
