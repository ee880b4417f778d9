"""Failure and result wording for people: what happened, whether credits came back, what to do next.

Pure functions over the agent's error types and job state; the platforms only display the text.
"""

from __future__ import annotations

import datetime as dt

from bot.agent_client import (
    AgentBusy,
    AgentError,
    AgentUnreachable,
    InvalidRequest,
    QuotaExceeded,
    TooManyJobs,
)
from bot.progress import clock_text
from bot.wire import BackendStatus, ErrorCode, Job, JobStatus, Quota, ServiceState, Status, WorkerState, served_by

__all__ = [
    "submit_failed",
    "job_failed",
    "cancelled",
    "too_large",
    "expired",
    "caption",
    "quota_text",
    "lost_track",
    "UNREACHABLE",
    "backend_detail",
    "worker_lines",
    "backend_name",
    "status_header",
    "plain_error",
    "PAUSED",
    "RESTARTING",
]

PAUSED = "⏸ The bot is restarting; this message picks up where it left off when it is back."
RESTARTING = "🔁 The bot is restarting right now; please ask again in a minute. Nothing was started or charged."
UNREACHABLE = (
    "⚠️ The video service isn't answering right now, so nothing was started and no credits were used. "
    "Please try again in a few minutes."
)
_VOICE_FIELDS = ("voice", "options.voice")  # agent.service.api: an unknown voice, or a malformed one
_STORAGE_FULL = (ErrorCode.STORAGE_UNAVAILABLE, ErrorCode.DISK_FULL)


def _when(resets_at: str, retry_after_s: float | None, now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now(dt.UTC)
    moment: dt.datetime | None = None
    if resets_at:
        try:
            moment = dt.datetime.fromisoformat(resets_at.replace("Z", "+00:00"))
        except ValueError:
            moment = None
    if moment is None and retry_after_s is not None:
        moment = now + dt.timedelta(seconds=retry_after_s)
    if moment is None:
        return "when your daily allowance resets"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    wait = max(0, int((moment - now).total_seconds()))
    hours, rest = divmod(wait, 3600)
    span = f"{hours} h {rest // 60} min" if hours else f"{max(1, rest // 60)} min"
    return f"at {moment.astimezone(dt.UTC):%H:%M} UTC (in {span})"


def _span(seconds: float) -> str:
    seconds = max(1, int(seconds))
    if seconds < 90:
        return f"{seconds} s"
    hours, rest = divmod(seconds, 3600)
    return f"{hours} h {rest // 60} min" if hours else f"{max(1, rest // 60)} min"


def submit_failed(exc: AgentError, topic: str, now: dt.datetime | None = None) -> str:
    """Why a /video never became a job."""
    if isinstance(exc, TooManyJobs) or exc.code is ErrorCode.TOO_MANY_JOBS:
        return "⏳ You already have as many videos on the way as allowed. Wait for one to finish, then ask again."
    if isinstance(exc, QuotaExceeded):
        cost = (f" It costs {exc.price} credit{'s' if exc.price != 1 else ''} and you have {exc.balance}."
                if exc.price is not None and exc.balance is not None else "")
        return (
            f"💳 You're out of credits for \"{topic}\".{cost} Your credits refill "
            f"{_when(exc.resets_at, exc.retry_after_s, now)}. "
            "Free self-hosted videos may still be available: try /quota."
        )
    if isinstance(exc, AgentBusy):
        wait = f" in {_span(exc.retry_after_s)}" if exc.retry_after_s else " in a little while"
        if exc.code in _STORAGE_FULL:
            return (f"💾 The video service is out of storage space right now. Nothing was charged; please try "
                    f"again{wait}.")
        return ("🚦 The video service is busy right now (its queue is full). Nothing was charged; "
                f"please try again{wait}.")
    if isinstance(exc, InvalidRequest):
        why = str(exc) or "the agent refused it"
        if exc.field in _VOICE_FIELDS:  # the agent's message names voices to pick instead
            return f"🗣 I can't make that video with that voice: {why}. Nothing was charged."
        return f"✋ I can't make that video: {why}. Nothing was charged."
    if isinstance(exc, AgentUnreachable):
        return UNREACHABLE
    return f"⚠️ The video service refused the request ({exc.code}: {exc}). Nothing was charged."


def _refund_note(job: Job) -> str:
    """From the credits the agent reports: given back, never charged (a free route, an admin), or
    held although the job did not finish (an agent bug: say so)."""
    if job.credits.refunded > 0:
        return "Your credits were refunded."
    if job.credits.reserved == 0:
        return "Nothing was charged."
    return "Credits were not refunded; an admin can look into it."


def _without_refund(message: str) -> str:
    """The agent's message may end "; your credits were refunded": the refund note says that, once."""
    return "; ".join(part.strip() for part in message.split(";")
                     if "refund" not in part.lower() and "credit" not in part.lower()).strip()


def job_failed(job: Job) -> str:
    code = job.error.code if job.error else None
    message = _without_refund(job.error.message) if job.error else ""
    refund = _refund_note(job)
    if code in _STORAGE_FULL:
        return (f"💾 The video service ran out of storage space, so \"{job.topic or 'your video'}\" couldn't be "
                f"made. {refund} Please try again later.")
    if code is ErrorCode.ALL_PROVIDERS_FAILED:
        return (
            f"❌ Every video backend is down right now, so \"{job.topic or 'your video'}\" couldn't be made. "
            f"{refund} An admin can check job `{job.id}`."
        )
    if code in (ErrorCode.INVALID_INPUT, ErrorCode.BAD_REQUEST):
        return f"✋ The video couldn't be made: {message or code}. {refund}"
    if code is ErrorCode.AGENT_RESTARTED:
        return f"🔁 The video service restarted and couldn't pick this video back up. {refund} Please ask again."
    if code is ErrorCode.QUARANTINED:  # it was interrupted too often: it is never rerun
        return (f"🧯 Making \"{job.topic or 'this video'}\" kept stopping the video service, so it was set aside "
                f"and won't be tried again. {refund} Please try a different topic or voice. (job `{job.id}`)")
    if code is ErrorCode.TIMEOUT:
        return f"⌛ The video took too long and was stopped. {refund} (job `{job.id}`)"
    detail = f": {message}" if message else ""
    return f"❌ Sorry, the video failed{detail}. {refund} (job `{job.id}`)"


def cancelled(job: Job, by: str = "") -> str:
    if job.error is not None and job.error.code is ErrorCode.REVIEW_EXPIRED:
        return f"⌛ Nobody pressed Render in time, so the video wasn't made. {_refund_note(job)}"
    who = f" by {by}" if by else ""
    return f"🛑 Cancelled{who}. {_refund_note(job)}"


def too_large(size_bytes: int, limit_bytes: int, link: str = "") -> str:
    text = (
        f"📦 The video came out at {size_bytes / 1_048_576:.1f} MB, over this chat's "
        f"{limit_bytes / 1_048_576:.0f} MB upload limit."
    )
    return text + (f" Download it here: {link}" if link else " Ask an admin to set up a download link.")


def expired(job: Job) -> str:
    return (f"🗑 The video was made, but it has already been deleted from the video service (videos are kept "
            f"for a limited time). Please ask again. (job `{job.id}`)")


def lost_track(job_id: str) -> str:
    return (
        f"⚠️ I lost contact with the video service while following job `{job_id}`. "
        "If it finishes it will be refunded or delivered when I reconnect; an admin can check the job id."
    )


def caption(job: Job, fallback_title: str, quota_left: int | None = None, limit: int = 1024) -> str:
    """Title, duration, provenance per stage, credits charged and left."""
    title = job.title or fallback_title
    head = f"🎬 {title}"
    if job.duration_s:
        head += f" · {clock_text(round(job.duration_s))}"  # rounded, as the platforms list it (45.6 s: 0:46)
    icons = {"script": "✍️", "image": "🎨", "clip": "🎥", "voice": "🗣", "render": "🎞"}
    made = " · ".join(f"{icons.get(stage, '•')} {who}" for stage, who in served_by(job).items() if stage != "render")
    left = job.credits_left if job.credits_left is not None else quota_left
    charged = job.credits.charged if job.status is JobStatus.DONE else 0
    money = f"💳 {charged} credit{'s' if charged != 1 else ''} charged"
    if left is not None:
        money += f" · {left} left"
    stills = f"🖼 {job.result.stills_note}" if job.result is not None and job.result.stills_note else ""
    text = "\n".join(line for line in (head, made, stills, money) if line)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def quota_text(quota: Quota, now: dt.datetime | None = None) -> str:
    lines = [f"💳 Credits left: {quota.balance}" + (f" of {quota.daily_credits} a day" if quota.daily_credits else "")]
    if quota.resets_at:
        lines.append(f"🔄 Refills {_when(quota.resets_at, None, now)}")
    offered = {name: p for name, p in quota.prices.items() if p.available}  # a route with no backend now
    if offered:  # would only be refused: it is not listed
        lines.append("Prices per video:")
        lines += [f"  • {name}: {'FREE' if p.price == 0 else f'{p.price} credits'}" for name, p in offered.items()]
    elif quota.prices:
        lines.append("No model can make videos right now; an admin can check /status.")
    return "\n".join(lines)


def service_problems(status: Status) -> list[str]:
    """The agent's own problems (its database or data disk full), one line each, for /status; none
    while its state is ok."""
    if status.state is ServiceState.OK:
        return []
    dot = "🔴" if status.state is ServiceState.DOWN else "🟡"
    return [f"{dot} agent: {problem}" for problem in status.problems] or [f"{dot} agent: {status.state}"]


def worker_lines(status: Status) -> list[str]:
    """The distributed mode's workers, one line each (none in the embedded default)."""
    dots = {WorkerState.UP.value: "🟢", WorkerState.DISK_FULL.value: "🟠", WorkerState.STOPPING.value: "🟡",
            WorkerState.STOPPED.value: "⚪", WorkerState.LOST.value: "🔴"}
    lines = []
    for w in status.workers:
        backends = ", ".join(f"{b.name} {b.state}" for b in w.backends) or "no backends"
        job = f"running {w.current_job}" if w.current_job else "idle"
        lines.append(f"{dots.get(w.state, '⚪')} worker {w.name}: {w.state}, {job}, heartbeat "
                     f"{w.seconds_since_heartbeat:.0f}s ago ({backends})")
    return lines


# the mode's badge; OFFLINE is not an alarm (the built-in tier works), so it has no red dot
MODE_DOTS = {"self-hosted": "🟢", "cloud": "🟡", "offline": "⚪"}
BUILT_IN = "built-in"  # the provider called "offline": named for what it is, not as a state
_PLAIN_ERRORS = (  # what a socket error means, in words (the raw text names resolver internals)
    (("name or service not known", "nodename nor servname", "name resolution", "getaddrinfo"), "host name not found"),
    (("connection refused",), "connection refused"),
    (("timed out", "timeout"), "timed out"),
    (("ssl", "certificate"), "TLS/certificate error"),
)


def plain_error(text: str) -> str:
    """A backend's error for people: "host name not found" rather than "Cannot connect to host comfyui:8188
    ssl:default [Name or service not known]"; anything else as it came, shortened."""
    low = text.lower()
    for needles, words in _PLAIN_ERRORS:
        if any(n in low for n in needles):
            return words
    return text if len(text) <= 120 else text[:119] + "…"


def backend_name(name: str) -> str:
    return BUILT_IN if name == "offline" else name


def status_header(status: Status) -> str:
    """The first line of /status: the mode, with a dot that agrees with what serves."""
    label = {"offline": "OFFLINE (only the built-in voice and pictures serve)"}.get(status.mode, status.mode.upper())
    built_in = [s.stage for s in status.stages if s.tier == "offline"] if status.mode != "offline" else []
    if built_in:
        label += f" ({', '.join(built_in)} on the built-in tier)"
    return f"{MODE_DOTS.get(status.mode, '⚪')} {label}"


def backend_detail(b: BackendStatus) -> str:
    """One backend's status line after its name: why it cannot serve, its cooldowns, or its version."""
    detail = plain_error(b.problem or b.last_error) if (b.problem or b.last_error) else ""
    if b.cooldowns:
        detail = f"cooling down ({', '.join(f'{k} {v:.0f}s' for k, v in b.cooldowns.items())}) {detail}".strip()
    if b.warnings and not detail:  # e.g. "gpt-4o-mini-tts shuts down 2027-01-06"
        detail = "⚠️ " + "; ".join(b.warnings)
    if b.version and not detail:
        detail = f"v{b.version}"
    return detail
