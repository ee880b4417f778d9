"""Run the chat bots (Discord and/or Telegram); with no agent_url, the agent runs inside.

    reelbot bot [--config FILE] [--verbose]

Tokens come from DISCORD_TOKEN / TELEGRAM_TOKEN (and REELBOT_AGENT_TOKEN for a remote agent).

With `bot.agent_url` set only the [agent] and [bot] tables are read (strictly; the rest is the
remote agent's to check), and the engine is never imported. Without it this process runs the agent
too, so the whole configuration is loaded and checked, as `reelbot agent` does.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from reelbot.commands.common import load_front_end_or_fail
from reelbot.logs import configure_logging

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="config file (default: ./config.toml when present)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")


async def _until_signalled(run_bot: Any, settings: Any) -> None:
    """Run the bots until SIGTERM or SIGINT, then stop them cleanly (deliveries saved, agent stopped)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def stopping(sig: signal.Signals) -> None:
        logging.getLogger("reelbot.bot").info("%s received: stopping", sig.name)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping, sig)
    await run_bot(settings, stop)


def run(args: argparse.Namespace) -> int:
    from bot.main import NoFrontEnd, StartupFailed, run_bot
    from storage import StorageError

    settings = load_front_end_or_fail(args.config)  # the whole settings when it embeds the agent
    os.environ.setdefault("PTB_TIMEDELTA", "1")  # python-telegram-bot 22: timedelta retry_after, no warning
    configure_logging(logging.DEBUG if args.verbose else logging.INFO, settings.secrets())
    try:
        asyncio.run(_until_signalled(run_bot, settings))
    except (NoFrontEnd, StartupFailed) as exc:
        print(f"reelbot: error: {exc}", file=sys.stderr)
        return 2
    except StorageError as exc:  # the embedded agent's database: in use by another agent, or damaged
        print(f"reelbot: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    return 0
