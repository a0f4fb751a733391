"""Per-tick timing statistics of the control loop (sense, infer, act, jitter)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np


@dataclass
class PhaseStats:
    """Durations of one phase over the last ``window`` ticks, in seconds.

    Attributes:
        window: how many recent samples the percentiles use.
        count: samples seen in total.
        worst: the largest sample ever seen.
    """

    window: int = 10_000
    count: int = 0
    worst: float = 0.0
    recent: deque[float] = field(default_factory=deque)

    def add(self, seconds: float) -> None:
        self.count += 1
        self.worst = max(self.worst, seconds)
        self.recent.append(seconds)
        if len(self.recent) > self.window:
            self.recent.popleft()

    def percentile(self, q: float) -> float:
        return float(np.percentile(np.fromiter(self.recent, float), q)) if self.recent else 0.0

    def summary(self) -> dict[str, float]:
        """``{"p50_ms", "p99_ms", "max_ms", "count"}``."""
        return {"p50_ms": 1e3 * self.percentile(50), "p99_ms": 1e3 * self.percentile(99),
                "max_ms": 1e3 * self.worst, "count": float(self.count)}
