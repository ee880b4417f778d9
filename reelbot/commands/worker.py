"""Run jobs on this GPU box for the front doors of the distributed mode (README "Scaling out").

    reelbot worker [--config FILE] [--name NAME] [-v]

Needs `cluster.enabled = true`, `agent.database_url` on PostgreSQL (the front doors' database),
`cluster.front_door_url` (where finished videos go) and REELBOT_WORKER_TOKEN. The worker only
connects out: to the database and to the front door. SIGTERM lets running jobs finish for
`cluster.shutdown_grace_s`, then hands the rest back to the queue.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import sys
from pathlib import Path

from reelbot.commands.common import load_settings_or_fail, loop_factory_or_fail
from reelbot.logs import configure_logging

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="config file (default: ./config.toml when present)")
    p.add_argument("--name", help="this worker's name in the status (default: cluster.worker_name, or the host name)")
    p.add_argument("-v", "--verbose", action="store_true", help="log every step")


def run(args: argparse.Namespace) -> int:
    from agent.worker.main import run_worker
    from storage import StorageError

    settings = load_settings_or_fail(args.config)
    if args.name:
        settings = dataclasses.replace(settings, cluster=dataclasses.replace(settings.cluster, worker_name=args.name))
    c = settings.cluster
    missing = [what for what, ok in (
        ("cluster.enabled = true", c.enabled), ("cluster.front_door_url", bool(c.front_door_url)),
        ("REELBOT_WORKER_TOKEN in the environment", bool(c.worker_token))) if not ok]
    if missing:
        print(f"reelbot: error: a worker needs {', '.join(missing)} (README: Scaling out)", file=sys.stderr)
        return 2
    make_loop = loop_factory_or_fail(settings)
    configure_logging(logging.DEBUG if args.verbose else logging.INFO, settings.secrets())
    try:
        with asyncio.Runner(loop_factory=make_loop) as runner:
            runner.run(run_worker(settings))
    except StorageError as exc:
        print(f"reelbot: error: {exc}", file=sys.stderr)
        return 1
    return 0
