"""A fixed-rate loop on absolute deadlines.

Tick ``k`` is due at ``start + k * period`` (never ``previous end + period``, which drifts). When a
tick ends after the next deadline, the loop counts an *overrun* and skips the deadlines it missed
(it does not try to catch up with a burst of ticks, which would command the robot in a rush).
Jitter is how late a tick starts relative to its deadline.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field

from onboard.clock import Clock, MonotonicClock
from onboard.timing import PhaseStats

log = logging.getLogger(__name__)


@dataclass
class LoopStats:
    """Counters and timings of a :class:`RateLoop`.

    Attributes:
        ticks: ticks run.
        overruns: ticks that ended after the next deadline.
        skipped: deadlines skipped because of overruns.
        jitter: start lateness per tick.
        busy: tick duration (sense + infer + act + bookkeeping).
    """

    ticks: int = 0
    overruns: int = 0
    skipped: int = 0
    jitter: PhaseStats = field(default_factory=PhaseStats)
    busy: PhaseStats = field(default_factory=PhaseStats)

    def summary(self) -> dict[str, object]:
        return {"ticks": self.ticks, "overruns": self.overruns, "skipped": self.skipped,
                "jitter": self.jitter.summary(), "busy": self.busy.summary()}


class RateLoop:
    """Call ``tick(k, deadline)`` at ``hz`` on absolute deadlines until it returns False.

    Args:
        hz: control rate.
        clock: time source; tests pass a fake clock.
    """

    def __init__(self, hz: float, clock: Clock | None = None) -> None:
        if not hz > 0:
            raise ValueError(f"control rate must be positive, got {hz}")
        self.period = 1.0 / hz
        self.clock = clock or MonotonicClock()
        self.stats = LoopStats()

    def run(self, tick: Callable[[int, float], bool], max_ticks: int | None = None) -> LoopStats:
        """Run until ``tick`` returns False or ``max_ticks`` ticks ran in this call; return the
        stats (cumulative over calls)."""
        start = self.clock.now()
        index = 0
        ran = 0
        while max_ticks is None or ran < max_ticks:
            deadline = start + index * self.period
            self.clock.sleep_until(deadline)
            began = self.clock.now()
            self.stats.jitter.add(max(0.0, began - deadline))
            keep_going = tick(self.stats.ticks, deadline)
            ended = self.clock.now()
            self.stats.busy.add(ended - began)
            self.stats.ticks += 1
            ran += 1
            index += 1
            if ended > start + index * self.period:
                late_index = math.ceil((ended - start) / self.period)
                self.stats.overruns += 1
                self.stats.skipped += late_index - index
                log.debug("tick %d overran; skipping %d deadline(s)", self.stats.ticks - 1,
                          late_index - index)
                index = late_index
            if not keep_going:
                break
        return self.stats
