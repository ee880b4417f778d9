"""Run a command with REELBOT_TEST_DATABASE_URL naming a throwaway PostgreSQL 16 (the pgserver wheel,
no apt step), so the storage tests' PostgreSQL variants run too:

    .venv/bin/python -m tests.support.with_postgres -m pytest -q tests/storage

Everything after the module's name is passed to this Python. The server lives in a temporary
folder for the command's length and is stopped and removed after it; the exit code is the command's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from urllib.parse import parse_qs, urlparse


def main(argv: list[str]) -> int:
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        import pgserver

        root = tempfile.mkdtemp(prefix="reelbot-pg-")
        try:
            server = pgserver.get_server(root, cleanup_mode="stop")
        except Exception:
            shutil.rmtree(root, ignore_errors=True)
            raise
    try:
        host = parse_qs(urlparse(server.get_uri()).query)["host"][0]
        env = dict(os.environ, REELBOT_TEST_DATABASE_URL=f"postgresql+asyncpg://postgres@/postgres?host={host}")
        return subprocess.call([sys.executable, *argv], env=env)
    finally:
        server.cleanup()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
