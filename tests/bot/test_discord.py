"""discord.py fed real-shaped INTERACTION_CREATE payloads; its REST calls land on a fake on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from pathlib import Path

import discord
import pytest

from bot.agent_client import AgentClient
from bot.store import DeliveryStore

from bot.discord_bot import ReelDiscordBot
from bot.flow import Flow
from tests.bot.fake_agent import FakeAgent
from tests.bot.fake_discord import (
    ADMIN,
    CHANNEL,
    GUILD,
    MANAGER_PERMS,
    MEMBER_PERMS,
    STRANGER,
    USER,
    FakeDiscord,
    Posted,
    fixture,
    interaction,
)
from tests.support.clock import FakeClock
from tests.support.waiting import wait_until


class Harness:
    def __init__(self, fake: FakeDiscord, agent: FakeAgent, bot: ReelDiscordBot, clock: FakeClock) -> None:
        self.fake, self.agent, self.bot, self.clock = fake, agent, bot, clock

    def send(self, raw: dict[str, Any]) -> dict[str, Any]:
        self.fake.expect(raw["id"], raw["token"], raw["channel_id"])
        self.bot._connection.parse_interaction_create(raw)  # as the gateway would
        return raw

    def video(self, topic: str, **options: str) -> dict[str, Any]:
        opts = [{"type": 3, "name": "topic", "value": topic}] + [
            {"type": 3, "name": k, "value": v} for k, v in options.items()]
        return self.send(interaction("video", opts))

    def original(self, raw: dict[str, Any]) -> Posted:
        posted = self.fake.interactions[raw["token"]].original
        assert posted is not None
        return posted

    def press_cancel(self, job_id: str, user: str, perms: str = MEMBER_PERMS) -> dict[str, Any]:
        data = {"custom_id": f"reelbot:cancel:{job_id}", "component_type": 2}
        raw = interaction("", user=user, perms=perms, type_=3, data=data)
        raw["message"] = fixture("discord_message_response.json")
        return self.send(raw)


@pytest.fixture
async def discord_bot(flow: Flow, agent: FakeAgent, clock: FakeClock,
                      monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Harness]:
    fake = FakeDiscord(clock)
    await fake.start()
    monkeypatch.setattr(discord.http.Route, "BASE", f"{fake.url}/api/v10")
    bot = ReelDiscordBot(flow, guild_id=int(GUILD), admin_ids=(int(ADMIN),), clock=clock)
    await bot.login("fake-token")
    try:
        yield Harness(fake, agent, bot, clock)
    finally:
        await flow.aclose()
        await bot.close()
        await fake.stop()


def _ids(posted: Posted) -> list[str]:
    return [c["custom_id"] for row in posted.components for c in row.get("components", [])]


def _button(posted: Posted) -> str:
    return posted.components[0]["components"][0]["custom_id"] if posted.components else ""


async def test_commands_are_synced_to_the_guild(discord_bot: Harness) -> None:
    names = {c["name"]: c for c in discord_bot.fake.synced}
    assert set(names) == {"video", "quota", "status"}
    topic = names["video"]["options"][0]
    assert topic["name"] == "topic" and topic["max_length"] == 300 and topic["required"]
    aspect = next(o for o in names["video"]["options"] if o["name"] == "aspect")
    assert [c["value"] for c in aspect["choices"]] == ["9:16", "16:9", "1:1"]


async def test_full_video_to_upload(discord_bot: Harness, tiny_mp4: bytes) -> None:
    h = discord_bot
    raw = h.video("a red fox in snow", aspect="16:9")
    job = await h.agent.wait_job()
    assert job.request_id == f"discord:{raw['id']}" and job.options.max_bytes == 10485760
    assert ("POST", f"/api/v10/interactions/{raw['id']}/{raw['token']}/callback", 200) in h.fake.calls
    original = h.original(raw)
    await wait_until(lambda: _button(original) == f"reelbot:cancel:{job.id}")
    assert original.content.startswith('🎬 "a red fox in snow"')
    await h.agent.run_default(job.id)
    await wait_until(lambda: bool(original.attachments))
    assert original.attachments[0]["size"] == len(tiny_mp4)
    assert original.content.startswith("🎬 All about a red fox in snow") and "✍️ ollama" in original.content
    assert _ids(original) == [f"reelbot:studio:d:{c}:{job.id}:{USER}" for c in ("r1", "r2", "r3", "v", "tall", "square",
                                                                           "again")]  # Cancel gone


async def test_progress_moves_to_a_channel_message_before_15_minutes(discord_bot: Harness) -> None:
    h = discord_bot
    raw = h.video("a long render")
    job = await h.agent.wait_job()
    original = h.original(raw)
    await h.agent.emit(job.id, stage="script", provider="ollama")
    await wait_until(lambda: "script" in original.content)
    h.clock.advance(14 * 60)  # past the 13-minute handoff, before the token dies
    await h.agent.emit(job.id, stage="image", provider="comfyui", done=1, total=3)
    await wait_until(lambda: bool(h.fake.channel_messages))
    moved = next(iter(h.fake.channel_messages.values()))
    await wait_until(lambda: "progress moved" in original.content)
    # a link into the server (issue 14, defect 2: it used to be /channels/@me/..., which opens nowhere)
    assert f"https://discord.com/channels/{GUILD}/{CHANNEL}/{moved.id}" in original.content
    assert _button(moved) == f"reelbot:cancel:{job.id}"
    h.clock.advance(10 * 60)  # the interaction token is dead now
    await h.agent.run_default(job.id)
    await wait_until(lambda: bool(moved.attachments))
    assert moved.content.startswith("🎬 All about a long render")
    assert not any(status == 401 for _, _, status in h.fake.calls)  # never touched the dead token
    await wait_until(lambda: h.bot.flow.store.all() == [])  # removed right after the upload


async def test_a_token_that_died_early_still_delivers(discord_bot: Harness) -> None:
    h = discord_bot
    raw = h.video("late")
    job = await h.agent.wait_job()
    await wait_until(lambda: _button(h.original(raw)) != "")
    h.fake.interactions[raw["token"]].created -= 16 * 60  # Discord expired it early (clock skew)
    await h.agent.run_default(job.id)
    await wait_until(lambda: any(m.attachments for m in h.fake.channel_messages.values()))
    assert any(status == 401 for _, _, status in h.fake.calls)


async def test_cancel_by_a_stranger_then_the_requester(discord_bot: Harness) -> None:
    h = discord_bot
    raw = h.video("cancel me")
    job = await h.agent.wait_job()
    stranger = h.press_cancel(job.id, STRANGER)
    await wait_until(lambda: h.fake.interactions[stranger["token"]].original is not None)
    reply = h.original(stranger)
    assert reply.flags & 64 and "Only the person who asked" in reply.content
    assert h.agent.jobs[job.id].status != "cancelled"
    mine = h.press_cancel(job.id, USER)
    await wait_until(lambda: "Cancelled" in h.original(raw).content)
    assert "Nothing was charged" in h.original(raw).content and h.original(mine).flags & 64  # free route


async def test_a_manager_can_cancel(discord_bot: Harness) -> None:
    h = discord_bot
    raw = h.video("manager cancels")
    job = await h.agent.wait_job()
    h.press_cancel(job.id, STRANGER, perms=MANAGER_PERMS)
    await wait_until(lambda: "Cancelled" in h.original(raw).content)


async def test_429_storm_is_obeyed(discord_bot: Harness) -> None:
    h = discord_bot
    raw = h.video("storm")
    job = await h.agent.wait_job()
    h.fake.flood_next = 4
    await h.agent.run_default(job.id)
    await wait_until(lambda: bool(h.original(raw).attachments), timeout_s=15)
    assert sum(1 for *_, s in h.fake.calls if s == 429) == 4


async def test_out_of_credits(discord_bot: Harness) -> None:
    h = discord_bot
    h.agent.credits[USER] = 0
    raw = h.video("pricey", model="sora")
    await wait_until(lambda: h.fake.interactions[raw["token"]].original is not None
                and "out of credits" in h.original(raw).content)


async def test_oversized_video(discord_bot: Harness) -> None:
    h = discord_bot
    h.fake.upload_limit_bytes = 500  # the server refuses what the interaction said would fit
    raw = h.video("huge")
    job = await h.agent.wait_job()
    await h.agent.run_default(job.id)
    await wait_until(lambda: "upload limit" in h.original(raw).content)
    assert f"https://reels.example/v1/jobs/{job.id}/video" in h.original(raw).content
    assert ("PATCH", f"/api/v10/webhooks/775799577604522054/{raw['token']}/messages/@original", 413) in h.fake.calls


async def test_status_is_admin_only_with_a_coloured_embed(discord_bot: Harness) -> None:
    h = discord_bot
    denied = h.send(interaction("status"))
    await wait_until(lambda: h.fake.interactions[denied["token"]].original is not None)
    assert h.original(denied).flags & 64 and "🔒" in h.original(denied).content
    allowed = h.send(interaction("status", user=ADMIN))
    await wait_until(lambda: h.fake.interactions[allowed["token"]].original is not None
                and bool(h.original(allowed).embeds))
    embed = h.original(allowed).embeds[0]
    assert h.original(allowed).flags & 64
    assert embed["title"] == "SELF-HOSTED" and embed["color"] == discord.Colour.green().value
    assert "🔴 **comfyui** — connection refused" in embed["description"]
    h.agent.status_body.mode = "offline"
    manager = h.send(interaction("status", user=STRANGER, perms=MANAGER_PERMS))
    await wait_until(lambda: h.fake.interactions[manager["token"]].original is not None
                and bool(h.original(manager).embeds))
    # offline mode is the built-in tier working, not an alarm (issue 14, defect 6)
    assert h.original(manager).embeds[0]["color"] == discord.Colour.light_grey().value


async def test_quota_is_ephemeral(discord_bot: Harness) -> None:
    h = discord_bot
    raw = h.send(interaction("quota"))
    await wait_until(lambda: h.fake.interactions[raw["token"]].original is not None
                and "Credits left" in h.original(raw).content)
    assert h.original(raw).flags & 64


async def test_a_video_whose_scenes_became_stills_says_so(discord_bot: Harness) -> None:
    h = discord_bot
    h.agent.stills_note = "3 of 5 scenes are stills: ComfyUI lacks AnimateDiff-Evolved"
    raw = h.video("a red fox in snow", mode="video")
    job = await h.agent.wait_job()
    await h.agent.run_default(job.id)
    original = h.original(raw)
    await wait_until(lambda: bool(original.attachments))
    assert "\n🖼 3 of 5 scenes are stills: ComfyUI lacks AnimateDiff-Evolved\n💳 " in original.content


async def test_japanese_title_keeps_its_letters_and_the_locale_reaches_the_agent(discord_bot: Harness) -> None:
    # Discord used to get "-------.mp4" for a Japanese topic; interaction.locale ("en-US" in the
    # fixture) is the agent's fallback guess, and the language option overrides it
    h = discord_bot
    raw = h.video("猫と宇宙 — 星の旅")
    job = await h.agent.wait_job()
    assert job.options.language == "en-US"
    await h.agent.run_default(job.id)
    original = h.original(raw)
    await wait_until(lambda: bool(original.attachments))
    assert original.attachments[0]["filename"] == "猫と宇宙 — 星の旅.mp4"
    h.video("猫と宇宙", language="ja")
    assert (await h.agent.wait_job(2)).options.language == "ja"


async def test_a_restart_keeps_editing_the_original_response(discord_bot: Harness, client: AgentClient,
                                                            tmp_path: Path) -> None:
    """Issue 14, defect 3: after a restart the original response used to stay frozen ("render 3%", a live
    Cancel) while progress went to a new channel message. The saved token keeps editing it."""
    h = discord_bot
    raw = h.video("survive a restart")
    job = await h.agent.wait_job()
    original = h.original(raw)
    await h.agent.emit(job.id, stage="script", provider="ollama", stage_done=True)
    await wait_until(lambda: "script ✔" in original.content)
    await h.bot.flow.aclose()
    await h.bot.close()

    store = DeliveryStore(tmp_path / "deliveries.json")
    await store.load()
    flow = Flow(client, store, tmp_path / "work", edit_interval_s=0.05, tick_s=30)
    second = ReelDiscordBot(flow, guild_id=int(GUILD), clock=h.clock, sync_commands=False)
    await second.login("fake-token")  # its setup_hook resumes the delivery
    try:
        await h.agent.emit(job.id, stage="render", provider="local", done=40, total=100)
        await wait_until(lambda: "40%" in original.content)
        assert _button(original) == f"reelbot:cancel:{job.id}"
        await h.agent.finish(job.id)
        await wait_until(lambda: bool(original.attachments))
        assert "reelbot:cancel" not in str(original.components) and h.fake.channel_messages == {}
    finally:
        await flow.aclose()
        await second.close()
