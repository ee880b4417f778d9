"""Derived jobs: Redo scene N, Other voice, another shape: a new job made from its parent's files.

A derived job is submitted like any job, plus `parent_job_id` and a typed list of `changes`. It
takes its parent's topic, route and options (with the changed voice or aspect), and starts from a copy
of the parent's work directory (agent.engine.pipeline.seed_from_parent) without the items it must make
again; the pipeline's resume makes exactly those and re-renders. Its price is the parent route's price
times the share of images and voices made again (a scene is two of 2 x scenes), rounded up: a new
shape alone is a re-render and costs nothing. The parent must be done and still have its files; once
retention has deleted them the answer is 409 `parent_expired` (and a derived job whose parent's
files vanish before it starts fails with that code, refunded).
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.choices import Aspect, InvalidChoice, Mode, parse_choice
from agent.engine.pipeline import scene_count, seed_from_parent
from agent.protocol import Change, ChangeKind, Job, JobStatus

__all__ = ["DerivePlan", "BadChange", "ParentExpired", "plan_derived", "derived_data", "prepare_workdir",
           "PARENT_KEY", "DROP_KEY"]

PARENT_KEY = "parent"  # in the job's stored options: the parent's id
DROP_KEY = "drop"  # stage -> scene indices made again (None: all of the stage's)


class BadChange(ValueError):
    """The changes cannot apply to this parent (400 invalid_input, field `changes`)."""


class ParentExpired(Exception):
    """The parent's files are gone (409 parent_expired); nothing was charged."""


@dataclass(frozen=True)
class DerivePlan:
    parent_id: str
    options: dict[str, Any]  # the child's stored options
    route: str
    price: int  # before an admin's exemption
    regenerated: int
    reused: int


async def plan_derived(parent: Job | None, parent_dir: Path, changes: Sequence[Change], route_price: int,
                       *, quote: bool = False) -> DerivePlan:
    """What the changes make again, and what that costs (`quote`: a voice change may leave the voice out).
    Raises BadChange, ParentExpired."""
    if parent is None:
        raise BadChange("there is no such parent job")
    if parent.status is not JobStatus.DONE:
        raise BadChange("the parent job has not finished with a video")
    scenes = await asyncio.to_thread(scene_count, parent_dir) if not parent.video_expired else None
    if scenes is None:
        raise ParentExpired("the files of that video have been deleted (videos are kept for a limited time)")
    if not changes:
        raise BadChange("say what to change")
    o = parent.options
    options: dict[str, Any] = {"aspect": o.aspect, "length": o.length, "mode": o.mode, "model": o.model,
                               "voice": o.voice, "max_bytes": o.max_bytes, PARENT_KEY: parent.id}
    visual = "clip" if o.mode == Mode.VIDEO.value else "image"
    redo: set[int] = set()
    all_voices = False
    for change in changes:
        if change.kind is ChangeKind.REDO_SCENE:
            if change.scene is None or not 1 <= change.scene <= scenes:
                raise BadChange(f"scene must be 1 to {scenes}")
            redo.add(change.scene - 1)
        elif change.kind is ChangeKind.VOICE:
            if not (quote and change.voice is None) and (not change.voice or not change.voice.strip()
                                                          or len(change.voice) > 64):
                raise BadChange("voice needs a voice name (up to 64 characters)")
            options["voice"], all_voices = (change.voice or "").strip() or o.voice, True
        else:
            try:
                options["aspect"] = parse_choice(Aspect, change.aspect or "", "aspect").value
            except InvalidChoice as exc:
                raise BadChange(str(exc)) from None
    drop: dict[str, list[int] | None] = {visual: sorted(redo), "voice": None if all_voices else sorted(redo)}
    if redo:
        options["seed"] = secrets.randbelow(2**31)  # a new picture, not the same one again
    options[DROP_KEY] = drop
    regenerated = len(redo) + (scenes if all_voices else len(redo))
    price = math.ceil(route_price * regenerated / (2 * scenes)) if regenerated else 0
    return DerivePlan(parent.id, options, parent.route, price, regenerated, 2 * scenes - regenerated)


def derived_data(data: Any, plan: DerivePlan, topic: str) -> Any:
    """The submission (agent.service.jobs.SubmitData) as the derived job: the parent's topic, route and
    options with the changes, priced by what is made again."""
    return dataclasses.replace(data, topic=topic, options=dict(plan.options), route=plan.route,
                               route_price=plan.price)


async def prepare_workdir(options: Mapping[str, Any], workdir: Path, parent_dir: Path) -> None:
    """Before a derived job first runs: its work directory from the parent's. Raises ParentExpired."""
    if not options.get(PARENT_KEY) or await asyncio.to_thread((workdir / "manifest.json").is_file):
        return  # not derived, or already seeded (a resumed job)
    drop = {k: (list(v) if v is not None else None) for k, v in dict(options.get(DROP_KEY) or {}).items()}
    try:
        await asyncio.to_thread(seed_from_parent, parent_dir, workdir, drop)
    except FileNotFoundError:
        raise ParentExpired("the files of the video this one is made from were deleted before it started") from None
