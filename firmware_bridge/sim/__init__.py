"""Simulated firmware side: MuJoCo robots, their tasks, rendering and gymnasium wrappers.

MuJoCo picks its OpenGL backend when it is first imported, so this package chooses EGL for
headless machines (no ``DISPLAY``) before any submodule imports ``mujoco``, unless ``MUJOCO_GL``
is already set. Import ``mujoco`` after this package, or set ``MUJOCO_GL`` yourself.
"""

from __future__ import annotations

import os

if "MUJOCO_GL" not in os.environ and not os.environ.get("DISPLAY"):
    os.environ["MUJOCO_GL"] = "egl"
