"""After delivery, the video's buttons: Redo scene N, another shape, Again. Platform-neutral.

Each press is a new job linked to its parent (the agent's `parent_job_id` + `changes`, except Again,
which is a new job with the same topic and options). A press first shows what the new job costs
(the agent's quote: a re-render is free, a redone scene costs its share) with Start / No; Start
submits it and the confirmation message becomes its progress message. Button data carries the job
id and the requester's id, so the buttons work after a restart with nothing saved, and only the
requester or an admin can use them (the adapters check). A parent whose files were deleted is said
plainly, with Again as the way on.

Action codes (in button data): `r<n>` redo scene n, an aspect's name (`tall`, `wide`, `square`), `again`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agent.choices import Aspect  # stdlib only, like agent.protocol
from bot.agent_client import AgentClient, AgentError
from bot.wire import ErrorCode, Job

__all__ = ["UnknownAction", "submit_action", "is_parent_expired", "Offer", "video_actions", "describe",
           "changes_for", "offer", "start_options", "MAX_SCENE_BUTTONS", "parent_expired_text"]

log = logging.getLogger(__name__)

MAX_SCENE_BUTTONS = 8
MAX_VOICE_IN_BUTTON = 16  # Telegram rows hold 8 buttons; Discord rows 5 (the adapter splits them)
_ASPECTS = {a.name.lower(): a for a in Aspect}


class UnknownAction(ValueError):
    """Button data this bot does not understand (an older or newer bot's)."""


@dataclass(frozen=True)
class Offer:
    text: str  # what the new job makes and what it costs
    price: int
    choices: tuple[tuple[str, str], ...] = ()  # (label, code) to start one of several (Other voice), else Start
    startable: bool = True  # False: nothing to start (no other voice to pick)


def video_actions(job: Job) -> list[list[tuple[str, str]]]:
    """Rows of (label, code) under a delivered video: its scenes, the other shapes, Again."""
    scenes = job.result.scenes if job.result is not None and job.result.scenes else 0
    redo = [(f"🔁 Scene {n}", f"r{n}") for n in range(1, min(scenes, MAX_SCENE_BUTTONS) + 1)]
    shapes = [(f"📐 {a.value}", name) for name, a in _ASPECTS.items() if a.value != job.options.aspect]
    return [row for row in (redo, [("🗣 Other voice", "v"), *shapes, ("🎲 Again", "again")]) if row]


def describe(code: str, topic: str) -> str:
    if code == "v":
        return f'Another voice for "{topic}" (every scene spoken again; the pictures are kept)'
    if code.startswith("v="):
        return f'"{topic}" spoken by {code[2:]}'
    if code.startswith("r") and code[1:].isdigit():
        return f'Redo scene {code[1:]} of "{topic}" (a new picture and voice for it; the rest is kept)'
    if code in _ASPECTS:
        return f'"{topic}" again at {_ASPECTS[code].value} (the same scenes, rendered at that shape)'
    return f'A new video about "{topic}", same options'


def changes_for(code: str) -> list[dict[str, Any]] | None:
    """The agent's `changes` for an action code; None for Again (a plain new job). UnknownAction if unknown."""
    if code.startswith("r") and code[1:].isdigit():
        return [{"kind": "redo_scene", "scene": int(code[1:])}]
    if code == "v":  # a quote only: the price of any other voice, and which there are
        return [{"kind": "voice"}]
    if code.startswith("v=") and code[2:]:
        return [{"kind": "voice", "voice": code[2:]}]
    if code in _ASPECTS:
        return [{"kind": "aspect", "aspect": _ASPECTS[code].value}]
    if code == "again":
        return None
    raise UnknownAction("That button is no longer understood; ask again with /video.")


def parent_expired_text(topic: str) -> str:
    return (f'🗑 The files of "{topic}" have been deleted (videos are kept for a limited time), so it can\'t be '
            "changed any more. Press 🎲 Again to make a new one.")


def _credits(n: int) -> str:
    return "free" if n == 0 else f"{n} credit{'s' if n != 1 else ''}"


async def offer(client: AgentClient, parent: Job, code: str, platform: str, user_id: str) -> Offer:
    """What pressing `code` would start, and its price, before anything starts. Raises AgentError
    (code parent_expired when the parent's files are gone), UnknownAction."""
    changes = changes_for(code)
    if changes is None:
        quota = await client.quota(platform, user_id)
        route = quota.prices.get(parent.route)
        price = 0 if quota.admin or route is None else route.price
        return Offer(f"🎲 {describe(code, parent.topic)}: {_credits(price)}.", price)
    quoted = await client.quote(parent.id, changes)
    if code == "v":
        # the voice name travels in button data: Telegram allows 64 bytes, so short names without ":"
        choices = tuple((f"🗣 {v}", f"v={v}") for v in quoted.voices
                        if len(v) <= MAX_VOICE_IN_BUTTON and ":" not in v)
        if not choices:
            return Offer("🗣 This video's model has no other voice to pick from.", 0, startable=False)
        return Offer(f"{describe(code, parent.topic)}: makes {quoted.regenerated} of "
                     f"{quoted.regenerated + quoted.reused} pictures and voices again; {_credits(quoted.price)}. "
                     "Pick a voice:", quoted.price, choices)
    made = f"makes {quoted.regenerated} of {quoted.regenerated + quoted.reused} pictures and voices again"
    if quoted.regenerated == 0:
        made = "makes nothing again, only the render"
    return Offer(f"{describe(code, parent.topic)}: {made}; {_credits(quoted.price)}.", quoted.price)


def start_options(parent: Job, max_bytes: int) -> Mapping[str, Any]:
    """The new job's options (Again: the parent's; a derived job takes them from its parent anyway)."""
    o = parent.options
    return {"aspect": o.aspect, "length": o.length, "mode": o.mode, "model": o.model, "voice": o.voice,
            "max_bytes": max_bytes}


def is_parent_expired(exc: AgentError) -> bool:
    return exc.code is ErrorCode.PARENT_EXPIRED


async def submit_action(client: AgentClient, parent: Job, code: str, *, user: Mapping[str, Any], request_id: str,
                        max_bytes: int) -> Job:
    """Start what `code` offered: a job derived from `parent` (or, for Again, a new one like it)."""
    changes = changes_for(code)
    job = await client.submit(request_id, user, parent.topic, start_options(parent, max_bytes),
                              parent_job_id=None if changes is None else parent.id, changes=changes or ())
    log.info("job %s: %s from job %s", job.id, code, parent.id)
    return job
