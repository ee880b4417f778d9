"""Clocks that tests move by hand, injected wherever the code takes a clock."""

from __future__ import annotations

import datetime as dt

__all__ = ["FakeClock", "WallClock"]


class FakeClock:
    """A monotonic clock tests move by hand."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class WallClock(FakeClock):
    """A wall clock (epoch seconds) tests move by hand; starts on a fixed UTC date."""

    def __init__(self, start: dt.datetime = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)) -> None:
        super().__init__(start.timestamp())
