"""Discord as a studio (issue 14): the script review with buttons and a modal for Edit, the permission
rule, a restart in the middle of a review, and the transcript of one reviewed job."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import discord
import pytest

from bot.agent_client import AgentClient
from bot.discord_bot import ReelDiscordBot
from bot.flow import Flow
from bot.store import DeliveryStore
from tests.bot.fake_agent import FakeAgent
from tests.bot.fake_discord import (
    ADMIN,
    GUILD,
    MEMBER_PERMS,
    STRANGER,
    USER,
    FakeDiscord,
    Posted,
    fixture,
    interaction,
    modal_submit,
)
from tests.support.clock import FakeClock
from tests.support.waiting import wait_until

SCRIPT = ["A fox wakes in the snow.", "It hunts under the ice.", "It sleeps, warm, by noon."]


class Harness:
    def __init__(self, fake: FakeDiscord, agent: FakeAgent, bot: ReelDiscordBot, clock: FakeClock) -> None:
        self.fake, self.agent, self.bot, self.clock = fake, agent, bot, clock

    def send(self, raw: dict[str, Any]) -> dict[str, Any]:
        self.fake.expect(raw["id"], raw["token"], raw["channel_id"])
        self.bot._connection.parse_interaction_create(raw)  # as the gateway would
        return raw

    def original(self, raw: dict[str, Any]) -> Posted:
        posted = self.fake.interactions[raw["token"]].original
        assert posted is not None
        return posted

    def press(self, custom_id: str, user: str = USER, perms: str = MEMBER_PERMS) -> dict[str, Any]:
        raw = interaction("", user=user, perms=perms, type_=3, data={"custom_id": custom_id, "component_type": 2})
        raw["message"] = fixture("discord_message_response.json")
        return self.send(raw)

    def reply_to(self, raw: dict[str, Any]) -> str:
        pending = self.fake.interactions[raw["token"]]
        return pending.original.content if pending.original is not None else ""


@pytest.fixture
async def clock() -> FakeClock:
    return FakeClock()


async def _bot(flow: Flow, fake: FakeDiscord, clock: FakeClock, **kw: Any) -> ReelDiscordBot:
    bot = ReelDiscordBot(flow, guild_id=int(GUILD), admin_ids=(int(ADMIN),), clock=clock, **kw)
    await bot.login("fake-token")
    return bot


@pytest.fixture
async def discord_bot(flow: Flow, agent: FakeAgent, clock: FakeClock,
                      monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Harness]:
    fake = FakeDiscord(clock)
    await fake.start()
    monkeypatch.setattr(discord.http.Route, "BASE", f"{fake.url}/api/v10")
    flow.clock = clock  # the bot stamps acked_at with its clock: one clock for both, as in production
    bot = await _bot(flow, fake, clock)
    try:
        yield Harness(fake, agent, bot, clock)
    finally:
        await flow.aclose()
        await bot.close()
        await fake.stop()


def _labels(posted: Posted) -> list[str]:
    return [c.get("label", "") for row in posted.components for c in row.get("components", [])]


async def _in_review(h: Harness) -> tuple[str, dict[str, Any]]:
    raw = h.send(interaction("video", [{"type": 3, "name": "topic", "value": "a fox in winter"},
                                       {"type": 5, "name": "review", "value": True}]))
    job = await h.agent.wait_job()
    assert job.review
    await h.agent.emit(job.id, stage="script", provider="ollama", done=1, total=1, stage_done=True)
    await h.agent.review(job.id, SCRIPT, title="The Winter Fox")
    await wait_until(lambda: "the script is ready" in h.original(raw).content
                     and _labels(h.original(raw)) == ["Render", "Rewrite", "Edit", "Cancel"])
    return job.id, raw


async def test_review_edit_in_a_modal_then_render(discord_bot: Harness) -> None:
    h = discord_bot
    job_id, raw = await _in_review(h)
    original = h.original(raw)
    assert "📝 The Winter Fox" in original.content and "2. It hunts under the ice." in original.content
    edit = h.press(f"reelbot:review:edit:{job_id}")
    await wait_until(lambda: h.fake.interactions[edit["token"]].modal is not None)
    modal = h.fake.interactions[edit["token"]].modal
    assert modal is not None and modal["custom_id"] == f"reelbot:edit:{job_id}"
    text_input = modal["components"][0]["components"][0]
    assert text_input["custom_id"] == "narrations" and text_input["value"] == "\n".join(SCRIPT)  # prefilled

    short = h.send(modal_submit(f"reelbot:edit:{job_id}", {"narrations": "one line"}))
    await wait_until(lambda: "send 3 lines" in h.reply_to(short))
    saved = h.send(modal_submit(f"reelbot:edit:{job_id}", {"narrations": "A fox wakes.\nIt hunts.\nIt sleeps."}))
    await wait_until(lambda: "1. A fox wakes." in original.content)
    assert h.reply_to(saved) == "Saved your words." and h.original(saved).flags & 64
    assert h.agent.jobs[job_id].review_steps == ["edit"]

    h.press(f"reelbot:review:approve:{job_id}")
    await wait_until(lambda: h.agent.jobs[job_id].review_steps == ["edit", "approve"])
    await h.agent.run_default(job_id)
    await wait_until(lambda: bool(original.attachments))
    assert "Cancel" not in _labels(original) and "🎲 Again" in _labels(original)


async def test_a_stranger_cannot_render_rewrite_or_edit(discord_bot: Harness) -> None:
    h = discord_bot
    job_id, raw = await _in_review(h)
    presses = [h.press(f"reelbot:review:{step}:{job_id}", user=STRANGER) for step in ("approve", "rewrite", "edit")]
    for p in presses:
        await wait_until(lambda p=p: "Only the person who asked" in h.reply_to(p))
    forged = h.send(modal_submit(f"reelbot:edit:{job_id}", {"narrations": "x\ny\nz"}, user=STRANGER))
    await wait_until(lambda: "Only the person who asked" in h.reply_to(forged))
    assert h.agent.jobs[job_id].review_steps == [] and h.agent.jobs[job_id].status == "review"


async def test_a_restart_in_the_middle_of_a_review_keeps_its_buttons(discord_bot: Harness, client: AgentClient,
                                                                     tmp_path: Path) -> None:
    h = discord_bot
    job_id, raw = await _in_review(h)
    await h.bot.flow.aclose()
    await h.bot.close()
    store = DeliveryStore(tmp_path / "deliveries.json")
    await store.load()
    flow = Flow(client, store, tmp_path / "work", edit_interval_s=0.05, tick_s=30, clock=h.clock)
    second = await _bot(flow, h.fake, h.clock, sync_commands=False)
    h.bot = second
    try:
        await wait_until(lambda: flow.in_review(job_id) is not None)
        h.press(f"reelbot:review:approve:{job_id}")
        await wait_until(lambda: h.agent.jobs[job_id].review_steps == ["approve"])
        await h.agent.run_default(job_id)
        await wait_until(lambda: bool(h.original(raw).attachments))  # still the original response
        assert h.fake.channel_messages == {}
    finally:
        await flow.aclose()
        await second.close()


async def test_transcript_of_a_reviewed_job(discord_bot: Harness) -> None:
    h = discord_bot
    job_id, raw = await _in_review(h)
    render = h.press(f"reelbot:review:approve:{job_id}")
    await wait_until(lambda: h.agent.jobs[job_id].review_steps == ["approve"])
    await h.agent.run_default(job_id)
    original = h.original(raw)
    await wait_until(lambda: bool(original.attachments))
    frames = [f"{text}\n[buttons: {', '.join(labels) or 'none'}]" for text, labels in original.frames]
    transcript = [*frames, f"[ephemeral] {h.reply_to(render)}"]
    print("\n---\n".join(transcript))
    assert all(a != b for a, b in zip(transcript, transcript[1:], strict=False))
    heads = [t.splitlines()[0] for t, _ in original.frames]
    review_at = next(i for i, t in enumerate(heads) if "the script is ready" in t)
    later = [(t, labels) for t, labels in original.frames[review_at + 1:] if "the script is ready" in t]
    assert all(t.endswith("▶ rendering…") and labels == ["Cancel"] for t, labels in later)  # buttons gone
    assert not any("free worker" in t for t in transcript)
    assert original.content.startswith("🎬 All about a fox in winter · 0:27") and "💳 0 credits charged" in original.content
    assert h.reply_to(render) == "Rendering…"


async def _delivered(h: Harness) -> tuple[str, dict[str, Any]]:
    raw = h.send(interaction("video", [{"type": 3, "name": "topic", "value": "a fox in winter"},
                                       {"type": 3, "name": "model", "value": "sora"}]))
    job = await h.agent.wait_job()
    await h.agent.run_default(job.id)
    await wait_until(lambda: bool(h.original(raw).attachments))
    return job.id, raw


async def test_redo_scene_after_delivery_shows_the_price_then_starts_a_linked_job(discord_bot: Harness) -> None:
    h = discord_bot
    parent_id, raw = await _delivered(h)
    assert _labels(h.original(raw)) == ["🔁 Scene 1", "🔁 Scene 2", "🔁 Scene 3", "🗣 Other voice", "📐 16:9",
                                        "📐 1:1", "🎲 Again"]
    offer = h.press(f"reelbot:studio:d:r2:{parent_id}:{USER}")
    await wait_until(lambda: "17 credits" in h.reply_to(offer))
    shown = h.original(offer)
    assert shown.flags & 64 and _labels(shown) == ["Start · 17 credits", "No"] and len(h.agent.jobs) == 1
    start = h.press(f"reelbot:studio:go:r2:{parent_id}:{USER}")
    child = await h.agent.wait_job(2)
    assert child.parent_job_id == parent_id and child.price == 17
    progress = h.original(start)
    await wait_until(lambda: _labels(progress) == ["Cancel"])
    await h.agent.run_default(child.id)
    await wait_until(lambda: bool(progress.attachments))
    frames = [f"{text}\n[buttons: {', '.join(labels) or 'none'}]" for text, labels in progress.frames]
    transcript = [f"[ephemeral] {shown.content}", *frames]
    print("\n---\n".join(transcript))
    assert all(a != b for a, b in zip(transcript, transcript[1:], strict=False))
    assert "💳 17 credits charged · 33 left" in progress.content and not progress.flags & 64


async def test_a_stranger_cannot_use_the_video_buttons(discord_bot: Harness) -> None:
    h = discord_bot
    parent_id, _raw = await _delivered(h)
    presses = [h.press(f"reelbot:studio:{kind}:r1:{parent_id}:{USER}", user=STRANGER) for kind in ("d", "go")]
    for p in presses:
        await wait_until(lambda p=p: "Only the person who asked" in h.reply_to(p))
    assert len(h.agent.jobs) == 1
    admin = h.press(f"reelbot:studio:d:square:{parent_id}:{USER}", user=ADMIN)
    await wait_until(lambda: "free" in h.reply_to(admin))


async def test_the_buttons_say_when_the_files_have_expired(discord_bot: Harness) -> None:
    h = discord_bot
    parent_id, _raw = await _delivered(h)
    h.agent.jobs[parent_id].video_expired = True
    press = h.press(f"reelbot:studio:d:r1:{parent_id}:{USER}")
    await wait_until(lambda: "have been deleted" in h.reply_to(press))
    assert "Again" in h.reply_to(press) and h.original(press).flags & 64


async def test_other_voice_offers_the_voices_then_starts_with_the_one_picked(discord_bot: Harness) -> None:
    h = discord_bot
    parent_id, _raw = await _delivered(h)
    offer = h.press(f"reelbot:studio:d:v:{parent_id}:{USER}")
    await wait_until(lambda: "Pick a voice" in h.reply_to(offer))
    assert _labels(h.original(offer)) == ["🗣 en-gb", "🗣 en-us+f3", "No"]
    start = h.press(f"reelbot:studio:go:v=en-gb:{parent_id}:{USER}")
    child = await h.agent.wait_job(2)
    assert child.parent_job_id == parent_id and child.changes[0].voice == "en-gb" and child.price == 25
    await h.agent.run_default(child.id)
    await wait_until(lambda: bool(h.original(start).attachments))


async def test_video_buttons_work_after_a_restart(discord_bot: Harness, client: AgentClient, tmp_path: Path) -> None:
    """The buttons under a delivered video carry the job and the requester: a bot started afresh (no
    memory of the delivery) still offers Redo scene 2 at its price and starts the linked job."""
    h = discord_bot
    parent_id, _raw = await _delivered(h)
    await h.bot.flow.aclose()
    await h.bot.close()
    store = DeliveryStore(tmp_path / "after-restart.json")
    await store.load()
    flow = Flow(client, store, tmp_path / "work2", edit_interval_s=0.05, tick_s=30, clock=h.clock)
    second = await _bot(flow, h.fake, h.clock, sync_commands=False)
    h.bot = second
    try:
        offer = h.press(f"reelbot:studio:d:r2:{parent_id}:{USER}")
        await wait_until(lambda: "17 credits" in h.reply_to(offer))
        start = h.press(f"reelbot:studio:go:r2:{parent_id}:{USER}")
        child = await h.agent.wait_job(2)
        assert child.parent_job_id == parent_id and child.price == 17
        await h.agent.run_default(child.id)
        await wait_until(lambda: bool(h.original(start).attachments))
        assert "💳 17 credits charged" in h.original(start).content
    finally:
        await flow.aclose()
        await second.close()
