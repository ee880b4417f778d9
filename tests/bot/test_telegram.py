"""The real python-telegram-bot Application against a fake Bot API on 127.0.0.1."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest
from telegram import Update

from agent.protocol import ServiceState
from bot.agent_client import AgentClient
from bot.flow import Flow
from bot.store import Delivery, DeliveryStore
from bot.telegram_bot import CLOUD_UPLOAD_BYTES, TelegramFrontEnd
from tests.bot.fake_agent import FakeAgent
from tests.bot.fake_telegram import ADMIN, ALICE, GROUP, MALLORY, FakeTelegram, command, press
from tests.support.waiting import fast_sleep, wait_until


class Harness:
    def __init__(self, tg: FakeTelegram, agent: FakeAgent, front: TelegramFrontEnd) -> None:
        self.tg, self.agent, self.front = tg, agent, front

    async def send(self, raw: dict[str, Any]) -> None:
        await self.front.app.update_queue.put(Update.de_json(raw, self.front.app.bot))


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram()
    await fake.start()
    yield fake
    await fake.stop()


def _front(flow: Flow, tg: FakeTelegram, **kw: Any) -> TelegramFrontEnd:
    kw.setdefault("group_edits_per_minute", 1200)  # group tests need not wait out the real budget
    return TelegramFrontEnd(flow, "123:ABC", base_url=tg.url, admin_ids=(ADMIN,), **kw)


async def _running(front: TelegramFrontEnd) -> None:
    await front.app.initialize()
    await front.startup()
    await front.app.start()


async def _stopped(front: TelegramFrontEnd) -> None:
    await front.flow.aclose()
    await front.app.stop()
    await front.app.shutdown()


@pytest.fixture
async def bot(tg: FakeTelegram, agent: FakeAgent, flow: Flow) -> AsyncIterator[Harness]:
    front = _front(flow, tg, max_upload_bytes=CLOUD_UPLOAD_BYTES)
    await _running(front)
    yield Harness(tg, agent, front)
    await _stopped(front)


async def test_full_video_to_upload(bot: Harness, tiny_mp4: bytes) -> None:
    await bot.send(command("/video a red fox in snow --aspect 9:16", message_id=42))
    job = await bot.agent.wait_job()
    assert job.request_id == f"telegram:{ALICE}:42" and job.options.max_bytes == 50_000_000
    assert job.options.aspect == "9:16"
    progress = bot.tg.in_chat(ALICE)[0]
    assert progress.reply_to == 42 and progress.text.startswith('🎬 "a red fox in snow"')
    await wait_until(lambda: progress.reply_markup is not None)
    assert progress.reply_markup["inline_keyboard"][0][0]["callback_data"] == f"cancel:{job.id}"
    await bot.agent.run_default(job.id)
    await wait_until(lambda: bot.tg.videos(ALICE) and "Here it is" in progress.text)
    video = bot.tg.videos(ALICE)[0]
    assert video.video["file_size"] == len(tiny_mp4)
    assert (video.video["width"], video.video["height"], video.video["duration"]) == (144, 256, 1)
    assert video.video["supports_streaming"] and video.video["thumbnail_bytes"] > 0
    assert video.reply_to == 42 and "🎬 All about a red fox in snow" in video.caption
    assert "✍️ ollama" in video.caption and "💳 0 credits charged · 100 left" in video.caption
    assert progress.reply_markup is None  # Cancel gone once finished
    assert len(progress.history) >= 2  # edited in place as the job went
    assert (ALICE, "upload_video") in bot.tg.actions
    assert bot.tg.not_modified == 0


async def test_file_name_keeps_every_script_and_the_language_reaches_the_agent(bot: Harness) -> None:
    # Telegram used to cut everything before a "/" ("DC back in black.mp4"); the user's language_code
    # ("en" in the fixture) is the agent's guess when the topic does not say; --lang overrides it
    await bot.send(command("/video AC/DC back in black", message_id=43))
    job = await bot.agent.wait_job()
    assert job.options.language == "en"
    await bot.agent.run_default(job.id)
    await wait_until(lambda: bot.tg.videos(ALICE))
    assert bot.tg.videos(ALICE)[0].video["file_name"] == "AC-DC back in black.mp4"
    await bot.send(command("/video 猫と宇宙 🐱 --lang ja", message_id=44))
    job = await bot.agent.wait_job(2)
    assert job.options.language == "ja" and job.topic == "猫と宇宙 🐱"
    await bot.agent.run_default(job.id)
    await wait_until(lambda: len(bot.tg.videos(ALICE)) == 2)
    assert bot.tg.videos(ALICE)[1].video["file_name"] == "猫と宇宙 🐱.mp4"


async def test_group_command_with_bot_name_and_flags(bot: Harness) -> None:
    await bot.send(command("/video@MyFoxBot a red fox --wide --long", chat=GROUP))
    job = await bot.agent.wait_job()
    assert job.topic == "a red fox" and job.options.aspect == "16:9" and job.options.length == "long"
    await bot.agent.finish(job.id, "failed", {"code": "all_providers_failed", "message": "x"})
    await wait_until(lambda: "Every video backend is down" in bot.tg.in_chat(GROUP)[0].text)
    assert job.id in bot.tg.in_chat(GROUP)[0].text


async def test_bad_flags_explain_themselves(bot: Harness) -> None:
    await bot.send(command("/video a fox --aspect 4:3"))
    await wait_until(lambda: bot.tg.in_chat(ALICE))
    assert "--aspect must be one of 9:16, 16:9, 1:1" in bot.tg.in_chat(ALICE)[0].text
    assert bot.agent.jobs == {}


async def test_no_topic_gives_the_example_once(bot: Harness) -> None:
    """Issue 14, defect 6: the reply used to show the example twice."""
    await bot.send(command("/video"))
    await wait_until(lambda: bot.tg.in_chat(ALICE))
    text = bot.tg.in_chat(ALICE)[0].text
    assert text.count("/video cats in space") == 1 and "/help" in text


async def test_a_429_storm_still_lands_the_final_state(bot: Harness) -> None:
    await bot.send(command("/video storms"))
    job = await bot.agent.wait_job()
    bot.tg.flood_next = 2
    await bot.agent.run_default(job.id, images=6)
    progress = bot.tg.in_chat(ALICE)[0]
    await wait_until(lambda: "Here it is" in progress.text, timeout_s=10)
    edits = [t for m, t in bot.tg.calls if m == "editMessageText"]
    assert bot.tg.flood_next == 0 and len(bot.tg.videos(ALICE)) == 1
    gaps = [b - a for a, b in itertools.pairwise(edits)]
    assert max(gaps) >= 1.0  # the retry_after was waited out


async def test_not_modified_is_success(bot: Harness) -> None:
    await bot.send(command("/video quiet"))
    job = await bot.agent.wait_job()
    await wait_until(lambda: bot.front.flow.store.get(job.id) is not None)
    delivery = bot.front.flow.store.get(job.id)
    assert delivery is not None
    surface = bot.front.surface(delivery)
    await surface.edit("same", cancellable=False)
    await surface.edit("same", cancellable=False)  # Telegram says "not modified": fine
    assert bot.tg.not_modified == 1


async def test_cancel_by_stranger_then_requester(bot: Harness) -> None:
    await bot.send(command("/video to be cancelled"))
    job = await bot.agent.wait_job()
    await bot.agent.emit(job.id, stage="script", provider="ollama")
    await wait_until(lambda: bot.front.flow.store.get(job.id) is not None)  # the button is live
    await bot.send(press(f"cancel:{job.id}", user=MALLORY))
    await wait_until(lambda: len(bot.tg.answers) == 1)
    assert bot.tg.answers[0]["show_alert"] in ("true", "True", True)
    assert "Only the person who asked" in bot.tg.answers[0]["text"]
    assert bot.agent.jobs[job.id].status == "running"
    await bot.send(press(f"cancel:{job.id}", user=ALICE))
    progress = bot.tg.in_chat(ALICE)[0]
    await wait_until(lambda: "Cancelled" in progress.text)
    assert "Nothing was charged" in progress.text and progress.reply_markup is None  # a free route


async def test_admin_can_cancel_anyones_video(bot: Harness) -> None:
    await bot.send(command("/video admin cancels"))
    job = await bot.agent.wait_job()
    await wait_until(lambda: bot.front.flow.store.get(job.id) is not None)  # the button is live
    await bot.send(press(f"cancel:{job.id}", user=ADMIN))
    await wait_until(lambda: "Cancelled" in bot.tg.in_chat(ALICE)[0].text)


async def test_out_of_credits(bot: Harness) -> None:
    bot.agent.credits[str(ALICE)] = 5
    await bot.send(command("/video pricey --model sora"))
    await wait_until(lambda: bot.tg.in_chat(ALICE) and "out of credits" in bot.tg.in_chat(ALICE)[0].text)
    assert "00:00 UTC" in bot.tg.in_chat(ALICE)[0].text


async def test_oversized_upload_offers_the_link(tg: FakeTelegram, agent: FakeAgent, flow: Flow) -> None:
    tg.upload_limit_bytes = 500  # the server refuses what the bot thought would fit: 413
    front = _front(flow, tg, max_upload_bytes=CLOUD_UPLOAD_BYTES)
    await _running(front)
    try:
        await front.app.update_queue.put(Update.de_json(command("/video big"), front.app.bot))
        job = await agent.wait_job()
        await agent.run_default(job.id)
        await wait_until(lambda: "upload limit" in tg.in_chat(ALICE)[0].text)
        assert tg.too_large == 1 and tg.videos(ALICE) == []
        assert f"https://reels.example/v1/jobs/{job.id}/video" in tg.in_chat(ALICE)[0].text
    finally:
        await _stopped(front)


async def test_status_is_for_admins(bot: Harness) -> None:
    await bot.send(command("/status", user=MALLORY, chat=MALLORY))
    await wait_until(lambda: bot.tg.in_chat(MALLORY))
    assert "admins" in bot.tg.in_chat(MALLORY)[0].text
    await bot.send(command("/status", user=ADMIN, chat=ADMIN))
    await wait_until(lambda: bot.tg.in_chat(ADMIN))
    text = bot.tg.in_chat(ADMIN)[0].text
    assert text.startswith("🟢 SELF-HOSTED") and "🔴 comfyui — connection refused" in text and "🟢 ollama 12 ms" in text
    assert "agent:" not in text  # nothing wrong with the agent itself


async def test_status_names_the_agents_own_disk_problem(bot: Harness) -> None:
    """Issue 9: a full database disk is said in /status, not hidden behind green backends."""
    bot.agent.status_body = msgspec.structs.replace(
        bot.agent.status_body, state=ServiceState.DOWN,
        problems=["the database cannot store anything: database or disk is full"])
    await bot.send(command("/status", user=ADMIN, chat=ADMIN))
    await wait_until(lambda: bot.tg.in_chat(ADMIN))
    text = bot.tg.in_chat(ADMIN)[0].text
    assert text.splitlines()[1] == "🔴 agent: the database cannot store anything: database or disk is full"


async def test_status_shows_a_models_shutdown_date(bot: Harness) -> None:
    """Issue 12: an announced shutdown reaches /status as a warning on a backend that still serves."""
    from agent.protocol import BackendStatus

    rows = [msgspec.structs.replace(b, warnings=["gpt-4o-mini-tts shuts down 2027-01-06"]) if b.name == "ollama"
            else b for b in bot.agent.status_body.backends]
    assert any(isinstance(b, BackendStatus) for b in rows)
    bot.agent.status_body = msgspec.structs.replace(bot.agent.status_body, backends=rows)
    await bot.send(command("/status", user=ADMIN, chat=ADMIN))
    await wait_until(lambda: bot.tg.in_chat(ADMIN))
    assert "⚠️ gpt-4o-mini-tts shuts down 2027-01-06" in bot.tg.in_chat(ADMIN)[0].text


async def test_status_lists_the_workers_of_a_distributed_agent(bot: Harness) -> None:
    """Issue 11: /status names every worker, its state, its job and its backends."""
    from agent.protocol import WorkerBackend, WorkerInfo

    bot.agent.status_body = msgspec.structs.replace(bot.agent.status_body, workers=[
        WorkerInfo(name="box-a", state="up", last_heartbeat="2026-01-01T00:00:00.000Z", seconds_since_heartbeat=2.0,
                   current_job="job123", jobs=["job123"], routes=["self-hosted"],
                   backends=[WorkerBackend(name="comfyui", state="up"), WorkerBackend(name="ollama", state="down")]),
        WorkerInfo(name="box-b", state="lost", last_heartbeat="2026-01-01T00:00:00.000Z", seconds_since_heartbeat=41.0),
    ])
    await bot.send(command("/status", user=ADMIN, chat=ADMIN))
    await wait_until(lambda: bot.tg.in_chat(ADMIN))
    text = bot.tg.in_chat(ADMIN)[0].text
    assert "🟢 worker box-a: up, running job123, heartbeat 2s ago (comfyui up, ollama down)" in text
    assert "🔴 worker box-b: lost, idle, heartbeat 41s ago (no backends)" in text


async def test_quota_and_help(bot: Harness) -> None:
    await bot.send(command("/quota"))
    await wait_until(lambda: bot.tg.in_chat(ALICE))
    assert "Credits left: 100" in bot.tg.in_chat(ALICE)[0].text and "sora: 50 credits" in bot.tg.in_chat(ALICE)[0].text
    await bot.send(command("/help"))
    await wait_until(lambda: len(bot.tg.in_chat(ALICE)) == 2)
    assert "--aspect" in bot.tg.in_chat(ALICE)[1].text


async def test_agent_unreachable(tg: FakeTelegram, session: aiohttp.ClientSession, tmp_path: Path) -> None:
    client = AgentClient(session, "http://127.0.0.1:9", "t", backoff_s=(0.01, 0.01), sleep=fast_sleep)
    front = _front(Flow(client, DeliveryStore(None), tmp_path), tg)
    await _running(front)
    try:
        await front.app.update_queue.put(Update.de_json(command("/video nobody home"), front.app.bot))
        await wait_until(lambda: tg.in_chat(ALICE) and "isn't answering" in tg.in_chat(ALICE)[0].text)
    finally:
        await _stopped(front)


async def test_restart_mid_job_still_delivers(tg: FakeTelegram, agent: FakeAgent, client: AgentClient,
                                              tmp_path: Path) -> None:
    path = tmp_path / "deliveries.json"
    first = _front(Flow(client, DeliveryStore(path), tmp_path / "w", edit_interval_s=0.05), tg)
    await _running(first)
    await first.app.update_queue.put(Update.de_json(command("/video survive a restart"), first.app.bot))
    job = await agent.wait_job()
    await agent.emit(job.id, stage="script", provider="ollama", stage_done=True)
    # seq 1 is the agent's own "queued" event, stored at submission; 2 is the script event
    await wait_until(lambda: path.exists() and '"last_event_id": 2' in path.read_text())
    await _stopped(first)

    store = DeliveryStore(path)
    await store.load()
    second = _front(Flow(client, store, tmp_path / "w", edit_interval_s=0.05), tg)
    await _running(second)  # resumes from the store
    try:
        await agent.run_default(job.id)
        await wait_until(lambda: tg.videos(ALICE) and "Here it is" in tg.in_chat(ALICE)[0].text)
        assert [h.get("Last-Event-ID") for m, p, h in agent.requests if p.endswith("/events")][-1] == "2"
    finally:
        await _stopped(second)


async def test_upload_limits_are_the_librarys(flow: Flow) -> None:
    """api.telegram.org takes 50 MB, a local Bot API server 2000 MB: as python-telegram-bot says."""
    from telegram.constants import FileSizeLimit

    cloud = TelegramFrontEnd(flow, "123:ABC")
    local = TelegramFrontEnd(flow, "123:ABC", base_url="http://127.0.0.1:8081")
    assert cloud.max_upload_bytes == FileSizeLimit.FILESIZE_UPLOAD == 50_000_000
    assert local.max_upload_bytes == FileSizeLimit.FILESIZE_UPLOAD_LOCAL_MODE == 2_000_000_000
    assert TelegramFrontEnd(flow, "123:ABC", max_upload_bytes=1_000_000).max_upload_bytes == 1_000_000


async def test_a_video_whose_scenes_became_stills_says_so(bot: Harness) -> None:
    bot.agent.stills_note = "3 of 5 scenes are stills: ComfyUI lacks AnimateDiff-Evolved"
    await bot.send(command("/video a red fox in snow --mode video"))
    job = await bot.agent.wait_job()
    await bot.agent.run_default(job.id)
    await wait_until(lambda: bool(bot.tg.videos(ALICE)))
    lines = bot.tg.videos(ALICE)[0].caption.splitlines()
    assert lines[2] == "🖼 3 of 5 scenes are stills: ComfyUI lacks AnimateDiff-Evolved"
    assert lines[3].startswith("💳 ")


async def test_group_edits_keep_to_the_groups_budget(tg: FakeTelegram, agent: FakeAgent, flow: Flow) -> None:
    """Issue 14, defect 4: one edit every 1.5 s is 40 a minute, twice what Telegram allows in a group.
    Progress edits there keep to `group_edits_per_minute`, shared by the group's running jobs."""
    front = _front(flow, tg, group_edits_per_minute=300)  # 0.2 s apart (the flow's own pace is 0.05 s)
    await _running(front)
    try:
        await front.app.update_queue.put(Update.de_json(command("/video@MyFoxBot a busy group", chat=GROUP),
                                                        front.app.bot))
        job = await agent.wait_job()
        await agent.run_default(job.id, images=6)
        await wait_until(lambda: tg.videos(GROUP) and "Here it is" in tg.in_chat(GROUP)[0].text, timeout_s=15)
        edits = [t for m, t in tg.calls if m == "editMessageText"]
        assert len(edits) >= 3
        assert min(b - a for a, b in itertools.pairwise(edits)) >= 0.18
        delivery = Delivery(job_id="j2", platform="telegram", chat_id=GROUP, message_id=1, requester_id=ALICE,
                            topic="x", started_at=0)
        await flow.store.put(delivery)
        await flow.store.put(Delivery(**{**delivery.__dict__, "job_id": "j3"}))
        assert front.surface(delivery).min_edit_interval_s() == pytest.approx(0.4)  # two jobs share it
        private = Delivery(**{**delivery.__dict__, "job_id": "j4", "chat_id": ALICE})
        assert front.surface(private).min_edit_interval_s() == 0.0
    finally:
        await _stopped(front)
