"""Shared helpers of the task functions: readings type, error, reward shaping, orientation."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from shared.errors import DaydreamerError
from shared.spec import Space

Readings = Mapping[str, np.ndarray]


class TaskMathError(DaydreamerError):
    """A task function was called with bad arguments (bounds, unknown shape)."""


def tolerance(x: float | np.ndarray, bounds: tuple[float, float] = (0.0, 0.0),
              margin: float = 0.0, sigmoid: str = "gaussian",
              value_at_margin: float = 0.1) -> np.ndarray:
    """Elementwise reward in ``[0, 1]`` of ``x`` (any shape) for being inside ``bounds``.

    1 inside ``bounds``; outside it decays over ``margin`` to ``value_at_margin`` at distance
    ``margin``, with a gaussian (never exactly 0), a linear or a quadratic (0 at
    ``margin / sqrt(1 - value_at_margin)``) shape (dm_control's ``tolerance``, re-derived).
    """
    low, high = bounds
    if low > high or margin < 0:
        raise TaskMathError(f"tolerance needs low <= high and margin >= 0, got {bounds}, {margin}")
    x = np.asarray(x, dtype=np.float64)
    inside = (low <= x) & (x <= high)
    if margin == 0:
        return inside.astype(np.float64)
    distance = np.where(x < low, low - x, x - high) / margin
    if sigmoid == "gaussian":
        scale = np.sqrt(-2.0 * np.log(value_at_margin))
        value = np.exp(-0.5 * (distance * scale) ** 2)
    elif sigmoid == "quadratic":
        scaled = distance * np.sqrt(1.0 - value_at_margin)
        value = np.where(np.abs(scaled) < 1.0, 1.0 - scaled**2, 0.0)
    elif sigmoid == "linear":
        scaled = distance * (1.0 - value_at_margin)
        value = np.where(np.abs(scaled) < 1.0, 1.0 - scaled, 0.0)
    else:
        raise TaskMathError(f"unknown sigmoid {sigmoid!r}; use gaussian, linear or quadratic")
    return np.where(inside, 1.0, value)


def roll_pitch(quat: np.ndarray) -> np.ndarray:
    """Roll and pitch ``(2,)`` in radians of a body quaternion ``(4,)`` (w, x, y, z)."""
    w, x, y, z = (float(v) for v in quat)
    roll = np.arctan2(2.0 * (w * x + y * z), 1.0 - 2.0 * (x * x + y * y))
    pitch = np.arcsin(np.clip(2.0 * (w * y - z * x), -1.0, 1.0))
    return np.array([roll, pitch])


def up_alignment(quat: np.ndarray) -> float:
    """Cosine between the body's z axis and the world's up axis (1 upright, -1 on its back)."""
    x, y = float(quat[1]), float(quat[2])
    return 1.0 - 2.0 * (x * x + y * y)


def ground_heading(quat: np.ndarray) -> np.ndarray:
    """Unit body x axis projected on the ground ``(3,)`` (zero when it points straight up)."""
    w, x, y, z = (float(v) for v in quat)
    heading = np.array([1.0 - 2.0 * (y * y + z * z), 2.0 * (x * y + w * z), 0.0])
    norm = np.linalg.norm(heading)
    return heading / norm if norm > 1e-6 else np.zeros(3)


def image_space(size: int = 64) -> Space:
    """A ``(size, size, 3)`` uint8 RGB image space."""
    return Space(np.uint8, (size, size, 3), 0, 255)
