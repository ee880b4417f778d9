"""The suite's bug guard (tests/conftest.py): a programming error inside a provider, which production
only logs so the job goes on, fails the test during which it happened, unless the test asks for the
`bugs` fixture because it provokes one on purpose.

Checked by running a small test file in a child pytest that uses this suite's conftest."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = '''
from agent.engine.cascade import Cascade
from agent.engine.health import HealthBoard
from agent.settings import CascadeSettings
from providers.base import Stage
from tests.fakes import FakeProvider


async def serve(clock):
    a = FakeProvider("a").enqueue(TypeError("unsupported operand"))
    cascade = Cascade(stage=Stage.VOICE, providers=[a, FakeProvider("b")],
                      health=HealthBoard(CascadeSettings(), clock), clock=clock, timeout_s=5,
                      job_id="job-7", record=lambda attempt: None)
    return await cascade.run("scene 1", lambda p: p._next(lambda: "ok"))


async def test_unnoticed_bug(clock):
    assert (await serve(clock)).provider == "b"  # the job went on...


async def test_expected_bug(clock, bugs):
    assert (await serve(clock)).provider == "b"
    assert len(bugs) == 1


async def test_no_bug(clock):
    a = FakeProvider("a")
    assert a.name == "a"
'''


def test_a_bug_logged_during_a_test_fails_it_unless_expected(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["tests.conftest"]\n', encoding="utf-8")
    (tmp_path / "test_child.py").write_text(textwrap.dedent(CHILD), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA",
         "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(tmp_path), str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=90,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "ERROR test_child.py::test_unnoticed_bug" in out, out  # failed at teardown by the guard
    assert "a provider raised a programming error (logged as a bug)" in out
    assert "job job-7" in out and "TypeError: unsupported operand" in out  # the record and its traceback
    assert "PASSED test_child.py::test_expected_bug" in out
    assert "PASSED test_child.py::test_no_bug" in out
    assert "1 error" in out, out
