"""Train-ratio limiter: how many replayed steps the learner may train on per inserted step.

DreamerV3 calls this ``train_ratio``: with batch ``B x T`` one update replays ``B * T`` steps, so
``train_ratio = 512`` and ``B x T = 16 x 64`` means one update per 2 inserted steps. With the
ratio counted from the end of the prefill, the learner may run an update when::

    replayed + B * T <= train_ratio * (inserted - min_inserted) + tolerance

``tolerance`` (replayed steps) lets the learner run a little ahead of the line so jitter in the
robots' stream does not stall it. ``unlimited=True`` trains as fast as the learner can once the
prefill is in — what DayDreamer does on physical robots. No update happens before
``min_inserted`` steps are stored (the prefill). The limiter only ever holds back the learner;
robots are never slowed down.
"""

from __future__ import annotations

from dataclasses import dataclass

from offboard.replay.errors import ReplayError


@dataclass(frozen=True)
class LimiterConfig:
    """When the learner may run one more update."""

    train_ratio: float = 512.0
    """Replayed steps per inserted step (ignored when ``unlimited``)."""
    unlimited: bool = False
    """Train as fast as possible once the prefill is in (DayDreamer on robots)."""
    min_inserted: int = 1024
    """Inserted steps required before the first update (prefill)."""
    tolerance: int = 0
    """Replayed steps the learner may run ahead of the ratio line."""
    count_prefill: bool = False
    """Count the prefill steps in the ratio too (a burst of updates right after the prefill)."""

    def __post_init__(self) -> None:
        if self.train_ratio <= 0 or self.min_inserted < 0 or self.tolerance < 0:
            raise ReplayError(f"train_ratio {self.train_ratio} must be > 0, min_inserted "
                              f"{self.min_inserted} and tolerance {self.tolerance} >= 0")


class TrainRatioLimiter:
    """Decides from the running totals whether the learner may update now (no clock involved)."""

    def __init__(self, config: LimiterConfig, batch_steps: int) -> None:
        """Args: config; ``batch_steps`` = ``B * T``, steps replayed by one update."""
        if batch_steps <= 0:
            raise ReplayError(f"batch_steps must be > 0, got {batch_steps}")
        self.config = config
        self.batch_steps = batch_steps
        self.refused_prefill = 0
        self.refused_ratio = 0

    def budget(self, inserted: int) -> float:
        """Replayed steps allowed after ``inserted`` inserted steps (inf when unlimited)."""
        if inserted < self.config.min_inserted:
            return 0.0
        if self.config.unlimited:
            return float("inf")
        counted = inserted if self.config.count_prefill else inserted - self.config.min_inserted
        return self.config.train_ratio * counted + self.config.tolerance

    def updates_allowed(self, inserted: int, replayed: int) -> int:
        """How many more updates fit now (a large number when unlimited, 0 during the prefill)."""
        budget = self.budget(inserted)
        if budget == float("inf"):
            return 1 << 30
        return max(0, int((budget - replayed) // self.batch_steps))

    def want_update(self, inserted: int, replayed: int) -> bool:
        """True when one more update of ``batch_steps`` keeps ``replayed`` within the budget."""
        if inserted < self.config.min_inserted:
            self.refused_prefill += 1
            return False
        if self.updates_allowed(inserted, replayed) > 0:
            return True
        self.refused_ratio += 1
        return False

    def ratio(self, inserted: int, replayed: int) -> float:
        """Measured replayed steps per inserted step after the prefill (0 before)."""
        counted = inserted if self.config.count_prefill else inserted - self.config.min_inserted
        return replayed / counted if counted > 0 else 0.0
