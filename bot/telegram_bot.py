"""Telegram front-end (python-telegram-bot v22): a thin adapter over `bot.flow`.

Options are flags after the topic (`/video cats in space --aspect 16:9 --length long`, shortcuts
`--wide`, `--square`, `--long`): one message does it all, works the same in groups and private
chats, and can be edited and re-sent. `/help` lists them. Long work runs in tasks (`block=False`),
requests go through `AIORateLimiter`, and one error handler logs what escapes.
"""

from __future__ import annotations

import asyncio
import logging
import time
import warnings
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from telegram import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    ReplyParameters,
    Update,
)
from telegram.constants import ChatAction, FileSizeLimit
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CallbackContext,
    CommandHandler,
    ExtBot,
    MessageHandler,
    filters,
)

from bot import studio, wording
from bot.agent_client import AgentError
from bot.flow import (
    Flow,
    NotAllowed,
    ParseError,
    UploadTooLarge,
    agent_user_name,
    parse_narrations,
    parse_video_text,
    request_id_for,
    upload_name,
)
from bot.media import VideoMeta
from bot.store import Delivery
from bot.throttle import MessageGone, RetryLater

__all__ = ["TelegramFrontEnd", "TelegramSurface", "CLOUD_UPLOAD_BYTES", "LOCAL_UPLOAD_BYTES", "HELP"]

log = logging.getLogger(__name__)

# the handlers' context: the bot is built with AIORateLimiter, whose per-call argument is an int
# (ContextTypes.DEFAULT_TYPE would say a bot without a rate limiter)
_Context = CallbackContext[ExtBot[int], dict[Any, Any], dict[Any, Any], dict[Any, Any]]

# Telegram's upload limits, as python-telegram-bot knows them (not typed by hand here)
CLOUD_UPLOAD_BYTES = int(FileSizeLimit.FILESIZE_UPLOAD)  # api.telegram.org: 50 MB
LOCAL_UPLOAD_BYTES = int(FileSizeLimit.FILESIZE_UPLOAD_LOCAL_MODE)  # a local Bot API server (--local): 2000 MB
CANCEL_PREFIX = "cancel:"
REVIEW_PREFIX = "review:"
# after delivery (bot.studio): d:<code>:<job>:<requester> offers, go:... starts, no:... dismisses
OFFER, START, DISMISS = "d:", "go:", "no:"
# Telegram allows about 20 messages a minute in a group; progress edits get this many of them, shared
# by the group's running jobs, so commands, other replies and the upload are not queued behind them.
GROUP_EDITS_PER_MINUTE = 12

HELP = (
    "🎬 I turn a topic into a short narrated video.\n\n"
    "/video <topic> — e.g. /video cats in space\n"
    "Options go after the topic:\n"
    "  --aspect 9:16 | 16:9 | 1:1   (or --tall, --wide, --square)\n"
    "  --length short | medium | long   (or --short, --medium, --long)\n"
    "  --model <name>   (see /quota for models and prices)\n"
    "  --voice <name>\n"
    "  --language <code>   e.g. ja, fr, ar (default: the topic's, else your app's)\n"
    "  --video   motion clips instead of stills\n"
    "Example: /video the life of a star --wide --long\n\n"
    "/quota — your credits and prices\n"
    "/status — backend health (admins)\n"
    "Press Cancel under the progress message to stop a video; credits are refunded."
)


def _seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():  # PTB 22 warns while moving retry_after to timedelta
        warnings.simplefilter("ignore")
        value: Any = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _cancel_markup(job_id: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton("✖ Cancel", callback_data=f"{CANCEL_PREFIX}{job_id}")]])


def _review_markup(job_id: str) -> InlineKeyboardMarkup:
    """Render, Rewrite, Edit, Cancel under a script in review (callback data: 64 bytes at most; a job id is 22)."""
    return InlineKeyboardMarkup([
        [InlineKeyboardButton("▶ Render", callback_data=f"{REVIEW_PREFIX}approve:{job_id}"),
         InlineKeyboardButton("🔁 Rewrite", callback_data=f"{REVIEW_PREFIX}rewrite:{job_id}")],
        [InlineKeyboardButton("✏️ Edit", callback_data=f"{REVIEW_PREFIX}edit:{job_id}"),
         InlineKeyboardButton("✖ Cancel", callback_data=f"{CANCEL_PREFIX}{job_id}")],
    ])


class TelegramSurface:
    """One progress message in one chat."""

    platform = "telegram"
    video_replaces_progress = False

    def __init__(self, app: Application, delivery: Delivery, max_upload_bytes: int,
                 chat_jobs: Callable[[int], int] | None = None,
                 group_edits_per_minute: int = GROUP_EDITS_PER_MINUTE) -> None:
        self._bot = app.bot
        self._delivery = delivery
        self.max_upload_bytes = max_upload_bytes
        self._chat_jobs = chat_jobs  # chat id -> how many jobs are following there now
        self._group_budget = group_edits_per_minute

    def min_edit_interval_s(self) -> float:
        if self._delivery.chat_id > 0:  # a private chat: about one message a second, the flow's pace is fine
            return 0.0
        jobs = max(1, self._chat_jobs(self._delivery.chat_id) if self._chat_jobs else 1)
        return 60.0 * jobs / self._group_budget

    async def edit(self, text: str, *, cancellable: bool, review: bool = False) -> None:
        d = self._delivery
        markup = _review_markup(d.job_id) if review else _cancel_markup(d.job_id) if cancellable else None
        try:
            await self._bot.edit_message_text(text, chat_id=d.chat_id, message_id=d.message_id, reply_markup=markup)
        except RetryAfter as exc:
            raise RetryLater(_seconds(exc)) from exc
        except BadRequest as exc:
            if "not modified" in exc.message.lower():
                return  # the screen already shows it: success
            if "not found" in exc.message.lower() or "can't be edited" in exc.message.lower():
                raise MessageGone(exc.message) from exc
            raise
        except Forbidden as exc:  # the bot was removed from the chat
            raise MessageGone(exc.message) from exc

    async def send_video(self, path: Path, caption: str, meta: VideoMeta,
                         actions: Sequence[Sequence[tuple[str, str]]] = ()) -> None:
        d = self._delivery
        tail = f"{d.job_id}:{d.requester_id}"
        markup = InlineKeyboardMarkup([[InlineKeyboardButton(label, callback_data=f"{OFFER}{code}:{tail}")
                                        for label, code in row] for row in actions]) if actions else None
        # PTB reads a file object whole, on the loop: read the files in a thread and pass the bytes
        video = await asyncio.to_thread(path.read_bytes)
        thumb = None
        if meta.thumbnail:
            thumb = InputFile(await asyncio.to_thread(meta.thumbnail.read_bytes), filename=meta.thumbnail.name)
        try:
            await self._bot.send_video(
                d.chat_id, video, caption=caption, width=meta.width, height=meta.height,
                duration=round(meta.duration_s) if meta.duration_s else None,
                supports_streaming=True, thumbnail=thumb, filename=upload_name(d.topic),
                reply_markup=markup,
                reply_parameters=ReplyParameters(d.reply_to, allow_sending_without_reply=True) if d.reply_to else None,
                read_timeout=120, write_timeout=600, rate_limit_args=3,
            )
        except NetworkError as exc:
            if "413" in exc.message or "too large" in exc.message.lower():
                raise UploadTooLarge(exc.message) from exc
            raise

    async def activity(self) -> None:
        await self._bot.send_chat_action(self._delivery.chat_id, ChatAction.UPLOAD_VIDEO)


class TelegramFrontEnd:
    """Builds the PTB Application and holds the handlers; dependencies come in, nothing global."""

    def __init__(
        self,
        flow: Flow,
        token: str,
        *,
        base_url: str = "",
        admin_ids: tuple[int, ...] = (),
        max_upload_bytes: int | None = None,
        rate_limiter: AIORateLimiter | None = None,
        builder_hook: Any = None,
        group_edits_per_minute: int = GROUP_EDITS_PER_MINUTE,
        review_chats: tuple[int, ...] = (),
    ) -> None:
        self.flow = flow
        self.review_chats = frozenset(review_chats)  # chats whose videos wait for script review by default
        self.group_edits_per_minute = group_edits_per_minute
        self.admin_ids = frozenset(admin_ids)
        # a configured base URL means a local Bot API server, which takes 2000 MB
        self.max_upload_bytes = max_upload_bytes or (LOCAL_UPLOAD_BYTES if base_url else CLOUD_UPLOAD_BYTES)
        builder: ApplicationBuilder = Application.builder().token(token).rate_limiter(rate_limiter or AIORateLimiter())
        if base_url:
            # both "http://host:8081" and PTB's own form "http://host:8081/bot" name the same server
            root = base_url.rstrip("/").removesuffix("/bot")
            builder = builder.base_url(f"{root}/bot").base_file_url(f"{root}/file/bot")
        builder = builder.media_write_timeout(600)
        if builder_hook is not None:
            builder = builder_hook(builder)
        self.app = builder.build()
        self.app.add_handler(CommandHandler("video", self.video, block=False))
        self.app.add_handler(CommandHandler("quota", self.quota, block=False))
        self.app.add_handler(CommandHandler("status", self.status, block=False))
        self.app.add_handler(CommandHandler(["start", "help"], self.help))
        self.app.add_handler(CallbackQueryHandler(self.cancel, pattern=f"^{CANCEL_PREFIX}", block=False))
        self.app.add_handler(CallbackQueryHandler(self.review_button, pattern=f"^{REVIEW_PREFIX}", block=False))
        self.app.add_handler(CallbackQueryHandler(self.studio_button, pattern=f"^({OFFER}|{START}|{DISMISS})",
                                                  block=False))
        # Edit: the new narration comes as a reply to the script message (privacy mode still lets replies
        # to the bot's own messages through in groups)
        self.app.add_handler(MessageHandler(filters.REPLY & filters.TEXT & ~filters.COMMAND, self.edit_reply,
                                            block=False))
        self.app.add_error_handler(self.on_error)

    def surface(self, delivery: Delivery) -> TelegramSurface:
        return TelegramSurface(self.app, delivery, self.max_upload_bytes, self._jobs_in_chat,
                               self.group_edits_per_minute)

    def _jobs_in_chat(self, chat_id: int) -> int:
        return sum(1 for d in self.flow.store.all("telegram") if d.chat_id == chat_id)

    async def startup(self) -> None:
        """After `app.initialize()`: resume deliveries from before a restart, publish the command menu."""
        self.flow.resume(self.flow.store.all("telegram"), self.surface)
        try:
            await self.app.bot.set_my_commands([
                BotCommand("video", "Make a short video: /video <topic> [--wide] [--long]"),
                BotCommand("quota", "Your credits and the price of each model"),
                BotCommand("status", "Backend health (admins)"),
                BotCommand("help", "How to use this bot"),
            ])
        except Exception:  # cosmetic: the commands still work without the menu
            log.warning("could not publish the command menu", exc_info=True)

    def is_admin(self, user_id: int) -> bool:
        return user_id in self.admin_ids

    # ------------------------------------------------------------------ handlers

    async def video(self, update: Update, context: _Context) -> None:
        """/video <topic> [--flags]: submit, then follow the job in this chat."""
        message, user = update.effective_message, update.effective_user
        if message is None or user is None or not message.text:
            return
        if self.flow.closing:
            await message.reply_text(wording.RESTARTING)
            return
        _, _, rest = message.text.partition(" ")  # drops "/video" or "/video@BotName"
        try:
            request = parse_video_text(rest)
        except ParseError as exc:
            await message.reply_text(f"{exc}\nSee /help for the options.")
            return
        started = time.time()
        progress = await context.bot.send_message(
            message.chat_id, self.flow.initial_text(request.topic), rate_limit_args=3,
            reply_parameters=ReplyParameters(message.message_id, allow_sending_without_reply=True),
        )
        try:
            job = await self.flow.submit(
                platform="telegram", user_id=user.id, user_name=user.full_name,
                request_id=request_id_for("telegram", f"{message.chat_id}:{message.message_id}"),
                request=request, max_bytes=self.max_upload_bytes, locale=user.language_code,
                review_default=message.chat_id in self.review_chats,
            )
        except AgentError as exc:
            await context.bot.edit_message_text(
                wording.submit_failed(exc, request.topic), chat_id=message.chat_id,
                message_id=progress.message_id, rate_limit_args=3,
            )
            return
        delivery = Delivery(
            job_id=job.id, platform="telegram", chat_id=message.chat_id, message_id=progress.message_id,
            requester_id=user.id, topic=request.topic, started_at=started, reply_to=message.message_id,
            extra={"aspect": request.options.get("aspect", "")},
        )
        await self.flow.start(delivery, self.surface(delivery))

    async def cancel(self, update: Update, context: _Context) -> None:
        """The Cancel button: the requester or an admin only."""
        query, user = update.callback_query, update.effective_user
        if query is None or user is None or not query.data:
            return
        job_id = query.data.removeprefix(CANCEL_PREFIX)
        try:
            text = await self.flow.cancel(job_id, user.id, user.full_name, self.is_admin(user.id))
        except NotAllowed as exc:
            await query.answer(str(exc), show_alert=True)
            return
        except AgentError as exc:
            await query.answer(f"Couldn't cancel: {exc}", show_alert=True)
            return
        await query.answer(text)

    async def review_button(self, update: Update, context: _Context) -> None:
        """Render / Rewrite / Edit under a script in review: the requester or an admin only."""
        query, user = update.callback_query, update.effective_user
        if query is None or user is None or not query.data:
            return
        step, _, job_id = query.data.removeprefix(REVIEW_PREFIX).partition(":")
        try:
            if step == "edit":
                if self.flow.allowed(job_id, user.id, self.is_admin(user.id)) is None:
                    text = "That video is already finished."
                else:
                    state = self.flow.in_review(job_id)
                    n = len(state.script.narrations) if state is not None and state.script else 0
                    text = (f"✏️ Reply to the script message with the new narration: {n} lines, one per scene."
                            if state is not None else "That script is no longer waiting for review.")
                await query.answer(text, show_alert=True)
                return
            text = await self.flow.review(job_id, step, user.id, self.is_admin(user.id))
        except NotAllowed as exc:
            await query.answer(str(exc), show_alert=True)
            return
        except AgentError as exc:
            await query.answer(f"Couldn't do that: {exc}", show_alert=True)
            return
        await query.answer(text)

    async def studio_button(self, update: Update, context: _Context) -> None:
        """Under a delivered video (bot.studio): offer a new job with its price, then start or dismiss it."""
        query, user = update.callback_query, update.effective_user
        if query is None or user is None or not query.data or query.message is None:
            return
        kind = query.data[: query.data.index(":") + 1]
        code, _, rest = query.data.removeprefix(kind).partition(":")
        job_id, _, requester = rest.rpartition(":")
        if str(user.id) != requester and not self.is_admin(user.id):
            await query.answer("Only the person who asked for this video, or an admin, can do that.", show_alert=True)
            return
        chat_id, message_id = query.message.chat.id, query.message.message_id
        topic = ""
        if kind == DISMISS:
            await context.bot.edit_message_text("✖ Not started.", chat_id=chat_id, message_id=message_id)
            await query.answer()
            return
        try:
            parent = await self.flow.client.job(job_id)
            topic = parent.topic
            if kind == OFFER:
                offered = await studio.offer(self.flow.client, parent, code, "telegram", requester)
                tail = f"{code}:{job_id}:{requester}"
                if not offered.startable:
                    await query.answer(offered.text, show_alert=True)
                    return
                await context.bot.send_message(
                    chat_id, offered.text, rate_limit_args=3,
                    reply_parameters=ReplyParameters(message_id, allow_sending_without_reply=True),
                    reply_markup=InlineKeyboardMarkup([*(
                        [[InlineKeyboardButton(label, callback_data=f"{START}{choice}:{job_id}:{requester}")
                          for label, choice in offered.choices]] if offered.choices else [[
                            InlineKeyboardButton(f"✔ Start · {offered.price} credits" if offered.price
                                                 else "✔ Start · free", callback_data=f"{START}{tail}")]]),
                        [InlineKeyboardButton("✖ No", callback_data=f"{DISMISS}{tail}")]]))
                await query.answer()
                return
            started = time.time()
            await context.bot.edit_message_text(self.flow.initial_text(parent.topic), chat_id=chat_id,
                                                message_id=message_id)
            job = await studio.submit_action(
                self.flow.client, parent, code, max_bytes=self.max_upload_bytes,
                user={"platform": "telegram", "id": str(user.id), "name": agent_user_name(user.full_name)},
                request_id=request_id_for("telegram", f"{chat_id}:{message_id}"))
        except studio.UnknownAction as exc:
            await query.answer(str(exc), show_alert=True)
            return
        except AgentError as exc:
            text = (studio.parent_expired_text(topic) if studio.is_parent_expired(exc)
                    else wording.submit_failed(exc, topic))
            if kind == OFFER:
                await query.answer(text[:200], show_alert=True)
            else:
                await context.bot.edit_message_text(text, chat_id=chat_id, message_id=message_id)
                await query.answer()
            return
        await query.answer()
        delivery = Delivery(
            job_id=job.id, platform="telegram", chat_id=chat_id, message_id=message_id, requester_id=int(requester),
            topic=parent.topic, started_at=started, extra={"aspect": job.options.aspect, "parent": parent.id})
        await self.flow.start(delivery, self.surface(delivery))

    async def edit_reply(self, update: Update, context: _Context) -> None:
        """A reply to a script in review: the new narration, one line per scene."""
        message, user = update.effective_message, update.effective_user
        if message is None or user is None or not message.text or message.reply_to_message is None:
            return
        delivery = self.flow.review_by_message("telegram", message.chat_id, message.reply_to_message.message_id)
        if delivery is None:
            return  # a reply to something else: not ours to answer
        state = self.flow.in_review(delivery.job_id)
        try:
            if state is None or state.script is None:
                raise ParseError("That script is no longer waiting for review.")
            narrations = parse_narrations(message.text, len(state.script.narrations))
            text = await self.flow.review(delivery.job_id, "edit", user.id, self.is_admin(user.id), narrations)
        except (NotAllowed, ParseError) as exc:
            text = str(exc)
        except AgentError as exc:
            text = wording.submit_failed(exc, delivery.topic)
        await message.reply_text(text)

    async def quota(self, update: Update, context: _Context) -> None:
        """/quota: credits left, prices, reset time."""
        message, user = update.effective_message, update.effective_user
        if message is None or user is None:
            return
        try:
            text = wording.quota_text(await self.flow.client.quota("telegram", str(user.id)))
        except AgentError as exc:
            text = wording.submit_failed(exc, "")
        await message.reply_text(text)

    async def status(self, update: Update, context: _Context) -> None:
        """/status: backend health, for admins."""
        message, user = update.effective_message, update.effective_user
        if message is None or user is None:
            return
        if not self.is_admin(user.id):
            await message.reply_text("🔒 /status is for the bot's admins.")
            return
        try:
            status = await self.flow.client.status()
        except AgentError as exc:
            await message.reply_text(f"🔴 The video service isn't answering ({exc.code}).")
            return
        lines = [wording.status_header(status), *wording.service_problems(status)]
        for b in status.backends:
            dot = "⚪" if not b.configured else ("🟢" if b.up else "🔴" if b.up is False else "🟡")
            latency = f" {b.latency_ms:.0f} ms" if b.latency_ms is not None else ""
            detail = wording.backend_detail(b)
            lines.append(f"{dot} {wording.backend_name(b.name)}{latency}{' — ' + detail if detail else ''}")
        lines += wording.worker_lines(status)
        if status.queue is not None:
            lines.append(f"Queue: {status.queue.queued} waiting, {status.queue.running} running")
        await message.reply_text("\n".join(lines))

    async def help(self, update: Update, context: _Context) -> None:
        """/start and /help: what the bot does and the options."""
        if update.effective_message is not None:
            await update.effective_message.reply_text(HELP)

    async def on_error(self, update: object, context: _Context) -> None:
        """The one error handler: log with the update, never crash the app."""
        log.error("telegram handler failed for %r", update, exc_info=context.error)
