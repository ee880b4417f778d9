"""Discord front-end (discord.py app commands): a thin adapter over `bot.flow`.

`/video` defers within the 3-second window, then edits the original response while its token lives.
Interaction tokens die after 15 minutes, so a job still running after `handoff_after_s` moves its
progress (and the delivery) to a normal channel message. The upload limit is the interaction's
`attachment_size_limit` (discord.py: `Interaction.filesize_limit`), else the guild's, else 10 MiB.
No privileged intents: slash commands and buttons arrive as interactions.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot import studio, wording
from bot.agent_client import AgentError
from agent.choices import Aspect, Length  # stdlib only, like agent.protocol
from bot.flow import (
    Flow,
    NotAllowed,
    ParseError,
    UploadTooLarge,
    agent_user_name,
    make_request,
    parse_narrations,
    request_id_for,
    upload_name,
)
from bot.media import VideoMeta
from bot.store import Delivery
from bot.throttle import MessageGone, RetryLater

__all__ = ["ReelDiscordBot", "DiscordSurface", "VideoCommands", "DEFAULT_UPLOAD_BYTES", "STATUS_COLOURS"]

log = logging.getLogger(__name__)

DEFAULT_UPLOAD_BYTES = 10 * 1024 * 1024  # Discord's default per-file limit
CANCEL_PREFIX = "reelbot:cancel:"
TOKEN_EXPIRED = 50027  # "Invalid webhook token": the 15 minutes are over
UNKNOWN_MESSAGE = 10008
TOKEN_LIFETIME_S = 15 * 60
TOO_LARGE = 40005
STATUS_COLOURS = {
    "self-hosted": discord.Colour.green(), "cloud": discord.Colour.gold(), "offline": discord.Colour.light_grey(),
}


REVIEW_PREFIX = "reelbot:review:"
EDIT_PREFIX = "reelbot:edit:"  # the Edit modal's custom_id
NARRATIONS = "narrations"  # the modal's text input


def _review_view(job_id: str) -> discord.ui.View:
    """Render, Rewrite, Edit, Cancel under a script in review; custom ids carry the job, so they work
    after a restart (handled in VideoCommands.on_interaction, not by a stored View)."""
    view = discord.ui.View(timeout=None)
    for label, emoji, style, step in (("Render", "▶", discord.ButtonStyle.success, "approve"),
                                      ("Rewrite", "🔁", discord.ButtonStyle.secondary, "rewrite"),
                                      ("Edit", "✏️", discord.ButtonStyle.primary, "edit")):
        view.add_item(discord.ui.Button(label=label, emoji=emoji, style=style,
                                        custom_id=f"{REVIEW_PREFIX}{step}:{job_id}"))
    view.add_item(discord.ui.Button(label="Cancel", emoji="✖", style=discord.ButtonStyle.danger,
                                    custom_id=f"{CANCEL_PREFIX}{job_id}"))
    return view


def _edit_modal(job_id: str, narrations: list[str]) -> discord.ui.Modal:
    modal = discord.ui.Modal(title="Edit the script", custom_id=f"{EDIT_PREFIX}{job_id}")
    modal.add_item(discord.ui.TextInput(
        label=f"Narration: {len(narrations)} lines, one per scene", style=discord.TextStyle.paragraph,
        custom_id=NARRATIONS, default="\n".join(narrations)[:4000], max_length=4000))
    return modal


def _modal_value(components: Any, custom_id: str) -> str | None:
    """A submitted modal's text input, by custom_id, wherever it sits (action rows, or label components)."""
    if isinstance(components, dict):
        if components.get("custom_id") == custom_id and "value" in components:
            return str(components["value"])
        components = list(components.get("components", [])) + ([components["component"]]
                                                              if "component" in components else [])
    if isinstance(components, list):
        for item in components:
            found = _modal_value(item, custom_id)
            if found is not None:
                return found
    return None


STUDIO_PREFIX = "reelbot:studio:"  # after delivery (bot.studio): <kind>:<code>:<job>:<requester>


def _actions_view(actions: Sequence[Sequence[tuple[str, str]]], tail: str) -> discord.ui.View | None:
    """The buttons under a delivered video; rows of at most 5, as Discord allows."""
    if not actions:
        return None
    view = discord.ui.View(timeout=None)
    row = 0
    for buttons in actions:
        for start in range(0, len(buttons), 5):
            for label, code in buttons[start:start + 5]:
                view.add_item(discord.ui.Button(label=label, style=discord.ButtonStyle.secondary, row=min(row, 4),
                                                custom_id=f"{STUDIO_PREFIX}d:{code}:{tail}"))
            row += 1
    return view


def _cancel_view(job_id: str) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(discord.ui.Button(label="Cancel", emoji="✖", style=discord.ButtonStyle.danger,
                                    custom_id=f"{CANCEL_PREFIX}{job_id}"))
    return view


def _resume_keys(interaction: discord.Interaction, callback: Any) -> dict[str, Any]:
    """What a restarted bot needs to keep editing the original response (the token lives 15 minutes;
    the delivery store is the bot's own file) and to link to a channel message inside the server."""
    original = getattr(callback, "message_id", None)
    keys: dict[str, Any] = {"guild_id": interaction.guild_id}
    if original:
        keys.update(token=interaction.token, app_id=interaction.application_id, original_id=original)
    return keys


class DiscordSurface:
    """The progress message: the interaction's original response, then (after handoff) a channel message."""

    platform = "discord"
    video_replaces_progress = True  # the progress message becomes the video message

    def __init__(
        self,
        bot: ReelDiscordBot,
        delivery: Delivery,
        max_upload_bytes: int,
        interaction: discord.Interaction | None = None,
    ) -> None:
        self._bot = bot
        self._delivery = delivery
        self._interaction = interaction
        # After a restart there is no Interaction object, but the saved token (valid for 15 minutes
        # from the command) still edits the original response through the interaction's webhook.
        extra = delivery.extra
        self._webhook: discord.Webhook | None = None
        if interaction is None and extra.get("token") and extra.get("app_id") and extra.get("original_id"):
            self._webhook = discord.Webhook.partial(int(extra["app_id"]), str(extra["token"]), client=bot)
        self.max_upload_bytes = max_upload_bytes

    @property
    def on_interaction(self) -> bool:
        return self._delivery.message_id is None

    def _has_token(self) -> bool:
        return self._interaction is not None or self._webhook is not None

    async def _edit_original(self, **fields: Any) -> None:
        if self._interaction is not None:
            await self._interaction.edit_original_response(**fields)
        else:
            assert self._webhook is not None
            await self._webhook.edit_message(int(self._delivery.extra["original_id"]), **fields)

    def _drop_token(self) -> None:
        self._interaction = self._webhook = None

    def jump_url(self, message_id: int) -> str:
        """discord.py's Message.jump_url says `@me` when the guild is not cached (no gateway guild
        events here), which does not open in a server: build the link with the saved guild id."""
        guild = self._delivery.extra.get("guild_id") or "@me"
        return f"https://discord.com/channels/{guild}/{self._delivery.chat_id}/{message_id}"

    async def _handoff(self, text: str, view: discord.ui.View | None) -> None:
        """Post the progress as a channel message; the original response points to it."""
        d = self._delivery
        channel = self._bot.get_partial_messageable(d.chat_id)
        message = await channel.send(text, view=view or discord.utils.MISSING)
        d.message_id = message.id
        await self._bot.flow.store.update(d.job_id, message_id=message.id)
        log.info("job %s: moved progress to channel message %s", d.job_id, message.id)
        if self._has_token() and self._age_s() < TOKEN_LIFETIME_S - 30:
            try:
                await self._edit_original(content=f"⏩ Still working — progress moved to {self.jump_url(message.id)}",
                                          view=None)
            except discord.HTTPException:
                pass  # cosmetic
        self._drop_token()

    def _age_s(self) -> float:
        return self._bot.clock() - float(self._delivery.extra.get("acked_at", 0))

    def _token_expired(self) -> bool:
        """Time to move: past the handoff point, well before the 15-minute token dies."""
        return self._age_s() >= min(self._bot.handoff_after_s, TOKEN_LIFETIME_S - 30)

    def _progress_message(self) -> discord.PartialMessage:
        """The channel message carrying the progress, once it is off the interaction response."""
        message_id = self._delivery.message_id
        assert message_id is not None, "progress is still on the interaction response"
        return self._bot.get_partial_messageable(self._delivery.chat_id).get_partial_message(message_id)

    async def _ensure_target(self, text: str, view: discord.ui.View | None) -> bool:
        """Hand off when the token is (nearly) spent. True when `text` was already posted doing so."""
        if self.on_interaction and (not self._has_token() or self._token_expired()):
            await self._handoff(text, view)
            return True
        return False

    async def edit(self, text: str, *, cancellable: bool, review: bool = False) -> None:
        job_id = self._delivery.job_id
        view = _review_view(job_id) if review else _cancel_view(job_id) if cancellable else None
        try:
            if await self._ensure_target(text, view):
                return
            if self.on_interaction:
                try:
                    await self._edit_original(content=text, view=view)
                except discord.HTTPException as exc:
                    if exc.code != TOKEN_EXPIRED:
                        raise
                    self._drop_token()  # the token died early: move now
                    await self._handoff(text, view)
                return
            await self._progress_message().edit(content=text, view=view)
        except discord.HTTPException as exc:
            if exc.status == 429:
                raise RetryLater(2.0) from exc  # discord.py already retried; back off harder
            if exc.code == UNKNOWN_MESSAGE or isinstance(exc, discord.Forbidden):
                raise MessageGone(str(exc)) from exc
            raise

    async def send_video(self, path: Path, caption: str, meta: VideoMeta,
                         actions: Sequence[Sequence[tuple[str, str]]] = ()) -> None:
        view = _actions_view(actions, f"{self._delivery.job_id}:{self._delivery.requester_id}")
        file = discord.File(path, filename=upload_name(self._delivery.topic), description=self._delivery.topic[:1000])
        try:
            await self._ensure_target("🎬 uploading…", None)
            if self.on_interaction:
                await self._edit_original(content=caption, attachments=[file], view=view)
            else:
                await self._progress_message().edit(content=caption, attachments=[file], view=view)
        except discord.HTTPException as exc:
            if exc.status == 413 or exc.code == TOO_LARGE:
                raise UploadTooLarge(str(exc)) from exc
            raise
        finally:
            file.close()

    async def activity(self) -> None:
        """Discord has no "uploading video" status for bots; the progress text says it."""

    def min_edit_interval_s(self) -> float:
        return 0.0  # discord.py waits out Discord's per-route buckets itself


class VideoCommands(commands.Cog):
    """/video, /quota, /status and the Cancel button."""

    def __init__(self, bot: ReelDiscordBot) -> None:
        self.bot = bot
        self.flow = bot.flow
        self._models: list[str] = []

    def is_admin(self, interaction: discord.Interaction) -> bool:
        perms = interaction.permissions
        return interaction.user.id in self.bot.admin_ids or bool(perms and perms.manage_guild)

    @staticmethod
    def upload_limit(interaction: discord.Interaction) -> int:
        limit = getattr(interaction, "filesize_limit", None)
        if not limit and interaction.guild is not None:
            limit = interaction.guild.filesize_limit
        return int(limit or DEFAULT_UPLOAD_BYTES)

    @app_commands.command(name="video")
    @app_commands.describe(
        topic="What the video is about (up to 300 characters)",
        model="Which backend route to use (see /quota for prices)",
        aspect="Frame shape", voice="Narration voice", length="About how long",
        language="The video's language, e.g. en, fr, ja (default: the topic's, else yours)",
        review="Show me the script first (Render, Rewrite or Edit it before anything is made)",
    )
    @app_commands.choices(
        aspect=[app_commands.Choice(name=a.label, value=a.value) for a in Aspect],
        length=[app_commands.Choice(name=n.label, value=n.value) for n in Length],
    )
    async def video(
        self,
        interaction: discord.Interaction,
        topic: app_commands.Range[str, 1, 300],
        model: str | None = None,
        aspect: app_commands.Choice[str] | None = None,
        voice: app_commands.Range[str, 1, 64] | None = None,  # agent.service.api: options.voice, 64 characters
        length: app_commands.Choice[str] | None = None,
        language: app_commands.Range[str, 2, 35] | None = None,
        review: bool | None = None,
    ) -> None:
        """Make a short narrated video about a topic."""
        if self.flow.closing:
            await interaction.response.send_message(wording.RESTARTING, ephemeral=True)
            return
        callback = await interaction.response.defer(thinking=True)  # first: the 3-second rule
        acked_at = self.bot.clock()
        try:
            request = make_request(str(topic), {"model": model, "aspect": aspect.value if aspect else None,
                                                 "voice": voice, "length": length.value if length else None,
                                                 "language": language},
                                   review)
        except ParseError as exc:
            await interaction.edit_original_response(content=str(exc))
            return
        limit = self.upload_limit(interaction)
        try:
            job = await self.flow.submit(
                platform="discord", user_id=interaction.user.id, user_name=interaction.user.display_name,
                request_id=request_id_for("discord", interaction.id), request=request, max_bytes=limit,
                locale=str(getattr(interaction, "locale", "") or "") or None,
                review_default=bool(self.bot.review_chats & {interaction.guild_id, interaction.channel_id}),
            )
        except AgentError as exc:
            await interaction.edit_original_response(content=wording.submit_failed(exc, request.topic))
            return
        delivery = Delivery(
            job_id=job.id, platform="discord", chat_id=interaction.channel_id or 0, message_id=None,
            requester_id=interaction.user.id, topic=request.topic, started_at=acked_at,
            extra={"acked_at": acked_at, "aspect": request.options.get("aspect", ""), "max_bytes": limit,
                   **_resume_keys(interaction, callback)},
        )
        await self.flow.start(delivery, DiscordSurface(self.bot, delivery, limit, interaction))

    @video.autocomplete("model")
    async def _models_for(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        try:
            quota = await self.flow.client.quota("discord", str(interaction.user.id))
            self._models = list(quota.available) or self._models
            prices = quota.available  # a route the agent can't serve now would only be refused
        except AgentError:
            prices = {m: 0 for m in self._models}
        return [app_commands.Choice(name=f"{m} — {'FREE' if p == 0 else f'{p} credits'}", value=m)
                for m, p in prices.items() if current.lower() in m.lower()][:25]

    @app_commands.command(name="quota")
    async def quota(self, interaction: discord.Interaction) -> None:
        """Your credits, the price of each model and when credits refill."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            text = wording.quota_text(await self.flow.client.quota("discord", str(interaction.user.id)))
        except AgentError as exc:
            text = wording.submit_failed(exc, "")
        await interaction.edit_original_response(content=text)

    @app_commands.command(name="status")
    async def status(self, interaction: discord.Interaction) -> None:
        """Backend health (Manage Server or configured admins)."""
        if not self.is_admin(interaction):
            await interaction.response.send_message("🔒 /status is for server managers and the bot's admins.",
                                                    ephemeral=True)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            status = await self.flow.client.status()
        except AgentError as exc:
            embed = discord.Embed(title="NOT ANSWERING", colour=discord.Colour.red(),
                                  description=f"The video service isn't answering ({exc.code}).")
        else:
            embed = discord.Embed(title=wording.status_header(status).split(" ", 1)[1],
                                  colour=STATUS_COLOURS.get(status.mode, discord.Colour.red()))
            lines = wording.service_problems(status)
            for b in status.backends:
                dot = "⚪" if not b.configured else ("🟢" if b.up else "🔴" if b.up is False else "🟡")
                latency = f" · {b.latency_ms:.0f} ms" if b.latency_ms is not None else ""
                detail = wording.backend_detail(b)
                lines.append(f"{dot} **{wording.backend_name(b.name)}**{latency}{' — ' + detail if detail else ''}")
            lines += wording.worker_lines(status)
            embed.description = "\n".join(lines)[:4000] or "no backends"
            if status.queue is not None:
                embed.set_footer(text=f"queue: {status.queue.queued} waiting, {status.queue.running} running")
        await interaction.edit_original_response(embed=embed)

    @commands.Cog.listener()
    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """Our buttons (components with our custom_id: Cancel, Render, Rewrite, Edit) and the Edit modal."""
        data = interaction.data
        custom_id = str(data.get("custom_id", "")) if data is not None else ""
        if interaction.type is discord.InteractionType.modal_submit and custom_id.startswith(EDIT_PREFIX):
            await self._edit_submitted(interaction, custom_id.removeprefix(EDIT_PREFIX), data)
            return
        if interaction.type is not discord.InteractionType.component:
            return
        if custom_id.startswith(STUDIO_PREFIX):
            await self._studio_pressed(interaction, custom_id.removeprefix(STUDIO_PREFIX))
            return
        if custom_id.startswith(REVIEW_PREFIX):
            step, _, job_id = custom_id.removeprefix(REVIEW_PREFIX).partition(":")
            await self._review_pressed(interaction, step, job_id)
            return
        if not custom_id.startswith(CANCEL_PREFIX):
            return
        job_id = custom_id.removeprefix(CANCEL_PREFIX)
        try:
            text = await self.flow.cancel(job_id, interaction.user.id, interaction.user.display_name,
                                          self.is_admin(interaction))
        except NotAllowed as exc:
            text = str(exc)
        except AgentError as exc:
            text = f"Couldn't cancel: {exc}"
        await interaction.response.send_message(text, ephemeral=True)


    async def _review_pressed(self, interaction: discord.Interaction, step: str, job_id: str) -> None:
        admin = self.is_admin(interaction)
        try:
            if step == "edit":
                if self.flow.allowed(job_id, interaction.user.id, admin) is None:
                    text = "That video is already finished."
                else:
                    state = self.flow.in_review(job_id)
                    if state is not None and state.script is not None:
                        await interaction.response.send_modal(_edit_modal(job_id, list(state.script.narrations)))
                        return
                    text = "That script is no longer waiting for review."
            else:
                text = await self.flow.review(job_id, step, interaction.user.id, admin)
        except NotAllowed as exc:
            text = str(exc)
        except AgentError as exc:
            text = f"Couldn't do that: {exc}"
        await interaction.response.send_message(text, ephemeral=True)

    async def _studio_pressed(self, interaction: discord.Interaction, data: str) -> None:
        """Under a delivered video (bot.studio): offer (ephemeral, with its price), start or dismiss a new job."""
        kind, _, rest = data.partition(":")
        code, _, rest = rest.partition(":")
        job_id, _, requester = rest.rpartition(":")
        if str(interaction.user.id) != requester and not self.is_admin(interaction):
            await interaction.response.send_message(
                "Only the person who asked for this video, or an admin, can do that.", ephemeral=True)
            return
        if kind == "no":
            await interaction.response.edit_message(content="✖ Not started.", view=None)
            return
        tail = f"{code}:{job_id}:{requester}"
        topic = ""
        try:
            parent = await self.flow.client.job(job_id)
            topic = parent.topic
            if kind == "d":
                offered = await studio.offer(self.flow.client, parent, code, "discord", requester)
                if not offered.startable:
                    await interaction.response.send_message(offered.text, ephemeral=True)
                    return
                view = discord.ui.View(timeout=None)
                for label, choice in offered.choices:  # Other voice: one button per voice
                    view.add_item(discord.ui.Button(label=label, style=discord.ButtonStyle.success,
                                                    custom_id=f"{STUDIO_PREFIX}go:{choice}:{job_id}:{requester}"))
                if not offered.choices:
                    view.add_item(discord.ui.Button(
                        label=f"Start · {offered.price} credits" if offered.price else "Start · free", emoji="✔",
                        style=discord.ButtonStyle.success, custom_id=f"{STUDIO_PREFIX}go:{tail}"))
                view.add_item(discord.ui.Button(label="No", emoji="✖", style=discord.ButtonStyle.secondary,
                                                custom_id=f"{STUDIO_PREFIX}no:{tail}"))
                await interaction.response.send_message(offered.text, view=view, ephemeral=True)
                return
            callback = await interaction.response.defer(thinking=True)  # a new public message: its progress
            acked_at = self.bot.clock()
            limit = self.upload_limit(interaction)
            job = await studio.submit_action(
                self.flow.client, parent, code, max_bytes=limit,
                user={"platform": "discord", "id": str(interaction.user.id),
                      "name": agent_user_name(interaction.user.display_name)},
                request_id=request_id_for("discord", interaction.id))
        except studio.UnknownAction as exc:
            await interaction.response.send_message(str(exc), ephemeral=True)
            return
        except AgentError as exc:
            text = (studio.parent_expired_text(topic) if studio.is_parent_expired(exc)
                    else wording.submit_failed(exc, topic))
            if interaction.response.is_done():
                await interaction.edit_original_response(content=text)
            else:
                await interaction.response.send_message(text, ephemeral=True)
            return
        delivery = Delivery(
            job_id=job.id, platform="discord", chat_id=interaction.channel_id or 0, message_id=None,
            requester_id=int(requester), topic=topic, started_at=acked_at,
            extra={"acked_at": acked_at, "aspect": job.options.aspect, "max_bytes": limit, "parent": job_id,
                   **_resume_keys(interaction, callback)})
        await self.flow.start(delivery, DiscordSurface(self.bot, delivery, limit, interaction))

    async def _edit_submitted(self, interaction: discord.Interaction, job_id: str, data: Any) -> None:
        state = self.flow.in_review(job_id)
        try:
            if state is None or state.script is None:
                raise ParseError("That script is no longer waiting for review.")
            narrations = parse_narrations(_modal_value(data.get("components", []), NARRATIONS) or "",
                                          len(state.script.narrations))
            text = await self.flow.review(job_id, "edit", interaction.user.id, self.is_admin(interaction),
                                          narrations)
        except (NotAllowed, ParseError) as exc:
            text = str(exc)
        except AgentError as exc:
            text = f"Couldn't save that: {exc}"
        await interaction.response.send_message(text, ephemeral=True)


class ReelDiscordBot(commands.Bot):
    """The Discord client; dependencies come in, commands live in `VideoCommands`."""

    def __init__(
        self,
        flow: Flow,
        *,
        guild_id: int = 0,
        admin_ids: tuple[int, ...] = (),
        handoff_after_s: float = 780.0,
        review_chats: tuple[int, ...] = (),
        clock: Callable[[], float] = time.time,
        sync_commands: bool = True,
        **options: Any,
    ) -> None:
        intents = discord.Intents.none()
        intents.guilds = True  # guild objects (filesize_limit); nothing privileged
        super().__init__(command_prefix=commands.when_mentioned, intents=intents, help_command=None, **options)
        self.flow = flow
        self.guild_id = guild_id
        self.admin_ids = frozenset(admin_ids)
        self.handoff_after_s = handoff_after_s
        self.review_chats: frozenset[int | None] = frozenset(review_chats)  # guilds/channels reviewing by default
        self.clock = clock
        self._sync = sync_commands

    def surface(self, delivery: Delivery) -> DiscordSurface:
        return DiscordSurface(self, delivery, int(delivery.extra.get("max_bytes", DEFAULT_UPLOAD_BYTES)))

    async def setup_hook(self) -> None:
        await self.add_cog(VideoCommands(self))
        if self._sync:
            if self.guild_id:
                guild = discord.Object(self.guild_id)
                self.tree.copy_global_to(guild=guild)
                synced = await self.tree.sync(guild=guild)
            else:
                synced = await self.tree.sync()
            log.info("synced %d commands %s", len(synced), f"to guild {self.guild_id}" if self.guild_id else "globally")
        self.flow.resume(self.flow.store.all("discord"), self.surface)
