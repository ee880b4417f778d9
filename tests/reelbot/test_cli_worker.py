"""`reelbot worker` says in one line what a worker of the distributed mode needs before it starts."""

from __future__ import annotations

from pathlib import Path

from reelbot.cli import main


def test_a_worker_without_the_distributed_mode_configured_exits_2_naming_what_is_missing(tmp_path: Path, capsys,
                                                                                          monkeypatch) -> None:
    monkeypatch.delenv("REELBOT_WORKER_TOKEN", raising=False)
    config = tmp_path / "config.toml"
    config.write_text('[agent]\ndatabase_url = "postgresql+asyncpg://r@127.0.0.1:1/r"\n')
    assert main(["worker", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cluster.enabled = true" in err and "cluster.front_door_url" in err
    assert "REELBOT_WORKER_TOKEN" in err


def test_the_distributed_mode_on_sqlite_is_refused(tmp_path: Path, capsys) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[cluster]\nenabled = true\n")
    assert main(["worker", "--config", str(config)]) == 2
    assert "needs agent.database_url on PostgreSQL" in capsys.readouterr().err
