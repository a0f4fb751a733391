"""Smooth reward shaping helpers (the ``tolerance`` of dm_control, re-derived).

The function lives in :mod:`firmware_bridge.task_math` (numpy only, shared with the robot
computer's host-side tasks); this module keeps the historical import path.
"""

from __future__ import annotations

from firmware_bridge.task_math import tolerance

__all__ = ["tolerance"]
