"""Per-tick timing statistics of the control loop (sense, infer, act, jitter).

Samples go into a fixed numpy ring buffer: :meth:`PhaseStats.add` is O(1) with no allocation on
the control thread, and another thread (the status reporter) may read percentiles at any time.
"""

from __future__ import annotations

import numpy as np


class PhaseStats:
    """Durations of one phase over the last ``window`` ticks, in seconds.

    Attributes:
        count: samples seen in total.
        worst: the largest sample ever seen.
    """

    def __init__(self, window: int = 10_000) -> None:
        self._samples = np.zeros(window)
        self.count = 0
        self.worst = 0.0

    def add(self, seconds: float) -> None:
        self._samples[self.count % self._samples.size] = seconds
        self.count += 1
        if seconds > self.worst:
            self.worst = seconds

    def recent(self) -> np.ndarray:
        """A copy of the samples in the window (unordered)."""
        return self._samples[:min(self.count, self._samples.size)].copy()

    def percentile(self, q: float) -> float:
        samples = self.recent()
        return float(np.percentile(samples, q)) if samples.size else 0.0

    def summary(self) -> dict[str, float]:
        """``{"p50_ms", "p99_ms", "max_ms", "count"}``."""
        return {"p50_ms": 1e3 * self.percentile(50), "p99_ms": 1e3 * self.percentile(99),
                "max_ms": 1e3 * self.worst, "count": float(self.count)}
