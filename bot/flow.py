"""The chat flow, platform-neutral: parse, submit, follow events, throttle edits, fetch and upload.

A platform adapter (Telegram, Discord) gives the flow a `Surface` bound to one progress message and
calls `Flow.start()`; everything after that is here. Tasks are kept by job id so a shutdown can stop
them, and the `DeliveryStore` keeps enough to `resume()` after a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shlex
import time
import unicodedata
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import msgspec

from agent.choices import Aspect, InvalidChoice, Length, Mode, parse_choice  # stdlib only, like agent.protocol
from bot import studio, wording
from bot.agent_client import AgentClient, AgentError, AgentUnreachable, JobNotFound, VideoExpired, VideoTooLarge
from bot.media import ASPECT_SIZES, VideoMeta, probe_video
from bot.progress import ProgressState, clock_text
from bot.store import Delivery, DeliveryStore
from bot.throttle import EDIT_INTERVAL_S, EditThrottle
from bot.wire import ErrorCode, Event, Job, JobStatus, Stage, job_from_event

__all__ = [
    "VideoRequest",
    "ParseError",
    "parse_video_text",
    "request_id_for",
    "Surface",
    "UploadTooLarge",
    "NotAllowed",
    "Flow",
    "MAX_TOPIC_CHARS",
]

log = logging.getLogger(__name__)

MAX_TOPIC_CHARS = 300  # agent.engine.validation.MAX_TOPIC_CHARS
MAX_NAME_CHARS = 128  # agent.service.api: user.name, 0-128 characters, no control or format characters
ACTIVITY_EVERY_S = 4.0  # Telegram's chat action lasts 5 s
TICK_S = 10.0  # refresh the elapsed time when no event came for this long
_FLAG_ALIASES = {"a": "aspect", "m": "model", "v": "voice", "l": "length", "ratio": "aspect", "lang": "language"}
_CHOICES: dict[str, type[Aspect | Length | Mode]] = {"aspect": Aspect, "length": Length, "mode": Mode}
# --16:9 and --wide, --long, --video: every value, and every member's name, is a flag of its own
_SHORTCUTS = {flag: (key, member.value) for key, kind in _CHOICES.items() for member in kind
              for flag in (member.value, member.name.lower())}


class ParseError(ValueError):
    """The command text can't be understood; the message is shown to the user as is."""


class UploadTooLarge(Exception):
    """The platform refused the upload for its size (413 / 40005)."""


class NotAllowed(Exception):
    """Someone other than the requester or an admin pressed Cancel."""


@dataclass(frozen=True)
class VideoRequest:
    topic: str
    options: Mapping[str, str] = field(default_factory=dict)  # model, aspect, voice, length, mode
    review: bool | None = None  # --review / --no-review; None: the chat's default


def _check_option(key: str, value: str) -> None:
    kind = _CHOICES.get(key)
    if kind is not None:
        try:
            parse_choice(kind, value, f"--{key}")
        except InvalidChoice as exc:
            raise ParseError(str(exc)) from None


def make_request(topic: str, options: Mapping[str, str | None], review: bool | None = None) -> VideoRequest:
    topic = " ".join(topic.split())
    if not topic:
        raise ParseError("Tell me what the video is about, e.g. /video cats in space --wide")
    if len(topic) > MAX_TOPIC_CHARS:
        raise ParseError(f"The topic is {len(topic)} characters; keep it under {MAX_TOPIC_CHARS}.")
    clean = {k: v.strip() for k, v in options.items() if v and v.strip()}
    for key, value in clean.items():
        _check_option(key, value)
    return VideoRequest(topic, clean, review)


def parse_video_text(text: str) -> VideoRequest:
    """`cats in space --aspect 16:9 --length long`, `--aspect=1:1`, or shortcuts `--wide`, `--long`."""
    try:
        words = shlex.split(text)
    except ValueError:  # an unmatched quote: keep the words, drop the stray quote marks around them
        words = [w for w in (word.strip('"“”') for word in text.split()) if w]
    topic: list[str] = []
    options: dict[str, str | None] = {}
    review: bool | None = None
    i = 0
    while i < len(words):
        word = words[i]
        if word.startswith("--") or (word.startswith("-") and len(word) == 2 and word[1].isalpha()):
            name, eq, value = word.lstrip("-").partition("=")
            name = _FLAG_ALIASES.get(name.lower(), name.lower())
            if not eq and name in ("review", "no-review"):
                review = name == "review"
            elif not eq and name in _SHORTCUTS:
                key, val = _SHORTCUTS[name]
                options[key] = val
            elif name in ("aspect", "model", "voice", "length", "mode", "language"):
                if not eq:
                    if i + 1 >= len(words):
                        raise ParseError(f"--{name} needs a value, e.g. --{name} {_example(name)}")
                    i += 1
                    value = words[i]
                options[name] = value
            else:
                raise ParseError(f"Unknown option {word}. Options: --aspect, --length, --model, --voice, --video, "
                                 "--language, --review (see /help).")
        else:
            topic.append(word)
        i += 1
    return make_request(" ".join(topic), options, review)


def parse_narrations(text: str, scenes: int) -> list[str]:
    """A reply with the new script: one line per scene, "1." / "2)" numbering optional. Raises ParseError
    saying what to send when the count is wrong (the agent checks the text itself)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    lines = [line.lstrip("0123456789").removeprefix(".").removeprefix(")").strip()
             if line[:1].isdigit() else line for line in lines]
    if len(lines) != scenes:
        raise ParseError(f"The script has {scenes} scenes: send {scenes} lines, one narration per scene "
                         f"(you sent {len(lines)}).")
    return lines


def _example(name: str) -> str:
    return {"aspect": "16:9", "length": "long", "mode": "video", "model": "self-hosted", "voice": "en-us",
            "language": "ja"}[name]


def upload_name(topic: str, max_chars: int = 60) -> str:
    """A file name for the upload from the topic: the letters of every script kept, only what a
    file system or platform refuses dropped (slashes, control and invisible format characters,
    leading dots), never empty: "AC/DC back in black" -> "AC-DC back in black.mp4"."""
    kept = "".join("-" if ch in "/\\" else ch for ch in topic
                   if unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Zl", "Zp") or ch == "\u200d")
    text = " ".join(kept.split())
    cut = min(len(text), max_chars)
    # never cut inside a cluster: before an accent, a joiner, a variation selector, or after a joiner
    while 0 < cut < len(text) and (unicodedata.category(text[cut]) in ("Mn", "Mc", "Me", "Sk")
                                   or "\ufe00" <= text[cut] <= "\ufe0f" or "\u200d" in text[cut - 1:cut + 1]):
        cut -= 1
    name = text[:cut].strip(" .-")
    return f"{name or 'video'}.mp4"


def agent_user_name(name: str) -> str:
    """A display name the agent accepts: it refuses control and format characters (Cc, Cf: the
    zero-width joiner inside emoji, direction marks) and more than 128 characters, and a Telegram
    full name can have 129. The name is informational only, so it is cleaned rather than refused."""
    clean = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf"))
    return " ".join(clean.split())[:MAX_NAME_CHARS].strip()


def request_id_for(platform: str, event_id: int | str) -> str:
    """One id per user action: the platform's interaction/update id, so a retry is the same job."""
    return f"{platform}:{event_id}"


class Surface(Protocol):
    """One progress message on one platform."""

    platform: str
    max_upload_bytes: int
    video_replaces_progress: bool  # Discord: the progress message itself becomes the video message

    async def edit(self, text: str, *, cancellable: bool, review: bool = False) -> None:
        """Show `text` with Cancel (cancellable) or the review buttons (review: Render, Rewrite, Edit, Cancel);
        raise throttle.RetryLater on 429, throttle.MessageGone when it can't be edited."""

    async def send_video(self, path: Path, caption: str, meta: VideoMeta,
                         actions: Sequence[Sequence[tuple[str, str]]] = ()) -> None:
        """Upload, with `actions` (rows of label, code: bot.studio) as buttons under the video; raise
        UploadTooLarge if the platform refuses the size."""

    async def activity(self) -> None:
        """Show "uploading video…" (Telegram chat action); no-op where the platform has none."""

    def min_edit_interval_s(self) -> float:
        """The platform's own spacing for this message's edits (a Telegram group's budget); 0 for none."""


class Flow:
    def __init__(
        self,
        client: AgentClient,
        store: DeliveryStore,
        work_dir: Path,
        *,
        public_url: str = "",
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        edit_interval_s: float = EDIT_INTERVAL_S,
        tick_s: float = TICK_S,
        activity_every_s: float = ACTIVITY_EVERY_S,
    ) -> None:
        self.client = client
        self.store = store
        self.work_dir = work_dir
        self.public_url = public_url.rstrip("/")
        self.clock = clock
        self._sleep = sleep
        self._edit_interval = edit_interval_s
        self._tick_s = tick_s
        self._activity_every_s = activity_every_s
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._states: dict[str, ProgressState] = {}
        self._throttles: dict[str, EditThrottle] = {}
        self.closing = False  # shutting down: the adapters refuse new commands

    # ------------------------------------------------------------------ submit

    async def submit(
        self, *, platform: str, user_id: int, user_name: str, request_id: str, request: VideoRequest, max_bytes: int,
        locale: str | None = None,
        review_default: bool = False,
    ) -> Job:
        """Ask the agent for the video. Raises AgentError subclasses; wording.submit_failed words them.
        `locale` is the chat client's: the agent's guess at the language when the topic does not say."""
        user = {"platform": platform, "id": str(user_id), "name": agent_user_name(user_name)}
        options: dict[str, object] = dict(request.options, max_bytes=max_bytes)
        if locale and len(locale) <= 35:
            options["locale"] = locale
        review = review_default if request.review is None else request.review
        job = await self.client.submit(request_id, user, request.topic, options, review=review)
        log.info("job %s submitted for %s:%s (%s)", job.id, platform, user_id, request_id)
        return job

    def initial_text(self, topic: str, job: Job | None = None) -> str:
        state = ProgressState(topic, started_at=self.clock())
        if job is not None:
            state.position = job.position
        return state.render(self.clock())

    async def start(self, delivery: Delivery, surface: Surface) -> asyncio.Task[None]:
        """Persist the delivery, then follow it in a task kept by job id."""
        await self.store.put(delivery)
        return self._spawn(delivery, surface)

    def _spawn(self, delivery: Delivery, surface: Surface) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(self.follow(delivery, surface), name=f"job {delivery.job_id}")
        self._tasks[delivery.job_id] = task
        job_id = delivery.job_id
        task.add_done_callback(lambda _task: self._tasks.pop(job_id, None))
        return task

    def resume(self, deliveries: list[Delivery], surface_for: Callable[[Delivery], Surface]) -> None:
        for delivery in deliveries:
            if delivery.job_id not in self._tasks:
                log.info("job %s: resuming after restart from event %s", delivery.job_id, delivery.last_event_id)
                self._spawn(delivery, surface_for(delivery))

    async def aclose(self, *, note: str = "", note_timeout_s: float = 3.0) -> None:
        """Stop following (the deliveries stay in the store: the next start resumes them). With
        `note`, stop taking commands first and show the note under every live progress message."""
        if note:
            self.closing = True
            for job_id, throttle in list(self._throttles.items()):
                state = self._states.get(job_id)
                if state is not None:
                    state.note = note
                    throttle.push(state.render(self.clock()))
            pending = [throttle.flush() for throttle in self._throttles.values()]
            if pending:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.gather(*pending), note_timeout_s)
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.store.flush()

    def task(self, job_id: str) -> asyncio.Task[None] | None:
        return self._tasks.get(job_id)

    # ------------------------------------------------------------------ cancel

    async def cancel(self, job_id: str, actor_id: int, actor_name: str, is_admin: bool) -> str:
        """Cancel for the requester or an admin; returns a short acknowledgement. Raises NotAllowed."""
        delivery = self.store.get(job_id)
        if delivery is None:
            return "That video is already finished."
        if actor_id != delivery.requester_id and not is_admin:
            raise NotAllowed("Only the person who asked for this video, or an admin, can cancel it.")
        await self.store.update(job_id, extra={**delivery.extra, "cancelled_by": actor_name})
        state = self._states.get(job_id)
        if state is not None:
            state.note = "🛑 cancelling…"
            self._throttles[job_id].push(state.render(self.clock()))
        try:
            await self.client.cancel(job_id)
        except JobNotFound:
            return "That video is already finished."
        except AgentError as exc:
            if exc.code is ErrorCode.ALREADY_FINISHED:  # 409: it finished before the press landed
                return "That video is already finished."
            raise
        log.info("job %s: cancelled by %s (%s)", job_id, actor_id, "admin" if is_admin else "requester")
        return "Cancelling…"

    # ------------------------------------------------------------------ review

    def allowed(self, job_id: str, actor_id: int, is_admin: bool) -> Delivery | None:
        """The delivery, for its requester or an admin; None when it is over. Raises NotAllowed."""
        delivery = self.store.get(job_id)
        if delivery is not None and actor_id != delivery.requester_id and not is_admin:
            raise NotAllowed("Only the person who asked for this video, or an admin, can do that.")
        return delivery

    def in_review(self, job_id: str) -> ProgressState | None:
        state = self._states.get(job_id)
        return state if state is not None and state.status is JobStatus.REVIEW else None

    async def review(self, job_id: str, step: str, actor_id: int, is_admin: bool,
                     narrations: list[str] | None = None) -> str:
        """Render ("approve"), Rewrite or Edit a script in review; returns a short acknowledgement.
        Raises NotAllowed, AgentError."""
        if self.allowed(job_id, actor_id, is_admin) is None:
            return "That video is already finished."
        state = self.in_review(job_id)
        if state is not None:
            state.note = {"approve": "▶ rendering…", "rewrite": "🔁 writing a new script…",
                          "edit": "✏️ saving your words…"}[step]
            self._throttles[job_id].push(state.render(self.clock()))
        try:
            await self.client.review(job_id, step, narrations)
        except AgentError as exc:
            if state is not None:
                state.note = ""
                self._throttles[job_id].push(state.render(self.clock()))
            if exc.code is ErrorCode.NOT_IN_REVIEW:
                return "That script is no longer waiting for review."
            raise
        finally:
            if state is not None:
                state.note = ""
        log.info("job %s: review %s by %s", job_id, step, actor_id)
        return {"approve": "Rendering…", "rewrite": "Writing a new script…", "edit": "Saved your words."}[step]

    def review_by_message(self, platform: str, chat_id: int, message_id: int) -> Delivery | None:
        """The delivery whose progress message is this one, while its script waits for review."""
        for d in self.store.all(platform):
            if d.chat_id == chat_id and d.message_id == message_id and self.in_review(d.job_id) is not None:
                return d
        return None

    # ------------------------------------------------------------------ follow and deliver

    async def follow(self, delivery: Delivery, surface: Surface) -> None:
        job_id = delivery.job_id
        state = ProgressState(delivery.topic, started_at=delivery.started_at, best=delivery.progress)
        final = False

        async def send(text: str) -> None:
            # the review buttons go as soon as one of them is pressed (its note shows): no second press
            await surface.edit(text, cancellable=not final,
                               review=not final and state.status is JobStatus.REVIEW and not state.note)

        def interval() -> float:
            return max(self._edit_interval, surface.min_edit_interval_s())

        throttle = EditThrottle(send, interval_s=interval, name=f"job {job_id}")
        self._states[job_id], self._throttles[job_id] = state, throttle
        ticker = asyncio.get_running_loop().create_task(self._tick(state, throttle))
        activity: asyncio.Task[None] | None = None
        try:
            if delivery.last_event_id is not None:  # resumed: catch up from the job's state
                with contextlib.suppress(AgentError):
                    now_job = await self.client.job(job_id)
                    state.apply(Event(seq=0, job_id=job_id, status=now_job.status, stage=now_job.stage,
                                      progress=now_job.progress, message="", provider="", at="",
                                      position=now_job.position, script=now_job.script))
            throttle.push(state.render(self.clock()))  # the Cancel button shows at once
            last: Event | None = None
            try:
                # aclosing: a cancelled follow (shutdown) closes the stream at once, not when the generator
                # is collected (its connection stays open until then)
                async with contextlib.aclosing(self.client.events(job_id, delivery.last_event_id)) as events:
                    async for event in events:
                        last = event
                        state.apply(event)
                        if event.stage is Stage.RENDER and activity is None:
                            activity = asyncio.get_running_loop().create_task(self._activity(surface))
                        if not event.terminal:
                            throttle.push(state.render(self.clock()))
                        await self.store.update(job_id, last_event_id=event.seq, progress=state.best)
            except AgentUnreachable:
                final = True
                throttle.push(wording.lost_track(job_id))
                await throttle.flush()
                return  # stays in the store: the next start resumes it
            except JobNotFound:
                final = True
                throttle.push(f"⚠️ The video service no longer knows job `{job_id}`; it may have expired.")
                await throttle.flush()
                await self.store.remove(job_id)
                return
            ticker.cancel()
            try:
                job = await self.client.job(job_id)
            except AgentError:  # the terminal event carries the result (or error) and the credits left
                assert last is not None  # events() ends only after the terminal event
                job = job_from_event(last, topic=delivery.topic)
            job = _with_topic(job, delivery.topic)
            final = True
            if job.status is JobStatus.DONE:
                if activity is None:
                    activity = asyncio.get_running_loop().create_task(self._activity(surface))
                took = clock_text(self.clock() - state.started_at)  # said once: the upload is not the making
                throttle.push(f"{state.headline()} — ✅ done in {took}, uploading…")
                await throttle.flush()
                text = await self._deliver(job, delivery, surface, took)
                if text:
                    throttle.push(text)
            elif job.status is JobStatus.CANCELLED:
                by = str(delivery.extra.get("cancelled_by", ""))
                throttle.push(f"{state.headline()}\n" + wording.cancelled(job, by))
            else:
                throttle.push(f"{state.headline()}\n" + wording.job_failed(job))
            await throttle.flush()
            await self.store.remove(job_id)
            log.info("job %s: %s, delivery finished", job_id, job.status)
        finally:
            ticker.cancel()
            if activity is not None:
                activity.cancel()
            # wait for them to stop: a chat action cancelled mid-request must not outlive the follow
            await asyncio.gather(ticker, *([activity] if activity is not None else []), return_exceptions=True)
            await throttle.aclose()
            self._states.pop(job_id, None)
            self._throttles.pop(job_id, None)

    async def _deliver(self, job: Job, delivery: Delivery, surface: Surface, elapsed: str) -> str:
        """Fetch and upload; returns the progress message's final text ("" when the video replaced it)."""
        headline = ProgressState(delivery.topic, 0).headline()
        await asyncio.to_thread(self.work_dir.mkdir, parents=True, exist_ok=True)
        dest = self.work_dir / f"{_safe(job.id)}.mp4"
        limit = surface.max_upload_bytes
        try:
            try:
                await self.client.download(job.id, dest, max_bytes=limit)
            except VideoTooLarge as exc:
                log.info("job %s: video %d bytes over the %d limit", job.id, exc.size_bytes, limit)
                return f"{headline}\n" + wording.too_large(exc.size_bytes, limit, self._link(job))
            except VideoExpired:
                return f"{headline}\n" + wording.expired(job)
            except AgentError as exc:
                log.warning("job %s: could not fetch the video: %s", job.id, exc)
                return f"{headline}\n⚠️ The video was made but I couldn't fetch it ({exc.code}). Job `{job.id}`."
            fallback = ASPECT_SIZES.get(str(delivery.extra.get("aspect", "")), (None, None))
            meta = await probe_video(dest, (job.width or fallback[0], job.height or fallback[1], job.duration_s))
            if job.duration_s is None and meta.duration_s is not None:
                job = _replace(job, duration_s=meta.duration_s)
            try:
                await surface.send_video(dest, wording.caption(job, delivery.topic), meta, studio.video_actions(job))
            except UploadTooLarge:
                return f"{headline}\n" + wording.too_large(meta.size_bytes, limit, self._link(job))
            return "" if surface.video_replaces_progress else f"{headline} — ✅ done in {elapsed}. Here it is ⬇️"
        finally:
            await asyncio.to_thread(_remove, dest, dest.with_suffix(".thumb.jpg"))

    def _link(self, job: Job) -> str:
        if (job.download_url or "").startswith("http"):
            return job.download_url or ""
        return f"{self.public_url}/v1/jobs/{job.id}/video" if self.public_url else ""

    async def _tick(self, state: ProgressState, throttle: EditThrottle) -> None:
        while True:
            await self._sleep(self._tick_s)
            throttle.push(state.render(self.clock()))

    async def _activity(self, surface: Surface) -> None:
        while True:
            with contextlib.suppress(Exception):
                await surface.activity()
            await self._sleep(self._activity_every_s)


def _remove(*paths: Path) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def _safe(job_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in job_id)[:80]


def _replace(job: Job, **changes: object) -> Job:
    return msgspec.structs.replace(job, **changes)


def _with_topic(job: Job, topic: str) -> Job:
    return job if job.topic else _replace(job, topic=topic)

