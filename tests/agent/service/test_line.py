"""The waiting line keeps its queued count as it changes (agent.service.line)."""

from agent.service.line import WaitingLine


def test_the_line_keeps_order_and_counts_only_queued_jobs() -> None:
    line = WaitingLine()
    line.add("a", queued=True)
    line.add("r", queued=False)  # resumed after a restart: waits, but is not a queued job
    line.add("b", queued=True)
    line.add("c", queued=True, front=True)  # a reviewed job goes back ahead of the line
    assert list(line) == ["c", "a", "r", "b"] and len(line) == 4 and line.queued == 3
    assert "r" in line and "x" not in line

    assert line.remove("a") and not line.remove("a")  # twice: the second finds nothing
    assert line.remove("r")
    assert list(line) == ["c", "b"] and line.queued == 2


def test_adding_a_job_twice_moves_it_and_counts_it_once() -> None:
    line = WaitingLine()
    line.add("a", queued=True)
    line.add("b", queued=True)
    line.add("a", queued=True, front=False)
    assert list(line) == ["b", "a"] and line.queued == 2
    line.add("a", queued=False)
    assert line.queued == 1
