"""Safety between the policy and the robot: clamp, rate limit, watchdog, e-stop latch.

Safety lives in the runtime, not in the policy: whatever the policy (or its absence) produces,
:meth:`SafetyLayer.filter` returns the action that is actually sent, and that is what gets recorded.

Rules, in order, each tick:
1. e-stop latched (by :meth:`estop`, a firmware fault, or a link-independent e-stop input) ->
   the safe action, until :meth:`clear_estop`;
2. no action this tick: the last sent action is held while the last valid one is younger than
   ``watchdog_s``, then the safe action is sent (a watchdog trip, counted once per outage);
3. otherwise the action is clamped to the action spec (NaN or inf -> the safe value, counted), each
   continuous element moves at most ``max_delta`` per tick from the last sent action.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from shared.spec import Space

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SafetyConfig:
    """Safety limits of the onboard runtime.

    Attributes:
        max_delta: largest change of a continuous action element per tick, in action units
            (actions are normalised to [-1, 1], so 2.0 disables the rate limit).
        watchdog_s: seconds without a valid policy action before the safe action is sent.
    """

    max_delta: float = 0.5
    watchdog_s: float = 0.1


@dataclass
class SafetyCounters:
    """How often each rule acted."""

    clamped: int = 0
    rate_limited: int = 0
    nan_replaced: int = 0
    watchdog_trips: int = 0
    estop_ticks: int = 0
    estops: int = 0
    reasons: list[str] = field(default_factory=list)


class SafetyLayer:
    """Filters every action before it reaches the robot.

    Args:
        action_spec: the robot's action spec.
        safe_action: the action sent when stopped (e.g. hold position / zero torque).
        config: limits.
    """

    def __init__(self, action_spec: Mapping[str, Space], safe_action: Mapping[str, np.ndarray],
                 config: SafetyConfig | None = None) -> None:
        self.spec = dict(action_spec)
        self.config = config or SafetyConfig()
        self.safe_action = {k: np.asarray(safe_action[k], self.spec[k].dtype) for k in self.spec}
        self.last_sent = {k: v.copy() for k, v in self.safe_action.items()}
        self.last_valid_time: float | None = None
        self.latched: str | None = None
        self.tripped = False
        self.counters = SafetyCounters()

    def estop(self, reason: str) -> None:
        """Latch the e-stop; the safe action is sent until :meth:`clear_estop`."""
        if self.latched is None:
            self.counters.estops += 1
            self.counters.reasons.append(reason)
            log.warning("e-stop latched: %s", reason)
        self.latched = reason

    def clear_estop(self) -> None:
        """Release the latch (a person's decision); rate limiting restarts from the safe action."""
        if self.latched is not None:
            log.warning("e-stop cleared (was: %s)", self.latched)
        self.latched = None
        self.last_sent = {k: v.copy() for k, v in self.safe_action.items()}

    def filter(self, action: Mapping[str, np.ndarray] | None, now: float) -> dict[str, np.ndarray]:
        """Return the action to send this tick (see the module docstring for the rules)."""
        if action is not None:
            self.last_valid_time = now
        if self.latched is not None:
            self.counters.estop_ticks += 1
            return self._send_safe()
        if action is None:
            recent = (self.last_valid_time is not None
                      and now - self.last_valid_time <= self.config.watchdog_s)
            if recent:
                return {k: v.copy() for k, v in self.last_sent.items()}
            if not self.tripped and self.last_valid_time is not None:
                self.counters.watchdog_trips += 1
                self.tripped = True
                log.warning("watchdog: no valid action for %.3f s", now - self.last_valid_time)
            return self._send_safe()
        self.tripped = False
        sent = {key: self._limit(key, np.asarray(action[key])) for key in self.spec}
        self.last_sent = sent
        return {k: v.copy() for k, v in sent.items()}

    def _send_safe(self) -> dict[str, np.ndarray]:
        self.last_sent = {k: v.copy() for k, v in self.safe_action.items()}
        return {k: v.copy() for k, v in self.safe_action.items()}

    def _limit(self, key: str, value: np.ndarray) -> np.ndarray:
        space = self.spec[key]
        if value.shape != space.shape:
            raise ValueError(f"action[{key!r}] has shape {value.shape}, spec {space.shape}")
        if space.discrete:
            if not (space.low <= value <= space.high):
                self.counters.clamped += 1
                return self.safe_action[key].copy()
            return value.astype(space.dtype)
        value = value.astype(np.float64)
        bad = ~np.isfinite(value)
        if bad.any():
            self.counters.nan_replaced += int(bad.sum())
            value = np.where(bad, self.safe_action[key], value)
        clipped = np.clip(value, space.low, space.high)
        if np.any(clipped != value):
            self.counters.clamped += 1
        previous = self.last_sent[key].astype(np.float64)
        step = self.config.max_delta
        limited = np.clip(clipped, previous - step, previous + step)
        if np.any(limited != clipped):
            self.counters.rate_limited += 1
        return limited.astype(space.dtype)
