"""Smooth reward shaping helpers (the ``tolerance`` of dm_control, re-derived).

``tolerance(x, bounds, margin)`` is 1 inside ``bounds`` and decays outside over ``margin`` to
``value_at_margin`` at distance ``margin``, with a gaussian (smooth, never exactly 0), a linear
or a quadratic (reaches 0 at ``margin / sqrt(1 - value_at_margin)``) shape.
"""

from __future__ import annotations

import numpy as np

from firmware_bridge.sim.robots.base import SimRobotError


def tolerance(x: float | np.ndarray, bounds: tuple[float, float] = (0.0, 0.0),
              margin: float = 0.0, sigmoid: str = "gaussian",
              value_at_margin: float = 0.1) -> np.ndarray:
    """Elementwise reward in ``[0, 1]`` of ``x`` (any shape) for being inside ``bounds``."""
    low, high = bounds
    if low > high or margin < 0:
        raise SimRobotError(f"tolerance needs low <= high and margin >= 0, got {bounds}, {margin}")
    x = np.asarray(x, dtype=np.float64)
    inside = (low <= x) & (x <= high)
    if margin == 0:
        return inside.astype(np.float64)
    distance = np.where(x < low, low - x, x - high) / margin
    if sigmoid == "gaussian":
        scale = np.sqrt(-2.0 * np.log(value_at_margin))
        value = np.exp(-0.5 * (distance * scale) ** 2)
    elif sigmoid == "quadratic":
        scale = np.sqrt(1.0 - value_at_margin)
        scaled = distance * scale
        value = np.where(np.abs(scaled) < 1.0, 1.0 - scaled**2, 0.0)
    elif sigmoid == "linear":
        scaled = distance * (1.0 - value_at_margin)
        value = np.where(np.abs(scaled) < 1.0, 1.0 - scaled, 0.0)
    else:
        raise SimRobotError(f"unknown sigmoid {sigmoid!r}; use gaussian, linear or quadratic")
    return np.where(inside, 1.0, value)
