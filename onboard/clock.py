"""Monotonic clocks for the control loop: the real one, replaceable by a fake one in tests."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """What the control loop needs of time."""

    def now(self) -> float:
        """Monotonic seconds."""
        ...

    def sleep_until(self, deadline: float) -> None:
        """Return at (or as soon as possible after) ``deadline`` in :meth:`now` seconds."""
        ...


class MonotonicClock:
    """``time.monotonic`` with a sleep that ends with a short spin for sub-millisecond accuracy.

    Attributes:
        spin: seconds before the deadline at which sleeping stops and busy-waiting starts.
    """

    def __init__(self, spin: float = 0.0005) -> None:
        self.spin = spin

    def now(self) -> float:
        return time.monotonic()

    def sleep_until(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining > self.spin:
            time.sleep(remaining - self.spin)
        while time.monotonic() < deadline:
            pass
