"""The bench extra works: dm_control loads a task on the pinned mujoco (<4, see pyproject)."""

from __future__ import annotations

import os

import numpy as np
import pytest


def test_dm_control_task_loads_and_steps() -> None:
    os.environ.setdefault("MUJOCO_GL", "egl")
    suite = pytest.importorskip("dm_control.suite")
    env = suite.load("cartpole", "swingup", task_kwargs={"random": 0})
    step = env.reset()
    assert set(step.observation) == {"position", "velocity"}
    spec = env.action_spec()
    total = 0.0
    for _ in range(20):
        step = env.step(np.zeros(spec.shape))
        total += step.reward
    assert np.isfinite(total) and step.observation["position"].shape == (3,)
