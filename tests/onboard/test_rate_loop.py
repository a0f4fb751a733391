"""The fixed-rate loop: absolute deadlines, counted overruns, no catch-up bursts."""

from __future__ import annotations

import pytest

from onboard.rate_loop import RateLoop
from tests.onboard.fakes import FakeClock


def test_deadlines_are_absolute_and_do_not_drift() -> None:
    clock = FakeClock(start=10.0)
    loop = RateLoop(50.0, clock)
    seen: list[float] = []

    def tick(index: int, deadline: float) -> bool:
        seen.append(deadline)
        clock.advance(0.005)  # work takes 5 ms of the 20 ms period
        return True

    stats = loop.run(tick, max_ticks=100)
    assert stats.ticks == 100 and stats.overruns == 0
    assert seen[-1] == pytest.approx(10.0 + 99 * 0.02)
    assert stats.jitter.percentile(99) == pytest.approx(0.0)
    assert stats.busy.percentile(50) == pytest.approx(0.005)


def test_overrun_is_counted_and_missed_deadlines_skipped() -> None:
    clock = FakeClock(start=0.0)
    loop = RateLoop(10.0, clock)
    deadlines: list[float] = []

    def tick(index: int, deadline: float) -> bool:
        deadlines.append(deadline)
        clock.advance(0.25 if index == 3 else 0.01)  # tick 3 takes 2.5 periods
        return index < 6

    stats = loop.run(tick)
    assert stats.overruns == 1 and stats.skipped == 2
    assert deadlines[:4] == pytest.approx([0.0, 0.1, 0.2, 0.3])
    assert deadlines[4] == pytest.approx(0.6)  # 0.4 and 0.5 were skipped, no burst
    assert stats.ticks == 7


def test_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        RateLoop(0.0)
