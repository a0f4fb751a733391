"""Simulated firmware side: MuJoCo robots, their tasks, rendering and gymnasium wrappers.

Rendering backend: set ``MUJOCO_GL`` (``egl``, ``osmesa`` or ``glfw``) before MuJoCo is first
imported to choose one. When it is unset on a Linux machine without a display, MuJoCo picks GLFW,
which cannot start there; :mod:`firmware_bridge.sim.render` then switches MuJoCo to EGL at the
first renderer it creates. Nothing is changed at import.
"""
