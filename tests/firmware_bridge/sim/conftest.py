"""Headless rendering for the simulated-robot tests: EGL unless the caller chose a backend.

MuJoCo reads ``MUJOCO_GL`` once, when it is first imported, so this must run before any test
module imports ``mujoco``.
"""

from __future__ import annotations

import os

if "MUJOCO_GL" not in os.environ and not os.environ.get("DISPLAY"):
    os.environ["MUJOCO_GL"] = "egl"
