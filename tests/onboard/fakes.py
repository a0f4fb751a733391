"""Fakes for onboard tests."""

from __future__ import annotations


class FakeClock:
    """A clock whose time moves only when the code under test sleeps or a tick costs time.

    Attributes:
        time: current fake monotonic time.
        tick_cost: seconds each :meth:`charge` call advances time.
    """

    def __init__(self, start: float = 100.0) -> None:
        self.time = start
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.time

    def sleep_until(self, deadline: float) -> None:
        self.sleeps.append(deadline)
        self.time = max(self.time, deadline)

    def advance(self, seconds: float) -> None:
        self.time += seconds
