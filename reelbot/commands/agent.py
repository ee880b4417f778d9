"""Serve the agent: jobs over HTTP with live events, the credit ledger, the finished videos.

    reelbot agent [--host 127.0.0.1] [--port 8765] [--config FILE] [-v]

The bearer token comes from REELBOT_AGENT_TOKEN. Without one the agent serves loopback only and
refuses any other address.

One agent per database: the first thing it does is take the database's lock (storage.lock), held
until the process exits. A second agent on the same database says so in one line and exits 1 before
it opens the database; so does an agent whose database file is damaged.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from reelbot.commands.common import load_settings_or_fail, loop_factory_or_fail
from reelbot.logs import configure_logging

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", help="bind address (default: agent.host, 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default: agent.port, 8765)")
    p.add_argument("--config", type=Path, help="config file (default: ./config.toml when present)")
    p.add_argument("-v", "--verbose", action="store_true", help="log every step")


def run(args: argparse.Namespace) -> int:
    from aiohttp import web

    from agent.eventloop import loop_name
    from agent.service.app import BindRefused, check_bind, create_app
    from agent.service.process import settle_after_start
    from storage import DatabaseLock, StorageError

    settings = load_settings_or_fail(args.config)
    host = args.host or settings.agent.host
    port = args.port if args.port is not None else settings.agent.port
    if not 0 < port < 65536:
        print(f"reelbot: error: --port must be 1-65535, got {port}", file=sys.stderr)
        return 2
    try:
        check_bind(host, settings.agent.token)
    except BindRefused as exc:
        print(f"reelbot: error: {exc}", file=sys.stderr)
        return 2
    make_loop = loop_factory_or_fail(settings)
    try:
        lock = DatabaseLock.acquire(settings.agent.database_url, settings.agent.data_dir)
    except StorageError as exc:
        print(f"reelbot: error: {exc}", file=sys.stderr)
        return 1
    with lock:
        configure_logging(logging.DEBUG if args.verbose else logging.INFO, settings.secrets())
        if not settings.agent.token:
            logging.getLogger(__name__).warning("no REELBOT_AGENT_TOKEN: serving loopback without auth")
        loop = make_loop()
        logging.getLogger(__name__).info("event loop: %s", loop_name(loop))
        try:
            # A chat burst opens many connections at once; the default listen backlog (128) drops them.
            web.run_app(settle_after_start(create_app(settings, database_lock=lock)), host=host, port=port, print=None,
                        access_log=None, backlog=1024, loop=loop)
        except StorageError as exc:  # a damaged database, refused at start
            print(f"reelbot: error: {exc}", file=sys.stderr)
            return 1
    return 0
