"""Model lifecycle: when a service says a model dies, and which models have already died.

Two sources, both shown by `reelbot status` (`lifecycle_report`, merged into a probe's answer):

* dates. OpenAI's `GET /models` carries a `shutdown_date` per model; for the rest, `KNOWN_SHUTDOWNS`
  holds the dates the vendors announced (checked on the date in providers/README.md). A date to come
  is a warning ("gpt-4o shuts down 2027-01-14"); a date gone by is a configuration problem naming
  the setting and what to set instead.
* answers. A service that answers "model_decommissioned" (`providers.errors.ModelRetired`) has told
  us for good: `RetiredModels` writes it down in the data directory, and `providers.http.CloudHTTP`
  then refuses that model without calling, until the configuration names another one (the note is
  per provider *and* model, so changing the setting is all it takes; restarting with the same dead
  model changes nothing).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from providers.errors import ModelRetired

__all__ = ["Shutdown", "KNOWN_SHUTDOWNS", "RetiredModels", "retired_models", "lifecycle_report"]

log = logging.getLogger(__name__)

RETIRED_FILE = "retired-models.json"


@dataclass(frozen=True)
class Shutdown:
    date: str  # ISO date the model stops answering; "" = already shut down, date not published
    instead: str = ""  # the vendor's recommended replacement, when there is one


# provider -> model -> shutdown, as the vendors announced them (see providers/README.md for the sources)
KNOWN_SHUTDOWNS: Mapping[str, Mapping[str, Shutdown]] = {
    "openai": {
        "dall-e-2": Shutdown("", "gpt-image-2"),
        "dall-e-3": Shutdown("", "gpt-image-2"),
        "gpt-image-1": Shutdown("", "gpt-image-2"),
        "gpt-image-1-mini": Shutdown("2026-12-01", "gpt-image-2"),
        "tts-1": Shutdown("2027-01-06"),
        "tts-1-hd": Shutdown("2027-01-06"),
        "gpt-4o-mini-tts": Shutdown("2027-01-06"),
        "gpt-4o": Shutdown("2027-01-14", "gpt-5.4-mini"),
        "sora-2": Shutdown("2026-09-24"),
        "sora-2-pro": Shutdown("2026-09-24"),
    },
    "groq": {
        "llama-3.3-70b-versatile": Shutdown("2026-08-16", "openai/gpt-oss-120b"),
    },
}


class RetiredModels:
    """The models a service answered "decommissioned" for, kept in a small JSON file so a restart with
    the same configuration does not call them again. `path` None keeps the notes in memory only."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._notes: dict[str, dict[str, str]] | None = None  # provider -> model -> what it said
        self._lock = asyncio.Lock()

    async def _load(self) -> dict[str, dict[str, str]]:
        if self._notes is None:
            self._notes = await asyncio.to_thread(self._read) if self._path is not None else {}
        return self._notes

    def _read(self) -> dict[str, dict[str, str]]:
        assert self._path is not None
        try:
            data = json.loads(self._path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict):
            return {}
        return {str(p): {str(m): str(w) for m, w in v.items()} for p, v in data.items() if isinstance(v, dict)}

    def _write(self, notes: dict[str, dict[str, str]]) -> None:
        assert self._path is not None
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_suffix(".tmp")
        tmp.write_text(json.dumps(notes, indent=1, sort_keys=True), encoding="utf-8")
        tmp.replace(self._path)

    async def retired(self, provider: str) -> dict[str, str]:
        """model -> what the service said, for every model of `provider` noted as retired."""
        return dict((await self._load()).get(provider, {}))

    async def refuse_if_retired(self, provider: str, model: str) -> None:
        said = (await self._load()).get(provider, {}).get(model)
        if said is not None:
            raise ModelRetired(
                f"model {model!r} is retired (the service said: {said}); not called again until the "
                "configuration names another model", provider=provider, model=model,
                hint=f"set another model in [providers.{provider}]")

    async def record(self, provider: str, model: str, message: str) -> None:
        async with self._lock:
            notes = await self._load()
            if notes.get(provider, {}).get(model) == message:
                return
            notes.setdefault(provider, {})[model] = message
            log.warning("provider %s: model %s is retired (%s); it will not be called again until the "
                        "configuration changes", provider, model, message)
            if self._path is not None:
                await asyncio.to_thread(self._write, {p: dict(v) for p, v in notes.items()})


def retired_models(data_dir: Path | None) -> RetiredModels:
    """The notes kept in `data_dir` (in memory only without one)."""
    return RetiredModels(data_dir / RETIRED_FILE if data_dir is not None else None)


def lifecycle_report(
    provider: str,
    models: Mapping[str, str],
    *,
    today: dt.date,
    listed: Mapping[str, str | None] | None = None,
    retired: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Probe keys for the models a provider is set to use (`models`: setting name -> model):
    `warnings` for announced shutdowns to come, `problem` + `hint` for dead ones. `listed` holds the
    service's own shutdown dates (OpenAI's /models), which win over `KNOWN_SHUTDOWNS`."""
    known = KNOWN_SHUTDOWNS.get(provider, {})
    warnings: list[str] = []
    problems: list[str] = []
    hints: list[str] = []
    for setting, model in models.items():
        if not model:
            continue
        shutdown = known.get(model)
        date = (listed or {}).get(model) or (shutdown.date if shutdown else None)
        instead = shutdown.instead if shutdown else ""
        said = (retired or {}).get(model)
        fix = f"set [providers.{provider}] {setting}" + (f' = "{instead}"' if instead else " to a current model")
        if said is not None:
            problems.append(f"{model} is retired (the service said: {said})")
            hints.append(fix)
        elif shutdown is not None and not date:
            problems.append(f"{model} has been shut down")
            hints.append(fix)
        elif date:
            day = _parse_day(date)
            if day is not None and day <= today:
                problems.append(f"{model} shut down on {day.isoformat()}")
                hints.append(fix)
            elif day is not None:
                warnings.append(f"{model} shuts down {day.isoformat()}" + (f" (use {instead})" if instead else ""))
    out: dict[str, Any] = {}
    if warnings:
        out["warnings"] = warnings
    if problems:
        out["problem"] = "; ".join(problems)
        out["hint"] = "; ".join(dict.fromkeys(hints))
    return out


def _parse_day(value: str) -> dt.date | None:
    """An ISO date, or a Unix timestamp as some listings give it."""
    text = str(value).strip()
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        pass
    try:
        return dt.datetime.fromtimestamp(float(text), tz=dt.UTC).date()
    except (ValueError, OverflowError, OSError):
        return None
