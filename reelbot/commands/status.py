"""Show every backend: configured, up, latency, version, models, queue, VRAM; and the overall mode.

    reelbot status [--config FILE] [--json]

Probes run concurrently with a short timeout, so this answers in under 3 s even when every backend
hangs. Exit code 0 when something can serve every stage, 1 when some stage has no provider, 2 for
bad configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp

from reelbot.commands.common import load_settings_or_fail

if TYPE_CHECKING:
    from agent.settings import Settings
    from agent.engine.status import StatusReport

__all__ = ["add_arguments", "run", "format_report", "format_workers", "cluster_workers"]

BADGES = {"self-hosted": "SELF-HOSTED", "cloud": "CLOUD", "offline": "OFFLINE"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="config file (default: ./config.toml when present)")
    p.add_argument("--json", action="store_true", help="print the status as JSON")


def run(args: argparse.Namespace) -> int:
    settings = load_settings_or_fail(args.config)
    report = asyncio.run(gather(settings))
    workers = asyncio.run(cluster_workers(settings)) if settings.cluster.enabled else None
    if args.json:
        out = report.to_json()
        if workers is not None:
            out["workers"] = workers
        print(json.dumps(out, indent=1, default=str))
    else:
        print(format_report(report) + ("" if workers is None else "\n" + format_workers(workers)))
    return 0 if all(s.provider for s in report.stages) else 1


async def gather(settings: Settings) -> StatusReport:
    from agent.engine.gpu import plan_gpu_sharing
    from agent.engine.health import HealthBoard
    from agent.engine.status import build_for_status, collect_status
    from providers.base import ProviderDeps

    timeout = aiohttp.ClientTimeout(total=None, sock_connect=2)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        deps = ProviderDeps(session=session, clock=time.monotonic, data_dir=Path(settings.agent.data_dir))
        # provider constructors may read files (ComfyUI workflows): off the loop
        providers, errors = await asyncio.to_thread(build_for_status, settings, deps)
        health = HealthBoard(settings.cascade, time.monotonic)
        try:
            return await collect_status(settings, providers, health, construction_errors=errors,
                                        gpu_shared=plan_gpu_sharing(providers))
        finally:
            for provider in providers:  # the offline voice's eSpeak child process, for one
                close = getattr(provider, "aclose", None)
                if close is not None:
                    await close()


async def cluster_workers(settings: Settings) -> list[dict[str, Any]]:
    """The distributed mode's workers, from their heartbeats in the database (agent.protocol.WorkerInfo)."""
    from agent.protocol import to_builtins
    from agent.service.cluster import worker_infos
    from storage import open_database
    from storage.cluster import ClusterStore

    async with open_database(settings.agent.database_url, migrate=False) as db:
        rows = await ClusterStore(db).workers()
    return [to_builtins(w) for w in worker_infos(rows, time.time(), settings.cluster.lost_after_s)]


def format_workers(workers: list[dict[str, Any]]) -> str:
    lines = ["", f"workers (distributed mode): {sum(w['state'] == 'up' for w in workers)} up of {len(workers)}"]
    for w in workers:
        job = w.get("current_job") or "idle"
        lines.append(f"  {w['name']:<20}{w['state']:<10}heartbeat {w['seconds_since_heartbeat']:.0f}s ago   {job}   "
                     f"routes: {', '.join(w.get('routes', [])) or 'none'}")
        if w.get("problem"):
            lines.append(f"      {w['problem']}")
        for b in w.get("backends", []):
            extra = [*b.get("models", [])[:3]]
            if b.get("free_vram_mb") is not None:
                extra.append(f"{b['free_vram_mb']} MB VRAM free")
            if b.get("problem"):
                extra.append(b["problem"])
            lines.append(f"      {b['name']:<14}{b['state']:<8}{'; '.join(extra)}")
    return "\n".join(lines)


def _fmt_bytes(n: Any) -> str:
    return f"{n / 2**30:.1f} GiB" if isinstance(n, int | float) else "?"


def _details(details: dict[str, Any]) -> str:
    d = dict(details)
    parts = []
    if "vram_free" in d or "vram_total" in d:
        parts.append(f"VRAM {_fmt_bytes(d.pop('vram_free', None))} free of {_fmt_bytes(d.pop('vram_total', None))}")
    if "queue_running" in d:
        parts.append(f"queue {d.pop('queue_running')} running, {d.pop('queue_pending', 0)} pending")
    for key, value in d.items():
        if isinstance(value, list):
            value = ", ".join(map(str, value[:8])) + (f" (+{len(value) - 8})" if len(value) > 8 else "") or "none"
        parts.append(f"{key}: {value}")
    return "; ".join(parts)


def format_report(report: Any) -> str:
    offline = report.offline_stages()
    note = f" ({', '.join(offline)} on the built-in offline tier)" if offline else ""
    lines = [f"mode: {BADGES.get(report.mode, report.mode.upper())}{note}   (status in {report.elapsed_ms:.0f} ms)", ""]
    w = max([15, *(len(b.name) + 1 for b in report.backends)])  # "openai_compatible" is longer than most
    header = f"{'backend':<{w}}{'tier':<15}{'configured':<12}{'state':<8}{'latency':>9}  {'version':<10}details"
    lines += [header, "-" * len(header)]
    for b in report.backends:
        state = "-" if b.up is None and not b.problem else ("unknown" if b.up is None and b.ready is False
                                                             and b.latency_ms is not None else
                                                             "error" if b.up is None else
                                                             ("up" if b.ready else ("not ready" if b.up else "down")))
        latency = f"{b.latency_ms:.0f} ms" if b.latency_ms is not None and b.configured else ""
        extra = _details(b.details) if b.configured else ""
        lines.append(f"{b.name:<{w}}{b.tier:<15}{'yes' if b.configured else 'no':<12}{state:<8}{latency:>9}  "
                     f"{(b.version or '')[:10]:<10}{extra}")
        pad = " " * w
        if getattr(b, "url", "") and b.configured:
            lines.append(f"{pad}at {b.url}")  # without user-info: a password in the URL never shows
        if b.problem:
            lines.append(f"{pad}problem: {b.problem}")
        if b.hint:
            lines.append(f"{pad}fix: {b.hint}")
        lines += [f"{pad}warning: {w}" for w in getattr(b, "warnings", [])]
        for stage, left in b.cooldowns.items():
            why = getattr(b, "cooldown_reasons", {}).get(stage, "")
            lines.append(f"{pad}cooling down ({stage}): {left:.0f}s left" + (f" after {why}" if why else ""))
        if getattr(b, "last_success_s_ago", None) is not None:
            lines.append(f"{pad}last success: {b.last_success_s_ago:.0f}s ago")
        if b.last_error:
            lines.append(f"{pad}last error: {b.last_error}")
    lines.append("")
    lines.append("serving now: " + ", ".join(f"{s.stage} → {s.provider or 'NOTHING'}" for s in report.stages))
    if report.gpu_shared:
        lines.append("one GPU shared by: " + ", ".join(report.gpu_shared) + " (models released between steps)")
    routes = getattr(report, "routes", [])
    if routes:
        lines.append("models users can pick: " + ", ".join(
            f"{r['route']} ({'free' if not r['price'] else str(r['price']) + ' credits'})"
            for r in routes if r["available"]) or "none")
        lines += [f"   unavailable: {r['route']}: {r['why']}" for r in routes if not r["available"]]
    return "\n".join(lines)
