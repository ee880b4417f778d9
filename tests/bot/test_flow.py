"""The platform-neutral flow against the fake agent: submit, follow, upload, failures, resume."""

from __future__ import annotations

import socket
from pathlib import Path

import aiohttp
import msgspec
import pytest

from bot import wording
from bot.agent_client import AgentClient, AgentUnreachable, InvalidRequest, QuotaExceeded
from bot.flow import Flow, ParseError, VideoRequest, parse_video_text, request_id_for, upload_name
from bot.progress import ProgressState
from bot.store import Delivery, DeliveryStore
from bot.wire import Event, JobStatus, Stage
from tests.bot.fake_agent import FakeAgent
from tests.bot.fake_surface import FakeSurface
from tests.support.waiting import wait_until


def _delivery(job_id: str, topic: str = "cats in space") -> Delivery:
    return Delivery(job_id=job_id, platform="test", chat_id=1, message_id=2, requester_id=7, topic=topic,
                    started_at=0.0)


async def _submit(flow: Flow, topic: str = "cats in space", request_id: str = "test:1", **options: str):
    return await flow.submit(platform="test", user_id=7, user_name="ann", request_id=request_id,
                             request=VideoRequest(topic, options), max_bytes=10 * 1024 * 1024)


def test_parse_flags_and_shortcuts() -> None:
    req = parse_video_text('cats in space --aspect 16:9 --length=long -m sora --voice "en gb"')
    assert req.topic == "cats in space"
    assert dict(req.options) == {"aspect": "16:9", "length": "long", "model": "sora", "voice": "en gb"}
    assert dict(parse_video_text("a fox --wide --video").options) == {"aspect": "16:9", "mode": "video"}
    with pytest.raises(ParseError, match="aspect must be one of"):
        parse_video_text("x --aspect 4:3")
    with pytest.raises(ParseError, match="what the video is about"):
        parse_video_text("--long")
    with pytest.raises(ParseError, match="under 300"):
        parse_video_text("x" * 301)
    assert request_id_for("telegram", 904100001) == "telegram:904100001"


def test_upload_names_keep_every_script_and_are_never_empty() -> None:
    assert upload_name("AC/DC back in black") == "AC-DC back in black.mp4"
    assert upload_name("猫と宇宙 🐱🚀 — 星の旅 ✨") == "猫と宇宙 🐱🚀 — 星の旅 ✨.mp4"
    assert upload_name("مرحبا بالعالم") == "مرحبا بالعالم.mp4"
    assert upload_name("Crème brûlée à Zürich") == "Crème brûlée à Zürich.mp4"
    assert upload_name("../../etc/passwd") == "etc-passwd.mp4"
    assert upload_name("cats\u202e4pm.exe") == "cats4pm.exe.mp4"  # a direction override is invisible: dropped
    assert upload_name(" \u200b ") == upload_name("...") == "video.mp4"
    # cut at 60 characters, never inside a cluster (here the accent of the 60th letter)
    assert upload_name("x" * 59 + "e\u0301z") == "x" * 59 + ".mp4"
    assert upload_name("a" * 58 + "👨\u200d👩\u200d👧") == "a" * 58 + ".mp4"
    assert dict(parse_video_text("猫と宇宙 --lang ja --wide").options) == {"language": "ja", "aspect": "16:9"}


def _event(seq: int, status: str, stage: str = "queued", **fields: object) -> Event:
    return Event(seq=seq, job_id="j", status=JobStatus(status), stage=Stage(stage), progress=0.0, message="",
                 provider=str(fields.pop("provider", "")), at="", position=fields.pop("position", None),  # type: ignore[arg-type]
                 **fields)  # type: ignore[arg-type]


def test_progress_text_looks_like_the_issue() -> None:
    state = ProgressState("cats in space", started_at=0)
    state.apply(_event(1, "queued", position=3))
    assert state.render(12) == '🎬 "cats in space" — ⏳ in the queue, position 3\n⏱ 0:12'
    state.apply(_event(2, "running", stage="script", provider="ollama", done=1, total=1, stage_done=True))
    state.apply(_event(3, "running", stage="image", provider="comfyui", done=3, total=7))
    assert state.render(67).splitlines()[0] == (
        '🎬 "cats in space" — ✍️ script ✔ (ollama) · 🎨 images 3/7 ▰▰▰▱▱▱▱ (comfyui) · 🗣 voice · 🎞 render'
    )
    state.apply(_event(4, "running", stage="render", done=62, total=100))
    assert "🎞 render 62% ▰▰▰▰▰▰▱▱▱▱" in state.render(67)
    assert "🎨 images ✔" in state.render(67)


def test_progress_follows_the_order_the_agent_runs_the_stages_in() -> None:
    """The agent voices the script before drawing it: voice is finished, not still to come, and a
    voice event does not tick off images that have not started."""
    state = ProgressState("cats in space", started_at=0)
    state.apply(_event(1, "running", stage="script", provider="ollama", done=1, total=1, stage_done=True))
    state.apply(_event(2, "running", stage="voice", provider="coqui", done=2, total=4))
    assert state.render(5).splitlines()[0] == (
        '🎬 "cats in space" — ✍️ script ✔ (ollama) · 🗣 voice 2/4 ▰▰▱▱ (coqui) · 🎨 images · 🎞 render'
    )
    state.apply(_event(3, "running", stage="image", provider="comfyui", done=1, total=4))
    assert state.render(9).splitlines()[0] == (
        '🎬 "cats in space" — ✍️ script ✔ (ollama) · 🗣 voice ✔ (coqui) · 🎨 images 1/4 ▰▱▱▱ (comfyui) · 🎞 render'
    )


async def test_full_video_to_upload(flow: Flow, agent: FakeAgent, tiny_mp4: bytes) -> None:
    job = await _submit(flow)
    surface = FakeSurface()
    task = await flow.start(_delivery(job.id), surface)
    await agent.emit(job.id, status="queued", position=2)
    await agent.run_default(job.id)
    await task
    data, caption, meta = surface.videos[0]
    assert data == tiny_mp4
    assert caption.startswith("🎬 All about cats in space · 0:27")
    assert "✍️ ollama" in caption and "🎨 comfyui, offline" in caption and "🗣 coqui" in caption
    assert "💳 0 credits charged · 100 left" in caption
    assert (meta.width, meta.height) == (144, 256) and meta.thumbnail is not None
    assert surface.text.endswith("Here it is ⬇️") and surface.edits[-1][1] is False  # no Cancel button left
    assert surface.activities >= 1  # "uploading video" shown
    assert flow.store.all() == []
    assert len({t for t, _ in surface.edits}) == len(surface.edits)  # nothing identical re-sent


async def test_resubmitting_the_same_request_is_one_job(flow: Flow, agent: FakeAgent) -> None:
    agent.fail_next_posts = 2  # the agent is starting: 503, 503, then fine
    first = await _submit(flow, request_id="telegram:55", model="sora")
    again = await _submit(flow, request_id="telegram:55", model="sora")
    assert first.id == again.id and len(agent.jobs) == 1
    assert agent.credits["7"] == 50  # charged once


async def test_out_of_credits_is_worded_with_the_reset_time(flow: Flow, agent: FakeAgent) -> None:
    agent.credits["7"] = 10
    with pytest.raises(QuotaExceeded) as info:
        await _submit(flow, model="sora")
    text = wording.submit_failed(info.value, "cats in space")
    assert "out of credits" in text and "00:00 UTC" in text


async def test_invalid_topic_says_why(flow: Flow) -> None:
    with pytest.raises(InvalidRequest) as info:
        await _submit(flow, topic="something forbidden")
    assert "content policy" in wording.submit_failed(info.value, "x")


def test_a_refused_voice_is_worded_as_a_voice_problem() -> None:
    unknown = InvalidRequest("there is no voice called 'x' here; voices you can pick include en-us, en-gb "
                             "(or leave the voice out for the default one)", field="voice")
    assert wording.submit_failed(unknown, "cats") == (
        "🗣 I can't make that video with that voice: there is no voice called 'x' here; voices you can pick "
        "include en-us, en-gb (or leave the voice out for the default one). Nothing was charged.")
    malformed = InvalidRequest("options.voice is longer than 64 characters", "bad_request", field="options.voice")
    assert wording.submit_failed(malformed, "cats").startswith("🗣 I can't make that video with that voice: ")
    topic = InvalidRequest("the topic must not be empty", field="topic")
    assert wording.submit_failed(topic, "").startswith("✋ I can't make that video: the topic")


def test_a_quarantined_job_says_it_will_not_be_retried() -> None:
    from bot.wire import ErrorCode, JobError, job_from_event

    job = job_from_event(_event(9, "failed", "failed", refunded=True, error=JobError(
        code=ErrorCode.QUARANTINED, message="the video service stopped 3 times while making this video",
        refunded=True, credits_refunded=5)), topic="cats")
    job = msgspec.structs.replace(job, id="j1")
    assert wording.job_failed(job) == (
        "🧯 Making \"cats\" kept stopping the video service, so it was set aside and won't be tried again. "
        "Your credits were refunded. Please try a different topic or voice. (job `j1`)")


async def test_agent_unreachable_retries_then_says_so(session: aiohttp.ClientSession) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    client = AgentClient(session, f"http://127.0.0.1:{port}", "t", backoff_s=(1, 2, 4), sleep=sleep)
    with pytest.raises(AgentUnreachable) as info:
        await client.submit("r", {"platform": "test", "id": "1"}, "x", {})
    assert slept == [1, 2, 4]
    assert "isn't answering" in wording.submit_failed(info.value, "x")


async def test_every_backend_down_names_the_job_and_the_refund(flow: Flow, agent: FakeAgent) -> None:
    job = await _submit(flow)
    surface = FakeSurface()
    task = await flow.start(_delivery(job.id), surface)
    await agent.emit(job.id, stage="script", provider="ollama")
    await agent.finish(job.id, "failed", {"code": "all_providers_failed", "message": "no image backend answered"})
    await task
    assert "Every video backend is down" in surface.text and job.id in surface.text
    assert "Nothing was charged" in surface.text  # a free route: nothing to refund, and it says so

    job = await _submit(flow, request_id="test:2", model="sora")
    surface = FakeSurface()
    task = await flow.start(_delivery(job.id), surface)
    await agent.finish(job.id, "failed", {"code": "all_providers_failed", "message": "no image backend answered"})
    await task
    assert "refunded" in surface.text


async def test_event_stream_resumes_with_last_event_id(flow: Flow, agent: FakeAgent) -> None:
    agent.drop_streams_after = 2
    job = await _submit(flow)
    surface = FakeSurface()
    task = await flow.start(_delivery(job.id), surface)
    await agent.run_default(job.id, images=5)
    await task
    resumed = [h.get("Last-Event-ID") for m, p, h in agent.requests if p.endswith("/events")]
    assert resumed[0] is None and len(resumed) >= 3
    ids = [int(r) for r in resumed[1:]]
    assert ids == sorted(set(ids))  # each reconnection resumes after the last event seen
    assert len(surface.videos) == 1


async def test_oversized_video_offers_the_download_link(flow: Flow, agent: FakeAgent) -> None:
    job = await _submit(flow)
    surface = FakeSurface(max_upload_bytes=100)
    task = await flow.start(_delivery(job.id), surface)
    await agent.run_default(job.id)
    await task
    assert surface.videos == []
    assert "over this chat's" in surface.text and f"https://reels.example/v1/jobs/{job.id}/video" in surface.text


async def test_restart_mid_job_resumes_and_delivers(client: AgentClient, agent: FakeAgent, tmp_path: Path) -> None:
    path = tmp_path / "deliveries.json"
    first = Flow(client, DeliveryStore(path), tmp_path / "w", edit_interval_s=0.01)
    job = await _submit(first)
    surface = FakeSurface()
    await first.start(_delivery(job.id), surface)
    await agent.emit(job.id, stage="script", provider="ollama", done=1, total=1, stage_done=True)
    await agent.emit(job.id, stage="image", provider="comfyui", done=1, total=3)
    # seq 1 is the agent's own "queued" event, stored at submission; 2 and 3 are ours
    await wait_until(lambda: (first.store.get(job.id) or _delivery("x")).last_event_id == 3)
    await first.aclose()  # the bot process dies

    store = DeliveryStore(path)
    pending = await store.load()
    assert [d.job_id for d in pending] == [job.id] and pending[0].last_event_id == 3
    second = Flow(client, store, tmp_path / "w", edit_interval_s=0.01)
    after = FakeSurface()
    second.resume(pending, lambda d: after)
    await agent.emit(job.id, stage="image", provider="comfyui", done=2, total=3)
    await agent.run_default(job.id)
    await second.task(job.id)  # type: ignore[arg-type]
    headers = [h for m, p, h in agent.requests if p.endswith("/events")]
    assert headers[-1].get("Last-Event-ID") == "3"
    assert len(after.videos) == 1 and await DeliveryStore(path).load() == []


async def test_cancel_by_requester_and_stranger(flow: Flow, agent: FakeAgent) -> None:
    from bot.flow import NotAllowed

    job = await _submit(flow, model="sora")
    surface = FakeSurface()
    task = await flow.start(_delivery(job.id), surface)
    await agent.emit(job.id, stage="script", provider="ollama")
    with pytest.raises(NotAllowed):
        await flow.cancel(job.id, actor_id=999, actor_name="mallory", is_admin=False)
    assert agent.jobs[job.id].status == "running"
    assert await flow.cancel(job.id, actor_id=7, actor_name="ann", is_admin=False) == "Cancelling…"
    await task
    assert "Cancelled by ann" in surface.text and "refunded" in surface.text
    assert agent.credits["7"] == 100


async def test_rate_limited_platform_still_gets_the_final_state(flow: Flow, agent: FakeAgent) -> None:
    job = await _submit(flow)
    surface = FakeSurface(rate_limit_first=6)
    task = await flow.start(_delivery(job.id), surface)
    await agent.run_default(job.id)
    await task
    assert surface.text.endswith("Here it is ⬇️") and len(surface.videos) == 1
