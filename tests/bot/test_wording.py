"""Every message says what is true, once (issue 14, defect 6): one test per line that used to be wrong."""

from __future__ import annotations

import itertools
from pathlib import Path

import msgspec
import pytest

from bot import wording
from bot.agent_client import AgentClient, TooManyJobs
from bot.flow import Flow, ParseError, parse_video_text
from bot.progress import RESTARTED_NOTE, ProgressState
from bot.store import Delivery, DeliveryStore
from bot.wire import Event, JobStatus, Quota, Stage
from agent.protocol import StageServe
from tests.bot.fake_agent import FakeAgent, _backend
from tests.bot.fake_surface import FakeSurface
from tests.support.waiting import wait_until


def _event(seq: int, status: str, stage: str, progress: float = 0.0, **fields: object) -> Event:
    return Event(seq=seq, job_id="j", status=JobStatus(status), stage=Stage(stage), progress=progress, message="",
                 provider="", at="", position=fields.pop("position", None), **fields)  # type: ignore[arg-type]


def test_a_job_with_nothing_ahead_is_starting_not_waiting() -> None:
    state = ProgressState("cats", started_at=0)
    assert state.render(0).splitlines()[0] == '🎬 "cats" — ⏳ starting…'
    state.apply(_event(1, "queued", "queued", position=1))
    assert state.render(0).splitlines()[0] == '🎬 "cats" — ⏳ in the queue, next in line'
    assert "free worker" not in state.render(0)


def test_unknown_option_lists_what_help_documents() -> None:
    with pytest.raises(ParseError) as err:
        parse_video_text("cats --colour red")
    assert "--video" in str(err.value) and "--mode," not in str(err.value) and "--mode." not in str(err.value)


def test_an_unmatched_quote_does_not_stay_in_the_title() -> None:
    assert parse_video_text('cats "in space').topic == "cats in space"
    assert parse_video_text("the cat's toy").topic == "the cat's toy"


def test_too_many_jobs_is_said_once() -> None:
    exc = TooManyJobs("you already have 2 video(s) on the way; wait for one to finish", 30)
    text = wording.submit_failed(exc, "x")
    assert text.lower().count("wait for one to finish") == 1 and text.lower().count("already have") == 1


def test_quota_lists_only_what_can_be_picked() -> None:
    prices = {"self-hosted": {"label": "s", "price": 0, "mode": "slideshow", "available": True},
              "sora": {"label": "s", "price": 50, "mode": "video", "available": False},
              "runway": {"label": "r", "price": 40, "mode": "video", "available": False}}
    q = msgspec.convert({"platform": "t", "user_id": "1", "admin": False, "balance": 5, "daily_credits": 100,
                         "in_flight": 0, "max_in_flight": 2, "resets_at": "", "resets_in_s": 0, "prices": prices,
                         "credits_left": 5}, Quota)
    text = wording.quota_text(q)
    assert "self-hosted: FREE" in text and "sora" not in text and "not available" not in text


def test_status_header_agrees_with_the_backends_and_errors_are_words() -> None:
    status = FakeAgent().status_body
    status = msgspec.structs.replace(status, mode="offline", backends=[
        _backend("offline", True), _backend("comfyui", False, last_error=(
            "Cannot connect to host comfyui:8188 ssl:default [Name or service not known]"))])
    assert not wording.status_header(status).startswith("🔴")
    assert wording.backend_name("offline") == "built-in"
    assert wording.backend_detail(status.backends[1]) == "host name not found"
    mixed = msgspec.structs.replace(status, mode="self-hosted", stages=[
        StageServe(stage="script", provider="offline", tier="offline"),
        StageServe(stage="image", provider="comfyui", tier="self-hosted")])
    assert wording.status_header(mixed) == "🟢 SELF-HOSTED (script on the built-in tier)"


def test_a_restart_that_goes_back_is_said() -> None:
    state = ProgressState("cats", started_at=0)
    state.apply(_event(2, "running", "render", 0.4, done=40, total=100))
    assert RESTARTED_NOTE not in state.render(1)
    state.apply(_event(9, "running", "script", 0.03))
    assert RESTARTED_NOTE in state.render(2) and "40%" not in state.render(2)


def test_the_caption_rounds_the_duration_as_the_platform_does() -> None:
    job = msgspec.convert(_job_raw(duration_s=45.6), wording.Job)
    assert "· 0:46" in wording.caption(job, "x")


def test_a_refund_in_the_agents_message_is_not_said_twice() -> None:
    raw = _job_raw(status="failed")
    raw["error"] = {"code": "internal", "message": "the render crashed; your credits were refunded",
                    "refunded": True}
    raw["credits"] = {"reserved": 5, "charged": 0, "refunded": 5}
    text = wording.job_failed(msgspec.convert(raw, wording.Job))
    assert text.lower().count("refunded") == 1 and "the render crashed" in text


async def test_done_in_is_said_once(client: AgentClient, agent: FakeAgent, tmp_path: Path) -> None:
    """"done in 0:55, uploading…" then "done in 0:56": the time is taken once."""
    ticks = itertools.count(0, 0.6)
    flow = Flow(client, DeliveryStore(None), tmp_path, clock=lambda: next(ticks), edit_interval_s=0.0, tick_s=30)
    job = await client.submit("r1", {"platform": "test", "id": "7"}, "cats", {})
    surface = FakeSurface()
    await flow.start(Delivery(job.id, "test", 1, 2, 7, "cats", 0.0), surface)
    await agent.run_default(job.id)
    await wait_until(lambda: "Here it is" in surface.text)
    times = {text.split("done in ")[1][:4] for text, _ in surface.edits if "done in" in text}
    assert len(times) == 1, surface.edits
    await flow.aclose()


def _job_raw(**over: object) -> dict[str, object]:
    raw: dict[str, object] = {
        "id": "j", "request_id": "r", "status": "done", "stage": "done", "progress": 1.0, "message": "",
        "provider": "", "position": None, "user": {"platform": "t", "id": "1"}, "topic": "cats",
        "options": {"aspect": "9:16", "length": "short", "mode": "slideshow", "model": "m", "voice": "",
                    "max_bytes": None},
        "route": "m", "price": 0, "cost": 0, "credits": {"reserved": 0, "charged": 0, "refunded": 0},
        "refunded": False, "providers": {}, "result": None, "error": None, "last_seq": 1, "created_at": "",
        "started_at": None, "finished_at": None, "events_url": "", "video_url": "", "video_expired": False}
    raw.update(over)
    return raw
