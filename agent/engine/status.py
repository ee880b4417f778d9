"""Backend status: who is configured, up, how fast, with what models; and the overall mode.

Used by `reelbot status` and, later, the agent's `GET /v1/status`. Generic over providers: every
configured provider's `probe()` runs concurrently under a short timeout (the whole status answers
in well under 3 s with every backend hanging), and the HealthBoard adds cooldowns and last errors.

A probe returns a dict. Keys with a meaning here (all optional): `version`; `problem` + `hint`
(up, but cannot serve: e.g. the model is not pulled); `warnings` (a list: serving, but e.g. its
model shuts down on a known date); `unknown` (the probe could not tell without a key: neither up
nor down, never a false "up"); anything else (`models`, `loaded`, `device`,
`vram_free`, `queue_running`, ...) is shown as details. A probe that raises means down; a
`Misconfigured` carries its hint.

The mode, by which tier would serve each stage *right now* (the first configured provider of the
stage's order that is up, has no problem and is not cooling down): CLOUD when a cloud tier serves
some stage, else SELF-HOSTED when local servers serve some stage, OFFLINE when only the built-in
tier is left. A stage that runs on the built-in tier while others do not is noted beside the mode
(`offline_stages`), so Coqui serving every voice and ComfyUI every image is never called OFFLINE.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from agent.engine.backends import Backends
from agent.engine.bugs import PROGRAMMING_ERRORS, log_bug
from agent.choices import Mode
from agent.engine.health import HealthBoard
from agent.engine.routes import route_status
from agent.settings import Settings
from providers.base import Provider, ProviderDeps, Stage, Tier
from providers.errors import Misconfigured, ProviderError
from providers.registry import PROVIDER_CLASSES
from providers.scrub import clip, redact_url, scrub, scrub_json

__all__ = ["BackendStatus", "StageServe", "StatusReport", "collect_status", "build_for_status", "PROBE_TIMEOUT_S"]

PROBE_TIMEOUT_S = 2.0
MODES = {
    Tier.SELF_HOSTED: "self-hosted", Tier.CLOUD_PREMIUM: "cloud", Tier.CLOUD_FREE: "cloud", Tier.OFFLINE: "offline",
}


@dataclass
class BackendStatus:
    name: str
    tier: str
    stages: list[str]
    configured: bool
    url: str = ""  # where it is served from, without user-info (a password never shows)
    up: bool | None = None  # None: not probed (not configured)
    ready: bool = False  # up and no problem reported
    latency_ms: float | None = None
    version: str = ""
    problem: str = ""  # why it cannot serve (down, misconfigured, model missing)
    hint: str = ""  # what an operator should do
    warnings: list[str] = field(default_factory=list)  # serving now, but e.g. its model has a shutdown date
    details: dict[str, Any] = field(default_factory=dict)
    cooldowns: dict[str, float] = field(default_factory=dict)  # stage -> seconds left
    cooldown_reasons: dict[str, str] = field(default_factory=dict)  # stage -> why (401/402/429 and its message)
    last_success_s_ago: float | None = None  # since the last item it served, any stage
    unready_stages: list[str] = field(default_factory=list)  # stages its problems block
    last_error: str = ""


@dataclass
class StageServe:
    stage: str
    provider: str | None
    tier: str | None


@dataclass
class StatusReport:
    mode: str  # "self-hosted" | "cloud" | "offline"
    backends: list[BackendStatus]
    stages: list[StageServe]
    gpu_shared: list[str] = field(default_factory=list)
    elapsed_ms: float = 0.0
    routes: list[dict[str, Any]] = field(default_factory=list)  # agent.engine.routes.route_status: what users may pick

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def offline_stages(self) -> list[str]:
        """The stages the built-in tier serves while some other stage runs elsewhere (noted beside the mode)."""
        return offline_stages(self.mode, self.stages)

    def scrubbed(self, secrets: Sequence[str]) -> StatusReport:
        """The same report with every text scrubbed (`providers.scrub`): probe errors, hints and
        details may quote a backend's URL or echo its credentials."""
        for row in self.backends:
            for name in ("url", "problem", "hint", "last_error", "version"):
                setattr(row, name, scrub(getattr(row, name), secrets))
            row.warnings = [scrub(w, secrets) for w in row.warnings]
            row.details = scrub_json(row.details, secrets)
            row.cooldown_reasons = scrub_json(row.cooldown_reasons, secrets)
        self.routes = scrub_json(self.routes, secrets)
        return self


def build_for_status(settings: Settings, deps: ProviderDeps) -> tuple[list[Provider], dict[str, str]]:
    """Build every configured provider, keeping construction errors (a rejected workflow) to show."""
    instances: list[Provider] = []
    errors: dict[str, str] = {}
    for cls in PROVIDER_CLASSES:
        config = settings.providers[cls.name]
        if not config.configured():
            continue
        try:
            instances.append(cls(config, deps))
        except (ProviderError, ValueError) as exc:
            hint = getattr(exc, "hint", "")
            errors[cls.name] = f"{getattr(exc, 'message', str(exc))}" + (f" — {hint}" if hint else "")
    return instances, errors


async def _probe(provider: Provider, timeout_s: float) -> tuple[dict[str, Any] | BaseException, float]:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout_s):
            result: dict[str, Any] | BaseException = await provider.probe()
    except TimeoutError:
        result = TimeoutError(f"no answer within {timeout_s:.1f}s")
    except ProviderError as exc:
        result = exc
    except PROGRAMMING_ERRORS as exc:  # a bug in the probe: logged as one, shown as a problem
        log_bug(exc, job_id="", provider=provider.name, stage="status", where="probe()")
        result = exc
    except Exception as exc:  # noqa: BLE001 - one broken probe must not break the status page
        result = exc
    return result, (time.perf_counter() - started) * 1000


async def collect_status(
    settings: Settings,
    providers: Sequence[Provider],
    health: HealthBoard | None = None,
    *,
    now: float | None = None,
    construction_errors: Mapping[str, str] | None = None,
    gpu_shared: Iterable[str] = (),
    timeout_s: float = PROBE_TIMEOUT_S,
) -> StatusReport:
    """Probe every provider and say who serves what; every text in the report is scrubbed of the
    settings' and providers' secrets (and of URL user-info) before anything is cut or shown."""
    started = time.perf_counter()
    construction_errors = construction_errors or {}
    secrets = (*settings.secrets(), *(s for p in providers for s in p.secrets()))
    by_name: dict[str, list[Provider]] = {}
    for p in providers:
        by_name.setdefault(p.name, []).append(p)
    flat = [p for group in by_name.values() for p in group]
    results = await asyncio.gather(*(_probe(p, timeout_s) for p in flat))
    probed = dict(zip(map(id, flat), results, strict=True))

    backends: list[BackendStatus] = []
    seen: set[str] = set()
    for cls in PROVIDER_CLASSES:
        if cls.name in seen:
            continue
        seen.add(cls.name)
        stages = sorted({s.value for c in PROVIDER_CLASSES if c.name == cls.name for s in c.stages})
        config = settings.providers[cls.name]
        instances = by_name.get(cls.name, [])
        tier = instances[0].tier if instances else cls.tier  # a tier the operator sets is the instance's
        row = BackendStatus(cls.name, tier.label, stages, configured=config.configured())
        if row.configured:
            row.url = redact_url(str(getattr(config, "url", "") or getattr(config, "base_url", "") or ""))
        if cls.name in construction_errors:
            row.up, row.problem = None, construction_errors[cls.name]
        if instances:
            _merge(row, [(p, probed[id(p)]) for p in instances])
        if health is not None:
            _health(row, health, now, secrets)
        backends.append(row)

    stage_list = [Stage.SCRIPT, Stage.CLIP if settings.video.mode == Mode.VIDEO else Stage.IMAGE, Stage.VOICE]
    rows = {b.name: b for b in backends}
    serves = []
    for stage in stage_list:
        serving = None
        for name in settings.stages.for_stage(stage):
            candidate = rows.get(name)
            if (candidate and candidate.up and stage.value in candidate.stages
                    and stage.value not in candidate.cooldowns and stage.value not in candidate.unready_stages
                    and not (candidate.problem and not candidate.unready_stages)):
                serving = candidate
                break
        serves.append(StageServe(stage.value, serving.name if serving else None, serving.tier if serving else None))
    tiers = [_tier(s.tier) for s in serves]
    if any(t in (Tier.CLOUD_PREMIUM, Tier.CLOUD_FREE) for t in tiers):
        mode = "cloud"
    elif any(t is Tier.SELF_HOSTED for t in tiers):
        mode = "self-hosted"
    else:
        mode = "offline"
    routes = route_status(settings, Backends(providers, {}))
    report = StatusReport(mode, backends, serves, sorted(set(gpu_shared)),
                          round((time.perf_counter() - started) * 1000, 1), routes)
    return report.scrubbed(secrets)


def offline_stages(mode: str, stages: Iterable[Any]) -> list[str]:
    """`mode` and the stages' (stage, tier) rows: which stages run on the built-in tier, when the mode is not
    OFFLINE already (then every stage does, and the badge says so)."""
    if mode == "offline":
        return []
    return [s.stage for s in stages if _tier(s.tier) is Tier.OFFLINE]


def _tier(label: str | None) -> Tier | None:
    return next((t for t in Tier if t.label == label), None)


def _merge(row: BackendStatus, probes: list[tuple[Provider, tuple[dict[str, Any] | BaseException, float]]]) -> None:
    """One row from the probes of a backend's classes (ComfyUI has an image and a clip class).
    A problem reported by one class blocks only that class's stages."""
    results = [r for _, r in probes]
    latencies = [ms for _, ms in results]
    row.latency_ms = round(max(latencies), 1)
    failures = [r for r, _ in results if isinstance(r, BaseException)]
    if failures:
        exc = failures[0]
        row.up = False
        row.problem = row.problem or (getattr(exc, "message", "") or str(exc) or type(exc).__name__)
        if isinstance(exc, Misconfigured):
            row.up, row.hint = True, exc.hint
        return
    row.up = True
    problems, hints = [], []
    for provider, (info, _) in probes:
        assert isinstance(info, dict)
        if info.get("problem") or info.get("unknown"):
            row.unready_stages.extend(sorted(s.value for s in provider.stages))
        for key, value in info.items():
            if key == "version":
                row.version = str(value)
            elif key == "unknown":  # could not tell (no key): neither up nor down
                row.up = None
                problems.append(str(value))
            elif key == "warnings":
                row.warnings.extend(str(w) for w in value if str(w) not in row.warnings)
            elif key == "problem":
                problems.append(str(value))
            elif key == "hint":
                hints.append(str(value))
            elif isinstance(value, list) and isinstance(row.details.get(key), list):
                row.details[key] = list(dict.fromkeys([*row.details[key], *value]))
            else:
                row.details.setdefault(key, value)
    if row.problem:  # a construction error (e.g. the clip workflow) is kept
        problems.insert(0, row.problem)
    row.problem = "; ".join(problems)
    row.hint = "; ".join(dict.fromkeys(hints))
    row.ready = not problems


def _health(row: BackendStatus, health: HealthBoard, now: float | None, secrets: Sequence[str]) -> None:
    for entry in health.for_provider(row.name):
        t = now if now is not None else health._clock()  # noqa: SLF001 - the board's own clock
        if entry.cooling(t):
            row.cooldowns[entry.stage] = round(entry.remaining_s(t), 1)
            row.cooldown_reasons[entry.stage] = clip(f"{entry.cooldown_reason}: {entry.last_error}", 240, secrets)
        if entry.last_success_at is not None:
            ago = round(t - entry.last_success_at, 1)
            row.last_success_s_ago = ago if row.last_success_s_ago is None else min(ago, row.last_success_s_ago)
        if entry.last_error:
            row.last_error = f"{entry.stage}: {entry.last_error_kind}: {entry.last_error}"
        if entry.hint and not row.hint:
            row.hint = entry.hint
