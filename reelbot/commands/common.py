"""What every subcommand shares: loading its settings, and failing with one line and an exit code.

A command raises `CommandFailed` (or lets `load_settings_or_fail` raise it); `reelbot.cli.main` prints
`reelbot: error: <reason>` on stderr and returns the code: 2 for bad input or configuration, 1 when
the work itself failed. The engine's settings are imported when a command runs, not when
`reelbot --help` builds the parser.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from agent.config import FrontEndView, SettingsError, load_front_end_settings

if TYPE_CHECKING:
    from agent.settings import Settings

__all__ = ["CommandFailed", "fail", "load_settings_or_fail", "load_front_end_or_fail", "loop_factory_or_fail"]


class CommandFailed(Exception):
    """The command cannot go on: `str(self)` says why in one line, `code` is the exit code."""

    def __init__(self, message: object, code: int = 2) -> None:
        super().__init__(str(message))
        self.code = code


def fail(message: object, code: int = 2) -> int:
    """Print `reelbot: error: <message>` on stderr and return `code` (for `return fail(...)`)."""
    print(f"reelbot: error: {message}", file=sys.stderr)
    return code


def load_settings_or_fail(config: Path | None) -> Settings:
    """The whole settings (engine, providers, storage); CommandFailed (exit 2) when they are bad."""
    from agent.settings import load_settings

    try:
        return load_settings(config)
    except SettingsError as exc:
        raise CommandFailed(exc) from exc


def loop_factory_or_fail(settings: Settings) -> Callable[[], asyncio.AbstractEventLoop]:
    """What makes the event loop `agent.event_loop` names (agent.eventloop); CommandFailed (exit 2)
    when it cannot be had (uvloop asked for where it is not installed)."""
    from agent.eventloop import EventLoopUnavailable, loop_factory

    try:
        return loop_factory(settings.agent.event_loop)
    except EventLoopUnavailable as exc:
        raise CommandFailed(exc) from exc


def load_front_end_or_fail(config: Path | None) -> FrontEndView:
    """The bot's settings: the light front-end view when an agent_url is set (remote agent), the
    whole settings when the bot embeds the agent. CommandFailed (exit 2) when they are bad."""
    try:
        settings = load_front_end_settings(config)
    except SettingsError as exc:
        raise CommandFailed(exc) from exc
    if settings.bot.agent_url:
        return settings
    return load_settings_or_fail(config)  # embedded: this process runs the agent
