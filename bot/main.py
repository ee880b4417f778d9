"""`reelbot bot`: every configured front-end in one process, one owner per resource.

With `bot.agent_url` set the bots talk to that agent over HTTP with the bearer token, and this
process needs only the light settings (`agent.config.FrontEndSettings`): no engine, no providers.
Without it the agent is embedded: its app factory runs in this event loop behind a loopback port, so
the bots use exactly the same HTTP contract either way; that needs the whole configuration
(`agent.settings.Settings`), and only `embedded_agent` imports the agent. The chat libraries are
imported when their front-end starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp

from agent.config import FrontEndView
from bot import wording
from bot.agent_client import AgentClient
from bot.flow import Flow
from bot.store import DeliveryStore

__all__ = ["run_bot", "embedded_agent", "NoFrontEnd", "StartupFailed"]

log = logging.getLogger(__name__)


class NoFrontEnd(RuntimeError):
    """Neither DISCORD_TOKEN nor TELEGRAM_TOKEN is set."""


class StartupFailed(RuntimeError):
    """A front-end could not start (bad token, unreachable API): one line for the operator, no traceback."""


@contextlib.asynccontextmanager
async def embedded_agent(settings: FrontEndView) -> AsyncIterator[tuple[str, str]]:
    """Serve the agent's app on 127.0.0.1 (a free port) for the life of the block: (url, token).
    `settings` must be the whole configuration (`agent.settings.load_settings`): the agent runs here."""
    import dataclasses

    from aiohttp import web

    # The one place the bot imports the agent (tests/test_layering.py allows exactly this).
    from agent.service.app import create_app
    from agent.settings import Settings

    if not isinstance(settings, Settings):
        raise TypeError("embedding the agent needs the whole configuration (agent.settings.load_settings), "
                        f"not {type(settings).__name__}")

    token = settings.agent.token or secrets.token_urlsafe(24)  # loopback only, but still not open
    settings = dataclasses.replace(settings, agent=dataclasses.replace(settings.agent, token=token))
    runner = web.AppRunner(create_app(settings), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        log.info("embedded agent on 127.0.0.1:%s", port)
        yield f"http://127.0.0.1:{port}", token
    finally:
        await runner.cleanup()


async def run_bot(settings: FrontEndView, stop: asyncio.Event | None = None) -> None:
    """Run the configured front-ends until `stop` is set. With no `bot.agent_url`, `settings` must be
    the whole configuration, since the agent runs in this process (`embedded_agent`)."""
    b = settings.bot
    if not b.telegram_token and not b.discord_token:
        raise NoFrontEnd("no front-end configured: set TELEGRAM_TOKEN and/or DISCORD_TOKEN")
    stop = stop or asyncio.Event()
    async with contextlib.AsyncExitStack() as stack:
        session = await stack.enter_async_context(aiohttp.ClientSession())
        if b.agent_url:
            url, token = b.agent_url, settings.agent.token
        else:
            url, token = await stack.enter_async_context(embedded_agent(settings))
        store = DeliveryStore(b.state_file)
        await store.load()
        flow = Flow(
            AgentClient(session, url, token), store, Path(settings.agent.data_dir) / "bot",
            public_url=settings.agent.public_url, edit_interval_s=b.edit_interval_s,
        )
        stack.push_async_callback(flow.aclose)  # after a failed start; a clean stop closes it below first
        if b.telegram_token:
            from bot.telegram_bot import TelegramFrontEnd

            from telegram.error import InvalidToken, TelegramError

            tg = TelegramFrontEnd(flow, b.telegram_token, base_url=b.telegram_api_base_url,
                                  admin_ids=b.telegram_admin_ids, review_chats=b.review_chats)
            try:
                await stack.enter_async_context(tg.app)  # initialize (getMe) / shutdown
            except InvalidToken:
                raise StartupFailed("Telegram refused the bot token ($TELEGRAM_TOKEN); check it with @BotFather") \
                    from None
            except TelegramError as exc:
                where = b.telegram_api_base_url or "api.telegram.org"
                raise StartupFailed(f"could not reach the Telegram Bot API at {where}: {exc}") from None
            await tg.startup()
            await tg.app.start()
            stack.push_async_callback(tg.app.stop)
            assert tg.app.updater is not None
            await tg.app.updater.start_polling(drop_pending_updates=False)
            stack.push_async_callback(tg.app.updater.stop)
            log.info("telegram front-end running")
        if b.discord_token:
            from bot.discord_bot import ReelDiscordBot

            dc = ReelDiscordBot(flow, guild_id=b.discord_guild_id, admin_ids=b.discord_admin_ids,
                                handoff_after_s=b.discord_handoff_s, review_chats=b.review_chats)
            import discord

            await stack.enter_async_context(dc)
            try:
                await dc.login(b.discord_token)  # what dc.start() would do first, so a refusal is seen here
            except discord.LoginFailure:
                raise StartupFailed("Discord refused the bot token ($DISCORD_TOKEN)") from None
            except (discord.HTTPException, aiohttp.ClientError, OSError) as exc:
                raise StartupFailed(f"could not reach Discord: {exc}") from None
            task = asyncio.get_running_loop().create_task(dc.connect(), name="discord")
            task.add_done_callback(lambda t: stop.set() if t.exception() else None)
            stack.push_async_callback(dc.close)
            log.info("discord front-end starting")
        await stop.wait()
        # Stop taking commands and say so under each progress message while the chat APIs still work;
        # the deliveries stay saved and the next start resumes them. Then the stack unwinds: the
        # front-ends stop, and the embedded agent stops its jobs cleanly (they resume at its next start).
        log.info("stopping: %d deliveries saved, resumed at the next start", len(store.all()))
        await flow.aclose(note=wording.PAUSED)
