"""The bots against the REAL agent: `agent.service.app.create_app` on 127.0.0.1 with instant fake providers
and a stub renderer that writes a real MP4, driven through the real python-telegram-bot Application
(and discord.py) against the fake chat platforms.

This is where the wire contract is proven end to end: every assertion about what a user sees rests
on what the agent actually sent. `test_fake_agent_matches_the_real_one` keeps `fake_agent.py` honest,
so the faster unit tests in this folder test the same shapes.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
import subprocess
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import discord
import pytest
from aiohttp import web
from telegram import Update

from agent.service.app import DATABASE, RUNNER, create_app
from agent.engine.backends import Backends
from agent.protocol import parse_sse_block
from agent.engine.render.spec import RenderResult, RenderSpec
from agent.engine.validation import MAX_TOPIC_CHARS as AGENT_MAX_TOPIC_CHARS
from bot import wording
from bot.agent_client import (
    AgentBusy,
    AgentClient,
    AgentError,
    TooManyJobs,
    VideoExpired,
)
from bot.discord_bot import ReelDiscordBot
from bot.flow import MAX_TOPIC_CHARS as BOT_MAX_TOPIC_CHARS
from bot.flow import Flow
from bot.wire import JobStatus, job_from_event
from bot.store import DeliveryStore
from bot.telegram_bot import CLOUD_UPLOAD_BYTES, TelegramFrontEnd
from providers.base import Stage, Tier
from providers.errors import Unavailable
from storage import QuotaLedger
from tests.bot.fake_agent import FakeAgent
from tests.bot.fake_discord import GUILD, FakeDiscord, interaction
from tests.bot.fake_telegram import ADMIN, ALICE, MALLORY, FakeTelegram, Shown, command, press
from tests.fakes import FakeProvider
from tests.support.agent_app import GatedProvider, make_settings
from tests.support.clock import FakeClock
from tests.support.files import write_file
from tests.support.servers import start_server
from tests.support.waiting import fast_sleep, wait_until

PUBLIC_URL = "https://reels.example"
WIDE = (256, 144)  # the stub renderer's real MP4 for --aspect 16:9
TALL = (144, 256)


# ---------------------------------------------------------------------------- the real agent


@pytest.fixture(scope="session")
def mp4s(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[int, int], bytes]:
    """Small real MP4s (2 s, H.264) in both orientations, made once."""
    import imageio_ffmpeg

    out: dict[tuple[int, int], bytes] = {}
    folder = tmp_path_factory.mktemp("real-agent-mp4")
    for width, height in (WIDE, TALL):
        path = folder / f"{width}x{height}.mp4"
        subprocess.run(
            [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-f", "lavfi",
             "-i", f"testsrc=size={width}x{height}:rate=10:duration=2", "-pix_fmt", "yuv420p", "-c:v", "libx264",
             "-preset", "veryfast", "-movflags", "+faststart", str(path)],
            check=True, timeout=60,
        )
        out[(width, height)] = path.read_bytes()
    return out


class Mp4Renderer:
    """Stands in for agent.engine.render.render: reports progress, writes a real MP4 of the spec's shape."""

    def __init__(self, mp4s: dict[tuple[int, int], bytes]) -> None:
        self.mp4s = mp4s
        self.specs: list[RenderSpec] = []

    async def __call__(self, spec: RenderSpec, on_progress: Callable[[float], None] | None = None) -> RenderResult:
        if spec.feed is not None:  # the overlapped order: the real renderer waits for each scene's picture
            await spec.feed.complete.wait()
            spec = spec.settled()
        self.specs.append(spec)
        for fraction in (0.5, 1.0):
            if on_progress:
                on_progress(fraction)
            await asyncio.sleep(0)
        size = WIDE if spec.width > spec.height else TALL
        data = self.mp4s[size]
        await asyncio.to_thread(write_file, spec.out, data)
        return RenderResult(spec.out, len(data), 2.0, size[0], size[1], None, False)


class DownProvider(FakeProvider):
    """A backend that is down for everything."""

    async def _next(self, default):  # type: ignore[no-untyped-def]
        raise Unavailable("connection refused", provider=self.name)


def _named(provider: FakeProvider, name: str) -> FakeProvider:
    provider.name, provider.tier = name, Tier.SELF_HOSTED  # type: ignore[misc]
    return provider


@dataclass
class RealAgent:
    url: str
    token: str
    images: GatedProvider  # "comfyui": hold("image") stops the job at its second scene
    renderer: Mp4Renderer
    session: aiohttp.ClientSession
    app: web.Application

    def client(self) -> AgentClient:
        return AgentClient(self.session, self.url, self.token, backoff_s=(0.01, 0.01, 0.01), sleep=fast_sleep)

    async def raw(self, method: str, path: str, body: Any = None,
                  headers: dict[str, str] | None = None) -> tuple[int, Any, dict[str, str]]:
        """(status, JSON body or SSE events, headers) exactly as the agent answered."""
        async with self.session.request(method, self.url + path, json=body, headers={
                "Authorization": f"Bearer {self.token}", **(headers or {})}) as resp:
            if resp.content_type == "text/event-stream":
                return resp.status, _sse_events(await resp.text()), dict(resp.headers)
            return resp.status, await resp.json(content_type=None), dict(resp.headers)

    async def get(self, path: str) -> dict[str, Any]:
        async with self.session.get(self.url + path, headers={"Authorization": f"Bearer {self.token}"}) as resp:
            assert resp.status == 200, await resp.text()
            return await resp.json()

    async def job(self, job_id: str) -> dict[str, Any]:
        return await self.get(f"/v1/jobs/{job_id}")

    async def quota(self, platform: str, user_id: int | str) -> dict[str, Any]:
        return await self.get(f"/v1/users/{platform}/{user_id}/quota")


def _sse_events(text: str) -> list[tuple[int | None, dict[str, Any]]]:
    out = []
    for block in text.split("\n\n"):
        seq, event = parse_sse_block(block)
        if event is not None:
            out.append((seq, event))
    return out


@contextlib.asynccontextmanager
async def real_agent(tmp_path: Path, mp4s: dict[tuple[int, int], bytes], session: aiohttp.ClientSession, *,
                     quotas: dict[str, Any] | None = None, agent: dict[str, Any] | None = None,
                     down: bool = False) -> AsyncIterator[RealAgent]:
    settings = make_settings(tmp_path / ("agent-down" if down else "agent"), quotas=quotas,
                             agent={"public_url": PUBLIC_URL, **(agent or {})})
    images = GatedProvider()
    _named(images, "comfyui")
    if down:
        providers: list[FakeProvider] = [DownProvider("ollama"), DownProvider("comfyui"), DownProvider("coqui")]
    else:
        providers = [_named(FakeProvider(), "ollama"), images, _named(FakeProvider(), "coqui")]
    orders = {Stage.SCRIPT: ("ollama",), Stage.IMAGE: ("comfyui",), Stage.CLIP: (), Stage.VOICE: ("coqui",)}
    renderer = Mp4Renderer(mp4s)
    app = create_app(settings, backends=Backends(providers, orders), renderer=renderer)
    server = await start_server(app)
    try:
        yield RealAgent(server.url, settings.agent.token, images, renderer, session, app)
    finally:
        for gate in images.gates.values():  # never leave a job hanging on a gate at shutdown
            gate.set()
        await server.close()


# ---------------------------------------------------------------------------- Telegram on top


class Harness:
    def __init__(self, tg: FakeTelegram, agent: RealAgent, front: TelegramFrontEnd) -> None:
        self.tg, self.agent, self.front = tg, agent, front

    async def send(self, raw: dict[str, Any]) -> None:
        await self.front.app.update_queue.put(Update.de_json(raw, self.front.app.bot))

    def progress(self, chat: int = ALICE, n: int = 0) -> Shown:
        return [m for m in self.tg.in_chat(chat) if not m.video][n]

    async def wait_job_id(self, chat: int = ALICE, n: int = 0) -> str:
        """The job id, from the Cancel button the bot put under the progress message."""
        await wait_until(lambda: len(self.tg.in_chat(chat)) > n and self.progress(chat, n).reply_markup is not None)
        markup = self.progress(chat, n).reply_markup
        assert markup is not None
        return str(markup["inline_keyboard"][0][0]["callback_data"]).removeprefix("cancel:")


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram()
    await fake.start()
    yield fake
    await fake.stop()


def _flow(agent: RealAgent, tmp_path: Path, public_url: str = PUBLIC_URL) -> Flow:
    return Flow(agent.client(), DeliveryStore(tmp_path / "deliveries.json"), tmp_path / "work", public_url=public_url,
                edit_interval_s=0.05, tick_s=30, activity_every_s=0.05)


@contextlib.asynccontextmanager
async def telegram_on(agent: RealAgent, tg: FakeTelegram, tmp_path: Path,
                      public_url: str = PUBLIC_URL) -> AsyncIterator[Harness]:
    flow = Flow(agent.client(), DeliveryStore(tmp_path / "deliveries.json"), tmp_path / "work", public_url=public_url,
                edit_interval_s=0.05, tick_s=30, activity_every_s=0.05)
    front = TelegramFrontEnd(flow, "123:ABC", base_url=tg.url, admin_ids=(ADMIN,), max_upload_bytes=CLOUD_UPLOAD_BYTES)
    await front.app.initialize()
    await front.startup()
    await front.app.start()
    try:
        yield Harness(tg, agent, front)
    finally:
        await flow.aclose()
        await front.app.stop()
        await front.app.shutdown()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
async def bot(tmp_path: Path, mp4s: dict[tuple[int, int], bytes], session: aiohttp.ClientSession,
              tg: FakeTelegram) -> AsyncIterator[Harness]:
    async with real_agent(tmp_path, mp4s, session) as agent, telegram_on(agent, tg, tmp_path) as harness:
        yield harness


def _reset_clock(iso: str) -> str:
    return f"{dt.datetime.fromisoformat(iso):%H:%M} UTC"


async def test_full_video_to_upload(bot: Harness, mp4s: dict[tuple[int, int], bytes]) -> None:
    bot.agent.images.hold("image")
    await bot.send(command("/video cats in space --aspect 16:9", message_id=42))
    job_id = await bot.wait_job_id()
    job = await bot.agent.job(job_id)
    assert job["request_id"] == f"telegram:{ALICE}:42"
    assert job["user"] == {"platform": "telegram", "id": str(ALICE), "name": "Alice"}
    assert job["options"]["aspect"] == "16:9" and job["options"]["max_bytes"] == CLOUD_UPLOAD_BYTES
    progress = bot.progress()
    assert progress.reply_to == 42

    # the real agent's stage events, as the user reads them: stage names, counts and providers
    # (4 scenes for "short"; scene 2 is held at the gate, the other three are drawn)
    await wait_until(lambda: "🎨 images 3/4" in progress.text)
    # the voice comes right after the script (it fixes the timeline the renderer works to)
    assert progress.text.startswith(
        '🎬 "cats in space" — ✍️ script ✔ (ollama) · 🗣 voice ✔ (coqui) · 🎨 images 3/4 ▰▰▰▱ (comfyui) · 🎞 render')
    assert "⏱ " in progress.text

    bot.agent.images.release("image")
    await wait_until(lambda: bool(bot.tg.videos(ALICE)) and "Here it is" in progress.text)
    video = bot.tg.videos(ALICE)[0]
    assert video.video is not None and video.video["file_size"] == len(mp4s[WIDE])
    assert (video.video["width"], video.video["height"], video.video["duration"]) == (*WIDE, 2)
    assert video.video["supports_streaming"] and video.video["thumbnail_bytes"] > 0
    assert video.reply_to == 42
    lines = video.caption.splitlines()
    assert lines[0] == "🎬 About cats in space · 0:02"  # the title the script provider wrote, the duration
    assert lines[1] == "✍️ ollama · 🎨 comfyui · 🗣 coqui"  # provenance per stage
    assert lines[2] == "💳 5 credits charged · 95 left"
    assert progress.reply_markup is None  # the Cancel button is gone
    assert any(text.startswith('🎬 "cats in space" — ✍️ script ✔ (ollama) · 🗣 voice ✔ (coqui) · 🎨 images 3/4')
               for text in progress.history)
    assert (ALICE, "upload_video") in bot.tg.actions
    assert (await bot.agent.quota("telegram", ALICE))["balance"] == 95
    await wait_until(lambda: bot.front.flow.store.all() == [])


async def test_cancel_by_the_requester_mid_job(bot: Harness) -> None:
    bot.agent.images.hold("image")
    await bot.send(command("/video to be cancelled"))
    job_id = await bot.wait_job_id()
    progress = bot.progress()
    await wait_until(lambda: "🎨 images 3/4" in progress.text)
    assert (await bot.agent.quota("telegram", ALICE))["balance"] == 95  # reserved

    await bot.send(press(f"cancel:{job_id}", user=MALLORY))
    await wait_until(lambda: len(bot.tg.answers) == 1)
    assert "Only the person who asked" in bot.tg.answers[0]["text"]
    assert (await bot.agent.job(job_id))["status"] == "running"

    await bot.send(press(f"cancel:{job_id}", user=ALICE))
    await wait_until(lambda: "Cancelled" in progress.text)
    assert "Your credits were refunded" in progress.text and progress.reply_markup is None
    job = await bot.agent.job(job_id)
    assert job["status"] == "cancelled" and job["refunded"] is True
    assert (await bot.agent.quota("telegram", ALICE))["balance"] == 100
    assert bot.tg.videos(ALICE) == []

    await bot.send(press(f"cancel:{job_id}", user=ALICE))  # a second press on a finished job
    await wait_until(lambda: len(bot.tg.answers) == 3)
    assert "already finished" in bot.tg.answers[2]["text"]


async def test_out_of_credits_names_the_reset_time(tmp_path: Path, mp4s: dict[tuple[int, int], bytes],
                                                   session: aiohttp.ClientSession, tg: FakeTelegram) -> None:
    async with real_agent(tmp_path, mp4s, session, quotas={"daily_credits": 5}) as agent, \
            telegram_on(agent, tg, tmp_path) as h:
        await h.send(command("/video the first one"))
        await wait_until(lambda: bool(tg.videos(ALICE)))
        assert "💳 5 credits charged · 0 left" in tg.videos(ALICE)[0].caption
        await h.send(command("/video one too many"))
        await wait_until(lambda: len(tg.in_chat(ALICE)) == 3 and "out of credits" in tg.in_chat(ALICE)[2].text)
        text = tg.in_chat(ALICE)[2].text
        quota = await agent.quota("telegram", ALICE)
        assert quota["balance"] == 0
        assert f"refill at {_reset_clock(quota['resets_at'])}" in text and "one too many" in text
        assert tg.in_chat(ALICE)[2].reply_markup is None  # no job, so nothing to cancel


@pytest.mark.parametrize(("text", "reason"), [
    ("/video cats\x07in space", "the topic must not contain control characters"),
    ("/video \u200b\u2060", "the topic has no visible characters"),
    ("/video Cats \u202egnp.exe", "the topic must not contain text-direction controls (it has U+202E)"),
    ("/video cats in space --model runway", "model not available here 'runway'; available now: self-hosted"),
    ("/video cats in space --model sora", "model 'sora' is no longer available (OpenAI shut the Sora API down on 2026-09-24)"),
    ("/video cats in space --voice " + "v" * 65, "options.voice is longer than 64 characters"),
])
async def test_an_invalid_request_says_why(bot: Harness, text: str, reason: str) -> None:
    await bot.send(command(text))
    await wait_until(lambda: bool(bot.tg.in_chat(ALICE)) and "can't make that video" in bot.progress().text)
    shown = bot.progress().text
    assert reason in shown and "Nothing was charged" in shown
    assert (await bot.agent.quota("telegram", ALICE))["balance"] == 100


async def test_quota_of_a_new_user_from_the_real_agent_writes_nothing(bot: Harness) -> None:
    await bot.send(command("/quota"))
    await wait_until(lambda: bool(bot.tg.in_chat(ALICE)))
    assert "Credits left: 100 of 100 a day" in bot.tg.in_chat(ALICE)[0].text
    totals = await QuotaLedger(bot.agent.app[DATABASE]).totals()
    assert totals.allowance == 0 and totals.balances == 0  # a GET: no user row, no allowance entry


@pytest.mark.parametrize("voice", ["!v/m1", "+" * 64, "en+" + "a" * 37, "alloy"])
async def test_an_unknown_voice_says_which_voices_to_pick(bot: Harness, voice: str) -> None:
    """Issue 9: a voice name that crashed eSpeak gets a chat message a user can act on, not a dead agent."""
    await bot.send(command(f"/video cats in space --voice {voice}"))
    await wait_until(lambda: bool(bot.tg.in_chat(ALICE)) and "with that voice" in bot.progress().text)
    assert bot.progress().text == (
        f"🗣 I can't make that video with that voice: there is no voice called '{voice[:39] + '…' if len(voice) > 40 else voice}' "
        "here; voices you can pick include fake-voice, other-voice (or leave the voice out for the default one). "
        "Nothing was charged.")
    assert bot.progress().reply_markup is None  # no job, nothing to cancel
    assert (await bot.agent.quota("telegram", ALICE))["balance"] == 100
    await bot.send(command("/video cats in space --voice Other-Voice"))  # a voice the route offers
    job_id = await bot.wait_job_id(n=1)
    assert (await bot.agent.job(job_id))["options"]["voice"] == "Other-Voice"


async def test_an_over_long_topic_is_refused_with_the_agents_limit(bot: Harness) -> None:
    assert BOT_MAX_TOPIC_CHARS == AGENT_MAX_TOPIC_CHARS
    await bot.send(command("/video " + "x" * (AGENT_MAX_TOPIC_CHARS + 1)))
    await wait_until(lambda: bool(bot.tg.in_chat(ALICE)))
    assert f"keep it under {AGENT_MAX_TOPIC_CHARS}" in bot.tg.in_chat(ALICE)[0].text
    # and straight to the agent: the same limit, worded for people
    client = bot.front.flow.client
    with pytest.raises(AgentError) as err:
        await client.submit("r-long", {"platform": "telegram", "id": str(ALICE)}, "x" * 301, {})
    assert err.value.code == "invalid_input" and "the limit is 300" in str(err.value)


async def test_a_long_display_name_does_not_break_the_submit(bot: Harness) -> None:
    raw = command("/video names are hard")
    raw["message"]["from"].update(first_name="A" * 64, last_name="B\u200d" * 32)  # 129 chars with a ZWJ
    bot.agent.images.hold("image")
    await bot.send(raw)
    job_id = await bot.wait_job_id()
    bot.agent.images.release("image")
    await wait_until(lambda: bool(bot.tg.videos(ALICE)))
    job = await bot.agent.job(job_id)
    assert job["status"] == "done" and job["user"]["name"] == ("A" * 64 + " " + "B" * 32)  # cleaned, not refused


async def test_every_backend_down(tmp_path: Path, mp4s: dict[tuple[int, int], bytes],
                                  session: aiohttp.ClientSession, tg: FakeTelegram) -> None:
    async with real_agent(tmp_path, mp4s, session, down=True) as agent, telegram_on(agent, tg, tmp_path) as h:
        await h.send(command("/video nobody home"))
        await wait_until(lambda: bool(tg.in_chat(ALICE)) and "backend is down" in h.progress().text)
        text = h.progress().text
        found = re.search(r"job `([A-Za-z0-9_-]+)`", text)
        assert found is not None, text
        job = await agent.job(found.group(1))  # the id the admin is given is the agent's
        assert job["status"] == "failed" and job["error"]["code"] == "all_providers_failed"
        assert '"nobody home"' in text and "Your credits were refunded" in text
        assert h.progress().reply_markup is None
        assert (await agent.quota("telegram", ALICE))["balance"] == 100


async def test_an_oversized_upload_offers_the_agents_download_link(
        tmp_path: Path, mp4s: dict[tuple[int, int], bytes], session: aiohttp.ClientSession, tg: FakeTelegram) -> None:
    tg.upload_limit_bytes = 500  # Telegram refuses what the bot thought would fit: 413
    async with real_agent(tmp_path, mp4s, session) as agent, \
            telegram_on(agent, tg, tmp_path, public_url="") as h:  # the link can only come from the agent
        await h.send(command("/video big"))
        await wait_until(lambda: bool(tg.in_chat(ALICE)) and "upload limit" in h.progress().text)
        found = re.search(r"/v1/jobs/([A-Za-z0-9_-]+)/video", h.progress().text)
        assert found is not None
        job = await agent.job(found.group(1))
        assert job["result"]["download_url"] == f"{PUBLIC_URL}/v1/jobs/{job['id']}/video"
        assert job["result"]["download_url"] in h.progress().text and tg.videos(ALICE) == []


# ---------------------------------------------------------------------------- the client, code by code


async def test_too_many_jobs_and_a_full_queue_are_told_apart(tmp_path: Path, mp4s: dict[tuple[int, int], bytes],
                                                             session: aiohttp.ClientSession) -> None:
    async with real_agent(tmp_path, mp4s, session, quotas={"max_in_flight": 1},
                          agent={"workers": 1, "queue_size": 1, "busy_retry_after_s": 45}) as agent:
        agent.images.hold("image")
        client = agent.client()
        first = await client.submit("r1", {"platform": "telegram", "id": "1"}, "one", {})
        with pytest.raises(TooManyJobs) as busy_user:
            await client.submit("r2", {"platform": "telegram", "id": "1"}, "two", {})
        assert busy_user.value.code == "too_many_jobs" and busy_user.value.retry_after_s == 45
        assert "already have as many videos on the way" in wording.submit_failed(busy_user.value, "two")

        await wait_until(lambda: agent.images.entered["image"].is_set())  # the only worker is busy
        await client.submit("r3", {"platform": "telegram", "id": "2"}, "three", {})  # fills the queue
        with pytest.raises(AgentBusy) as full:
            await client.submit("r4", {"platform": "telegram", "id": "3"}, "four", {})
        assert full.value.code == "queue_full" and full.value.retry_after_s == 45
        text = wording.submit_failed(full.value, "four")
        assert "queue is full" in text and "45 s" in text and "Nothing was charged" in text
        assert (await client.job(first.id)).status == "running"


async def test_events_resume_after_last_event_id_and_expired_videos(
        tmp_path: Path, mp4s: dict[tuple[int, int], bytes], session: aiohttp.ClientSession) -> None:
    async with real_agent(tmp_path, mp4s, session) as agent:
        client = agent.client()
        job = await client.submit("r1", {"platform": "discord", "id": "9"}, "resume me", {"aspect": "1:1"})
        assert job.status is JobStatus.QUEUED and job.credits.charged == 0 and job.cost == 5  # reserved, not charged
        everything = [e async for e in client.events(job.id)]
        seqs = [e.seq for e in everything]
        assert seqs == list(range(1, len(seqs) + 1)) and everything[-1].terminal
        assert everything[0].stage == "queued" and everything[0].position == 1
        done = everything[-1]
        assert done.result is not None and done.credits_left == 95 and job_from_event(done).cost == 5
        assert job_from_event(done).download_url == f"{PUBLIC_URL}/v1/jobs/{job.id}/video"
        status, _, headers = await agent.raw("GET", f"/v1/jobs/{job.id}/events", headers={"Last-Event-ID": "3"})
        assert status == 200 and headers["Content-Type"].startswith("text/event-stream")
        resumed = [e async for e in client.events(job.id, last_event_id=3)]
        assert [e.seq for e in resumed] == seqs[3:]  # no gap, no duplicate

        final = await client.job(job.id)
        assert (final.cost, final.credits_left, final.refunded, final.video_expired) == (5, 95, False, False)
        agent.app[RUNNER].video_file(job.id).unlink()  # as retention would
        with pytest.raises(VideoExpired):
            await client.download(job.id, tmp_path / "v.mp4")
        assert "already been deleted" in wording.expired(final)
        with pytest.raises(AgentError) as finished:
            await client.cancel(job.id)
        assert finished.value.code == "already_finished" and finished.value.status == 409


# ---------------------------------------------------------------------------- Discord on top


async def test_discord_full_video_against_the_real_agent(
        tmp_path: Path, mp4s: dict[tuple[int, int], bytes], session: aiohttp.ClientSession,
        monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    fake = FakeDiscord(clock)
    await fake.start()
    monkeypatch.setattr(discord.http.Route, "BASE", f"{fake.url}/api/v10")
    async with real_agent(tmp_path, mp4s, session) as agent:
        flow = _flow(agent, tmp_path)
        bot = ReelDiscordBot(flow, guild_id=int(GUILD), clock=clock)
        await bot.login("fake-token")
        try:
            agent.images.hold("image")
            raw = interaction("video", [{"type": 3, "name": "topic", "value": "cats in space"},
                                        {"type": 3, "name": "aspect", "value": "16:9"}])
            fake.expect(raw["id"], raw["token"], raw["channel_id"])
            bot._connection.parse_interaction_create(raw)
            await wait_until(lambda: fake.interactions[raw["token"]].original is not None)
            original = fake.interactions[raw["token"]].original
            assert original is not None
            await wait_until(lambda: "🎨 images 3/4" in original.content and bool(original.components))
            job_id = original.components[0]["components"][0]["custom_id"].removeprefix("reelbot:cancel:")
            job = await agent.job(job_id)
            assert job["request_id"] == f"discord:{raw['id']}" and job["options"]["max_bytes"] == 10 * 1024 * 1024
            assert "✍️ script ✔ (ollama)" in original.content and "(comfyui)" in original.content

            agent.images.release("image")
            await wait_until(lambda: bool(original.attachments))
            assert original.attachments[0]["size"] == len(mp4s[WIDE])
            assert original.content.splitlines() == [
                "🎬 About cats in space · 0:02", "✍️ ollama · 🎨 comfyui · 🗣 coqui", "💳 5 credits charged · 95 left"]
            assert "reelbot:cancel" not in str(original.components)  # the Cancel button is gone
            await wait_until(lambda: flow.store.all() == [])
        finally:
            await flow.aclose()
            await bot.close()
            await fake.stop()


# ---------------------------------------------------------------------------- the fake is the real one


def _keys(value: Any) -> set[str]:
    return set(value) if isinstance(value, dict) else set()


async def _fake_session(fake: FakeAgent, session: aiohttp.ClientSession, method: str, path: str,
                        body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any, dict[str, str]]:
    async with session.request(method, fake.url + path, json=body,
                               headers={"Authorization": f"Bearer {fake.token}", **(headers or {})}) as resp:
        if resp.content_type == "text/event-stream":
            return resp.status, _sse_events(await resp.text()), dict(resp.headers)
        return resp.status, await resp.json(content_type=None), dict(resp.headers)


def _by_stage(events: list[tuple[int | None, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for seq, event in events:
        assert seq == event["seq"]  # SSE `id:` is the event's seq
        out.setdefault(event["stage"], event)
    return out


async def test_fake_agent_matches_the_real_one(tmp_path: Path, mp4s: dict[tuple[int, int], bytes],
                                               session: aiohttp.ClientSession, tiny_mp4: bytes) -> None:
    """Every shape the bot reads, side by side: the fake must send the keys the real agent sends."""
    fake = FakeAgent()
    fake.video = tiny_mp4
    await fake.start()
    user = {"platform": "telegram", "id": "7", "name": "Ann"}
    try:
        async with real_agent(tmp_path, mp4s, session, quotas={"daily_credits": 5}) as real, \
                real_agent(tmp_path, mp4s, session, down=True) as down:
            fake.prices["self-hosted"] = 5
            fake.daily = 5

            async def both(method: str, path: str, body: Any = None, *, job: tuple[str, str] | None = None,
                           headers: dict[str, str] | None = None) -> tuple[tuple[int, Any, dict[str, str]], ...]:
                real_path = path.replace("{id}", job[0]) if job else path
                fake_path = path.replace("{id}", job[1]) if job else path
                return (await real.raw(method, real_path, body, headers),
                        await _fake_session(fake, session, method, fake_path, body, headers))

            # submit: 202 and the job
            (rs, real_job, _), (fs, fake_job, _) = await both("POST", "/v1/jobs", {
                "request_id": "r1", "user": user, "topic": "cats in space", "options": {"aspect": "16:9"}})
            assert rs == fs == 202 and _keys(real_job) == _keys(fake_job)
            assert real_job["options"].keys() == fake_job["options"].keys()
            ids = (real_job["id"], fake_job["id"])
            await fake.run_default(ids[1])

            # the event stream of a done job: framing, per-stage keys, the terminal event and its result
            (rs, real_events, rh), (fs, fake_events, fh) = await both("GET", "/v1/jobs/{id}/events", job=ids)
            assert rs == fs == 200 and rh["Content-Type"] == fh["Content-Type"] == "text/event-stream"
            real_stages, fake_stages = _by_stage(real_events), _by_stage(fake_events)
            assert set(real_stages) == set(fake_stages)
            for stage, event in real_stages.items():
                assert _keys(event) == _keys(fake_stages[stage]), stage
            assert _keys(real_stages["done"]["result"]) == _keys(fake_stages["done"]["result"])

            # the done job
            (_, real_done, _), (_, fake_done, _) = await both("GET", "/v1/jobs/{id}", job=ids)
            assert real_done["status"] == fake_done["status"] == "done"
            assert _keys(real_done) == _keys(fake_done) and _keys(real_done["result"]) == _keys(fake_done["result"])
            assert _keys(real_done["credits"]) == _keys(fake_done["credits"])

            # refusals: the error envelope, its extra fields and the Retry-After header
            cases = [
                ("POST", "/v1/jobs", {"request_id": "r2", "user": user, "topic": "more cats"}),  # no credits left
                ("POST", "/v1/jobs", {"request_id": "r3", "user": user, "topic": "x", "options": {"model": "nope"}}),
                ("POST", "/v1/jobs", {"request_id": "r4", "user": user, "topic": "x", "options": {"colour": "red"}}),
                ("DELETE", "/v1/jobs/{id}", None),  # already finished
                ("GET", "/v1/jobs/does-not-exist", None),
            ]
            for method, path, body in cases:
                (rs, rb, rh), (fs, fb, fh) = await both(method, path, body, job=ids)
                assert (rs, rb["error"]["code"]) == (fs, fb["error"]["code"]), (path, rb, fb)
                assert _keys(rb["error"]) == _keys(fb["error"]), (path, rb, fb)
                assert ("Retry-After" in rh) == ("Retry-After" in fh)

            # a cancelled job (while queued on the real agent, while running on the fake: same shapes)
            fake.prices["self-hosted"] = 0
            real.images.hold("image")
            cancel_user = {"platform": "telegram", "id": "8"}
            (_, rj, _), (_, fj, _) = await both("POST", "/v1/jobs", {"request_id": "c", "user": cancel_user,
                                                                     "topic": "cancel me"})
            cancelled = (rj["id"], fj["id"])
            await wait_until(lambda: real.images.entered["image"].is_set())
            (rs, real_cancel, _), (fs, fake_cancel, _) = await both("DELETE", "/v1/jobs/{id}", job=cancelled)
            assert rs == fs == 202 and real_cancel["status"] == fake_cancel["status"] == "cancelled"
            assert _keys(real_cancel) == _keys(fake_cancel) and _keys(real_cancel["error"]) == _keys(fake_cancel["error"])
            (_, real_events, _), (_, fake_events, _) = await both("GET", "/v1/jobs/{id}/events", job=cancelled)
            real_last, fake_last = real_events[-1][1], fake_events[-1][1]
            assert _keys(real_last) == _keys(fake_last) and _keys(real_last["error"]) == _keys(fake_last["error"])
            (rs, rb, _), (fs, fb, _) = await both("GET", "/v1/jobs/{id}/video", job=cancelled)
            assert (rs, rb["error"]["code"]) == (fs, fb["error"]["code"]) == (404, "not_found")

            # a failed job: every backend down
            failing = await down.raw("POST", "/v1/jobs", {"request_id": "f", "user": user, "topic": "down"})
            _, fake_failing, _ = await _fake_session(fake, session, "POST", "/v1/jobs",
                                                     {"request_id": "f", "user": user, "topic": "down"})
            await fake.finish(fake_failing["id"], "failed",
                              {"code": "all_providers_failed", "message": "no script service could make it"})
            _, real_failed_events, _ = await down.raw("GET", f"/v1/jobs/{failing[1]['id']}/events")
            _, fake_failed_events, _ = await _fake_session(fake, session, "GET", f"/v1/jobs/{fake_failing['id']}/events")
            real_last, fake_last = real_failed_events[-1][1], fake_failed_events[-1][1]
            assert real_last["status"] == fake_last["status"] == "failed"
            assert _keys(real_last) == _keys(fake_last) and _keys(real_last["error"]) == _keys(fake_last["error"])
            _, real_failed, _ = await down.raw("GET", f"/v1/jobs/{failing[1]['id']}")
            _, fake_failed, _ = await _fake_session(fake, session, "GET", f"/v1/jobs/{fake_failing['id']}")
            assert _keys(real_failed) == _keys(fake_failed) and _keys(real_failed["error"]) == _keys(fake_failed["error"])

            # quota
            (_, real_quota, _), (_, fake_quota, _) = await both("GET", "/v1/users/telegram/7/quota")
            assert _keys(real_quota) == _keys(fake_quota)
            assert _keys(next(iter(real_quota["prices"].values()))) == _keys(next(iter(fake_quota["prices"].values())))
    finally:
        await fake.stop()


async def test_a_full_disk_is_told_as_such_not_as_a_busy_queue_or_dead_backends(
        tmp_path: Path, mp4s: dict[tuple[int, int], bytes], session: aiohttp.ClientSession) -> None:
    import msgspec

    from agent.service.app import DATABASE
    from bot.wire import Credits, ErrorCode, JobError

    async with real_agent(tmp_path, mp4s, session, agent={"busy_retry_after_s": 45}) as agent:
        client = agent.client()
        await agent.app[DATABASE].simulate_full_disk(True)
        with pytest.raises(AgentBusy) as full:
            await client.submit("r1", {"platform": "telegram", "id": "1"}, "one", {})
        assert full.value.code == "storage_unavailable" and full.value.retry_after_s
        text = wording.submit_failed(full.value, "one")
        assert "out of storage space" in text and "Nothing was charged" in text and "queue" not in text
        await agent.app[DATABASE].simulate_full_disk(False)

        job = await client.submit("r2", {"platform": "telegram", "id": "1"}, "two", {})
        failed = msgspec.structs.replace(
            job, status=JobStatus.FAILED, credits=Credits(reserved=5, charged=0, refunded=5),
            error=JobError(code=ErrorCode.DISK_FULL, message="out of disk space", refunded=True, credits_refunded=5))
        text = wording.job_failed(failed)
        assert "out of storage space" in text and "backend is down" not in text
