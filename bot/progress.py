"""The progress text of one job, built from its events; the same for every platform.

    🎬 "cats in space" — ✍️ script ✔ (ollama) · 🎨 images 3/7 ▰▰▰▱▱▱▱ (comfyui) · 🗣 voice · 🎞 render
    ⏱ 1:07

While queued the second line gives the place in line. Rendering is pure: the caller passes `now`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.wire import Event, JobStatus, ScriptView

__all__ = ["ProgressState", "STAGES", "bar", "clock_text"]

# stage -> (icon, label); "clip" replaces "image" in video mode
STAGES: dict[str, tuple[str, str]] = {
    "script": ("✍️", "script"),
    "image": ("🎨", "images"),
    "clip": ("🎥", "clips"),
    "voice": ("🗣", "voice"),
    "render": ("🎞", "render"),
}
_ORDER = ("script", "image", "clip", "voice", "render")  # the stages a job may have
BAR_CELLS = 10
REVIEW_CHARS = 1500  # the narrations' share of a review message (Discord: 2000 characters a message)
RESTART_DROP = 0.05  # progress going back more than this means the job was picked up again
RESTARTED_NOTE = "🔁 The video service restarted; it picked the video up again from its last saved step."
MAX_TOPIC_CHARS = 80


def bar(done: int, total: int) -> str:
    """▰▰▰▱▱▱▱: one cell per item up to 10 items, else ten proportional cells."""
    if total <= 0:
        return ""
    cells = total if total <= BAR_CELLS else BAR_CELLS
    filled = round(cells * min(done, total) / total)
    return "▰" * filled + "▱" * (cells - filled)


def clock_text(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


@dataclass
class _Stage:
    done: int | None = None
    total: int | None = None
    provider: str = ""
    finished: bool = False
    started: bool = False


@dataclass
class ProgressState:
    topic: str
    started_at: float  # clock() when the user asked
    status: JobStatus = JobStatus.QUEUED
    position: int | None = None
    mode_clip: bool = False
    stages: dict[str, _Stage] = field(default_factory=lambda: {name: _Stage() for name in _ORDER})
    note: str = ""  # a short line under the progress ("cancelling…")
    started_order: list[str] = field(default_factory=list)  # stages in the order the agent started them
    best: float = 0.0  # the furthest the whole job got, to notice (and say) when it went back
    restarted: bool = False
    script: ScriptView | None = None  # while the job waits for its script to be reviewed

    def apply(self, event: Event) -> None:
        self.status = event.status
        if event.status is JobStatus.REVIEW:
            self.script = event.script or self.script
            self.stages["script"].started = self.stages["script"].finished = True
            return
        if event.status is JobStatus.RUNNING:
            if event.progress + RESTART_DROP < self.best:  # the service restarted and redoes unsaved work
                self.restarted = True
                for stage in self.stages.values():  # what it shows now is what it is doing now
                    stage.finished = stage.started = False
                    stage.done = stage.total = None
            self.best = max(self.best, event.progress)
        if event.position is not None or event.status is not JobStatus.QUEUED:
            self.position = event.position
        name = event.stage.value
        if name not in self.stages:
            return
        if name == "clip":
            self.mode_clip = True
        stage = self.stages[name]
        if not stage.started:
            # a stage starting means the ones that started before it are finished (the agent runs
            # them in turn; the render beside the images tells nothing until the last image is in)
            for earlier in self.started_order:
                self.stages[earlier].finished = True
            self.started_order.append(name)
        stage.started = True
        if event.provider:
            stage.provider = event.provider
        if event.total:
            stage.total = event.total
            stage.done = event.done if event.done is not None else stage.done
        if event.stage_done:
            stage.finished = True

    def _stage_text(self, name: str) -> str:
        icon, label = STAGES[name]
        stage = self.stages[name]
        parts = [f"{icon} {label}"]
        if stage.finished:
            parts.append("✔")
        elif stage.started and stage.total:
            done = stage.done or 0
            if name == "render" and stage.total == 100:
                parts.append(f"{done}% {bar(done, 100)}")
            else:
                parts.append(f"{done}/{stage.total} {bar(done, stage.total)}")
        elif stage.started:
            parts.append("…")
        if stage.provider:
            parts.append(f"({stage.provider})")
        return " ".join(parts)

    def _shown_order(self) -> list[str]:
        """The stages in the order they ran, then those still to come in the usual order (the agent
        may voice the script before drawing it: agent.engine.pipeline)."""
        usual = ["script", "clip" if self.mode_clip else "image", "voice", "render"]
        started = [n for n in self.started_order if n in usual]
        return started + [n for n in usual if n not in started]

    def headline(self) -> str:
        topic = self.topic if len(self.topic) <= MAX_TOPIC_CHARS else self.topic[: MAX_TOPIC_CHARS - 1] + "…"
        return f'🎬 "{topic}"'

    def review_text(self) -> str:
        """The script waiting for review: title, one numbered line per scene, what the buttons do."""
        script = self.script
        lines = [f"{self.headline()} — ✍️ the script is ready; nothing is made or charged until you press Render"]
        if script is not None:
            lines.append(f"📝 {script.title}")
            budget = max(60, REVIEW_CHARS // max(1, len(script.narrations)))  # a message holds 4096 characters
            lines += [f"{i}. {text if len(text) <= budget else text[: budget - 1] + '…'}"
                      for i, text in enumerate(script.narrations, 1)]
            if script.expires_at:
                lines.append(f"⌛ Unanswered, it is dropped at {script.expires_at[11:16]} UTC.")
        lines.append("▶ Render makes the video · 🔁 Rewrite writes a new script · ✏️ Edit changes the words")
        return "\n".join(lines)

    def render(self, now: float) -> str:
        if self.status is JobStatus.REVIEW:
            return self.review_text() + (f"\n{self.note}" if self.note else "")
        elapsed = clock_text(now - self.started_at)
        if self.status is JobStatus.QUEUED:
            if not self.position:  # nothing ahead of it: a worker takes it now
                lines = [f"{self.headline()} — ⏳ starting…", f"⏱ {elapsed}"]
            else:
                where = "next in line" if self.position == 1 else f"position {self.position}"
                lines = [f"{self.headline()} — ⏳ in the queue, {where}", f"⏱ {elapsed}"]
        else:
            names = self._shown_order()
            lines = [f"{self.headline()} — " + " · ".join(self._stage_text(n) for n in names), f"⏱ {elapsed}"]
        if self.restarted and self.status is not JobStatus.QUEUED:
            lines.append(RESTARTED_NOTE)
        if self.note:
            lines.append(self.note)
        return "\n".join(lines)
