"""Telegram as a studio (issue 14): the script review with inline keyboards and a reply for Edit, the
permission rule, a restart in the middle of a review, and the transcript of one reviewed job."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from telegram import Update

from bot.agent_client import AgentClient
from bot.flow import Flow
from bot.store import DeliveryStore
from bot.telegram_bot import TelegramFrontEnd
from tests.bot.fake_agent import FakeAgent
from tests.bot.fake_telegram import ADMIN, ALICE, MALLORY, FakeTelegram, Shown, command, press, reply
from tests.support.waiting import wait_until

SCRIPT = ["A fox wakes in the snow.", "It hunts under the ice.", "It sleeps, warm, by noon."]


class Harness:
    def __init__(self, tg: FakeTelegram, agent: FakeAgent, front: TelegramFrontEnd) -> None:
        self.tg, self.agent, self.front = tg, agent, front

    async def send(self, raw: dict[str, Any]) -> None:
        await self.front.app.update_queue.put(Update.de_json(raw, self.front.app.bot))

    def buttons(self, shown: Shown) -> list[str]:
        rows = (shown.reply_markup or {}).get("inline_keyboard", [])
        return [b["callback_data"] for row in rows for b in row]


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram()
    await fake.start()
    yield fake
    await fake.stop()


async def _start(flow: Flow, tg: FakeTelegram, **kw: Any) -> TelegramFrontEnd:
    front = TelegramFrontEnd(flow, "123:ABC", base_url=tg.url, admin_ids=(ADMIN,), group_edits_per_minute=1200, **kw)
    await front.app.initialize()
    await front.startup()
    await front.app.start()
    return front


async def _stop(front: TelegramFrontEnd) -> None:
    await front.flow.aclose()
    await front.app.stop()
    await front.app.shutdown()


@pytest.fixture
async def bot(tg: FakeTelegram, agent: FakeAgent, flow: Flow) -> AsyncIterator[Harness]:
    front = await _start(flow, tg)
    yield Harness(tg, agent, front)
    await _stop(front)


async def _in_review(h: Harness, text: str = "/video a fox in winter --review") -> tuple[str, Shown]:
    await h.send(command(text, message_id=42))
    job = await h.agent.wait_job()
    assert job.review
    await h.agent.emit(job.id, stage="script", provider="ollama", done=1, total=1, stage_done=True)
    await h.agent.review(job.id, SCRIPT, title="The Winter Fox")
    progress = h.tg.in_chat(ALICE)[0]
    await wait_until(lambda: "the script is ready" in progress.text and len(h.buttons(progress)) == 4)
    return job.id, progress


async def test_review_edit_by_reply_then_render(bot: Harness) -> None:
    job_id, progress = await _in_review(bot)
    assert bot.buttons(progress) == [f"review:approve:{job_id}", f"review:rewrite:{job_id}",
                                     f"review:edit:{job_id}", f"cancel:{job_id}"]
    assert "📝 The Winter Fox" in progress.text and "2. It hunts under the ice." in progress.text

    await bot.send(press(f"review:edit:{job_id}", user=ALICE, message_id=progress.message_id))
    await wait_until(lambda: len(bot.tg.answers) == 1)
    assert "Reply to the script message" in bot.tg.answers[0]["text"] and "3 lines" in bot.tg.answers[0]["text"]

    await bot.send(reply("1. A fox wakes.\n2. It hunts.", progress))  # one line short
    await wait_until(lambda: len(bot.tg.in_chat(ALICE)) == 2)
    assert "send 3 lines" in bot.tg.in_chat(ALICE)[1].text and bot.agent.jobs[job_id].review_steps == []
    await bot.send(reply("1. A fox wakes.\n2. It hunts.\n3. It sleeps.", progress))
    await wait_until(lambda: "1. A fox wakes." in progress.text)
    assert bot.agent.jobs[job_id].review_steps == ["edit"]

    await bot.send(press(f"review:approve:{job_id}", user=ALICE, message_id=progress.message_id))
    await wait_until(lambda: bot.agent.jobs[job_id].review_steps == ["edit", "approve"])
    await bot.agent.run_default(job_id)
    await wait_until(lambda: bool(bot.tg.videos(ALICE)) and "Here it is" in progress.text)
    assert progress.reply_markup is None


async def test_a_stranger_cannot_render_rewrite_or_edit(bot: Harness) -> None:
    job_id, progress = await _in_review(bot)
    for step in ("approve", "rewrite", "edit"):
        await bot.send(press(f"review:{step}:{job_id}", user=MALLORY, message_id=progress.message_id))
    await wait_until(lambda: len(bot.tg.answers) == 3)
    assert all("Only the person who asked" in a["text"] for a in bot.tg.answers)
    await bot.send(reply("x\ny\nz", progress, user=MALLORY))
    await wait_until(lambda: len(bot.tg.in_chat(ALICE)) == 2)
    assert "Only the person who asked" in bot.tg.in_chat(ALICE)[1].text
    assert bot.agent.jobs[job_id].review_steps == [] and bot.agent.jobs[job_id].status == "review"
    await bot.send(press(f"review:rewrite:{job_id}", user=ADMIN, message_id=progress.message_id))
    await wait_until(lambda: bot.agent.jobs[job_id].review_steps == ["rewrite"])


async def test_a_restart_in_the_middle_of_a_review_keeps_its_buttons(tg: FakeTelegram, agent: FakeAgent,
                                                                     client: AgentClient, tmp_path: Path) -> None:
    path = tmp_path / "deliveries.json"
    first = await _start(Flow(client, DeliveryStore(path), tmp_path / "w", edit_interval_s=0.05), tg)
    h = Harness(tg, agent, first)
    job_id, progress = await _in_review(h)
    await _stop(first)
    store = DeliveryStore(path)
    await store.load()
    second = await _start(Flow(client, store, tmp_path / "w", edit_interval_s=0.05), tg)
    try:
        await wait_until(lambda: second.flow.in_review(job_id) is not None)
        await second.app.update_queue.put(Update.de_json(press(f"review:approve:{job_id}", user=ALICE),
                                                        second.app.bot))
        await wait_until(lambda: agent.jobs[job_id].review_steps == ["approve"])
        await agent.run_default(job_id)
        await wait_until(lambda: bool(tg.videos(ALICE)) and "Here it is" in progress.text)
    finally:
        await _stop(second)


async def test_review_by_default_in_a_chat(tg: FakeTelegram, agent: FakeAgent, flow: Flow) -> None:
    front = await _start(flow, tg, review_chats=(ALICE,))
    try:
        await front.app.update_queue.put(Update.de_json(command("/video reviewed by default"), front.app.bot))
        first = await agent.wait_job()
        assert first.review
        await front.app.update_queue.put(Update.de_json(command("/video not this one --no-review"), front.app.bot))
        second = await agent.wait_job(2)
        assert not second.review
        for job in (first, second):  # end them, so nothing is left following when the bot stops
            await wait_until(lambda job=job: flow.store.get(job.id) is not None)
            await agent.finish(job.id, "cancelled")
        await wait_until(lambda: flow.store.all() == [])
    finally:
        await _stop(front)


async def test_an_expired_review_says_so(bot: Harness) -> None:
    job_id, progress = await _in_review(bot)
    await bot.agent.finish(job_id, "cancelled", {"code": "review_expired", "message": "nobody approved it"})
    await wait_until(lambda: "Nobody pressed Render in time" in progress.text)
    assert progress.reply_markup is None


async def test_transcript_of_a_reviewed_job(bot: Harness) -> None:
    """Every text the chat shows for one reviewed job, in order, with no line twice in a row and nothing
    that contradicts what came before."""
    job_id, progress = await _in_review(bot)
    await bot.send(press(f"review:approve:{job_id}", user=ALICE, message_id=progress.message_id))
    await wait_until(lambda: bot.agent.jobs[job_id].review_steps == ["approve"])
    await bot.agent.run_default(job_id)
    await wait_until(lambda: bool(bot.tg.videos(ALICE)) and "Here it is" in progress.text)
    video = bot.tg.videos(ALICE)[0]
    frames = [f"{text}\n[buttons: {', '.join(labels) or 'none'}]" for text, labels in progress.frames]
    transcript = [*frames, f"[video] {video.caption}", *(f"[answer] {a['text']}" for a in bot.tg.answers)]
    print("\n---\n".join(transcript))
    assert all(a != b for a, b in zip(transcript, transcript[1:], strict=False))  # every change is a real one
    heads = [t.splitlines()[0] for t in progress.history]
    assert not any("free worker" in t or "OFFLINE" in t for t in transcript)
    review_at = next(i for i, t in enumerate(heads) if "the script is ready" in t)
    done_at = next(i for i, t in enumerate(heads) if "✅ done in" in t)
    later = [(t, labels) for t, labels in progress.frames[review_at + 1:] if "the script is ready" in t]
    assert review_at < done_at and all(t.endswith("▶ rendering…") and labels == ["✖ Cancel"] for t, labels in later)
    assert len({t.split("done in ")[1][:4] for t in heads if "done in" in t}) == 1
    assert "Here it is" in progress.history[-1] and "💳 0 credits charged" in video.caption
    assert [a["text"] for a in bot.tg.answers] == ["Rendering…"]


async def _delivered(h: Harness, text: str = "/video a fox in winter --model sora") -> tuple[str, Shown]:
    await h.send(command(text, message_id=42))
    job = await h.agent.wait_job()
    await h.agent.run_default(job.id)
    await wait_until(lambda: bool(h.tg.videos(ALICE)) and "Here it is" in h.tg.in_chat(ALICE)[0].text)
    return job.id, h.tg.videos(ALICE)[0]


async def test_redo_scene_after_delivery_shows_the_price_then_starts_a_linked_job(bot: Harness) -> None:
    parent_id, video = await _delivered(bot)
    assert bot.buttons(video) == [f"d:r{n}:{parent_id}:{ALICE}" for n in (1, 2, 3)] + [
        f"d:{code}:{parent_id}:{ALICE}" for code in ("v", "wide", "square", "again")]
    await bot.send(press(f"d:r2:{parent_id}:{ALICE}", user=ALICE, message_id=video.message_id))
    await wait_until(lambda: len(bot.tg.in_chat(ALICE)) == 3)
    offer = bot.tg.in_chat(ALICE)[2]
    assert offer.text == ('Redo scene 2 of "a fox in winter" (a new picture and voice for it; the rest is kept): '
                          "makes 2 of 6 pictures and voices again; 17 credits.")
    assert offer.reply_to == video.message_id and len(bot.agent.jobs) == 1  # nothing started yet
    await bot.send(press(f"go:r2:{parent_id}:{ALICE}", user=ALICE, message_id=offer.message_id))
    child = await bot.agent.wait_job(2)
    assert child.parent_job_id == parent_id and [c.kind.value for c in child.changes] == ["redo_scene"]
    assert child.price == 17
    await bot.agent.run_default(child.id)
    await wait_until(lambda: len(bot.tg.videos(ALICE)) == 2 and "Here it is" in offer.text)
    frames = [f"{text}\n[buttons: {', '.join(labels) or 'none'}]" for text, labels in offer.frames]
    redo_video = bot.tg.videos(ALICE)[1]
    transcript = [*frames, f"[video] {redo_video.caption}"]
    print("\n---\n".join(transcript))
    assert all(a != b for a, b in zip(transcript, transcript[1:], strict=False))
    assert "💳 17 credits charged · 33 left" in redo_video.caption


async def test_a_stranger_cannot_use_the_video_buttons(bot: Harness) -> None:
    parent_id, video = await _delivered(bot)
    await bot.send(press(f"d:r1:{parent_id}:{ALICE}", user=MALLORY, message_id=video.message_id))
    await bot.send(press(f"go:r1:{parent_id}:{ALICE}", user=MALLORY, message_id=video.message_id))
    await wait_until(lambda: len(bot.tg.answers) == 2)
    assert all("Only the person who asked" in a["text"] for a in bot.tg.answers)
    assert len(bot.agent.jobs) == 1


async def test_the_buttons_say_when_the_files_have_expired(bot: Harness) -> None:
    parent_id, video = await _delivered(bot)
    bot.agent.jobs[parent_id].video_expired = True
    await bot.send(press(f"d:r1:{parent_id}:{ALICE}", user=ALICE, message_id=video.message_id))
    await wait_until(lambda: len(bot.tg.answers) == 1)
    assert "have been deleted" in bot.tg.answers[0]["text"] and "Again" in bot.tg.answers[0]["text"]
    await bot.send(press(f"d:again:{parent_id}:{ALICE}", user=ALICE, message_id=video.message_id))
    await wait_until(lambda: len(bot.tg.in_chat(ALICE)) == 3)  # Again needs no files: offered at full price
    assert bot.tg.in_chat(ALICE)[2].text == 'A new video about "a fox in winter", same options: 50 credits.'.replace(
        "A new", "🎲 A new")


async def test_video_buttons_work_after_a_restart(tg: FakeTelegram, agent: FakeAgent, client: AgentClient,
                                                  tmp_path: Path) -> None:
    first = await _start(Flow(client, DeliveryStore(tmp_path / "d.json"), tmp_path / "w", edit_interval_s=0.05), tg)
    h = Harness(tg, agent, first)
    parent_id, video = await _delivered(h, "/video a fox in winter")
    await _stop(first)
    second = await _start(Flow(client, DeliveryStore(tmp_path / "d.json"), tmp_path / "w", edit_interval_s=0.05), tg)
    try:
        await second.app.update_queue.put(Update.de_json(press(f"d:wide:{parent_id}:{ALICE}", user=ALICE,
                                                               message_id=video.message_id), second.app.bot))
        await wait_until(lambda: len(tg.in_chat(ALICE)) == 3)
        assert tg.in_chat(ALICE)[2].text.endswith("makes nothing again, only the render; free.")
    finally:
        await _stop(second)


async def test_other_voice_offers_the_voices_then_starts_with_the_one_picked(bot: Harness) -> None:
    parent_id, video = await _delivered(bot)
    await bot.send(press(f"d:v:{parent_id}:{ALICE}", user=ALICE, message_id=video.message_id))
    await wait_until(lambda: len(bot.tg.in_chat(ALICE)) == 3)
    offer = bot.tg.in_chat(ALICE)[2]
    assert offer.text.endswith("makes 3 of 6 pictures and voices again; 25 credits. Pick a voice:")
    assert bot.buttons(offer) == [f"go:v=en-gb:{parent_id}:{ALICE}", f"go:v=en-us+f3:{parent_id}:{ALICE}",
                                  f"no:v:{parent_id}:{ALICE}"]
    await bot.send(press(f"go:v=en-us+f3:{parent_id}:{ALICE}", user=ALICE, message_id=offer.message_id))
    child = await bot.agent.wait_job(2)
    assert child.parent_job_id == parent_id and child.changes[0].voice == "en-us+f3" and child.price == 25
    await bot.agent.run_default(child.id)
    await wait_until(lambda: len(bot.tg.videos(ALICE)) == 2 and "Here it is" in offer.text)
