"""`reelbot agent` refuses in one line: another agent holds the database, or the file is damaged."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from reelbot.cli import main
from storage import DatabaseLock

ROOT = Path(__file__).resolve().parents[2]


def _config(tmp_path: Path) -> tuple[Path, Path]:
    db = tmp_path / "data" / "reelbot.db"
    config = tmp_path / "config.toml"
    config.write_text(f'[agent]\ndata_dir = "{tmp_path / "data"}"\ndatabase_url = "sqlite+aiosqlite:///{db}"\n')
    return config, db


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_second_agent_exits_with_one_line_before_opening_the_database(tmp_path, capsys):
    config, db = _config(tmp_path)
    with DatabaseLock.acquire(f"sqlite+aiosqlite:///{db}", tmp_path / "data"):
        code = main(["agent", "--config", str(config), "--port", str(_free_port())])
    captured = capsys.readouterr()
    assert code == 1 and captured.out == ""
    assert captured.err == f"reelbot: error: another agent is already using {db} (pid {os.getpid()})\n"
    assert not db.exists()


def test_a_damaged_database_is_refused_in_one_line(tmp_path):
    config, db = _config(tmp_path)
    db.parent.mkdir(parents=True)
    db.write_bytes(b"not a database at all " * 400)
    env = {**os.environ, "REELBOT_AGENT_TOKEN": "t0ken-for-this-test"}
    proc = subprocess.run([sys.executable, "-m", "reelbot", "agent", "--config", str(config), "--port",
                           str(_free_port())], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"reelbot: error: the database {db} is damaged") and "backup" in last
