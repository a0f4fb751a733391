"""Cart-pole swing-up: spec, observation, reward and force command from readings."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from firmware_bridge.task_math.common import Readings, image_space, tolerance
from shared.spec import EnvSpec, Space


def cartpole_spec(image: bool = False) -> EnvSpec:
    """Observation ``vector`` (5,) [+ ``image``], action ``action`` (1,) in [-1, 1]."""
    observation = {"vector": Space(np.float32, (5,))}
    if image:
        observation["image"] = image_space()
    return EnvSpec.create(observation, {"action": Space(np.float32, (1,), -1.0, 1.0)})


def cartpole_observation(readings: Readings) -> dict[str, np.ndarray]:
    """``vector`` = [x, cos, sin, x_dot, theta_dot] (float32)."""
    angle, angular_velocity = (float(v) for v in readings["task_sensors"][:2])
    vector = [float(readings["joint_pos"][0]), np.cos(angle), np.sin(angle),
              float(readings["joint_vel"][0]), angular_velocity]
    return {"vector": np.array(vector, dtype=np.float32)}


def cartpole_reward(readings: Readings) -> float:
    """dm_control's smooth swing-up reward in [0, 1] (see :mod:`robots.cartpole`)."""
    angle, angular_velocity, force = (float(v) for v in readings["task_sensors"][:3])
    upright = (np.cos(angle) + 1.0) / 2.0
    centered = (1.0 + tolerance(float(readings["joint_pos"][0]), margin=2.0)) / 2.0
    control = tolerance(force, margin=1.0, value_at_margin=0.0, sigmoid="quadratic")
    small_control = (4.0 + control) / 5.0
    small_velocity = (1.0 + tolerance(angular_velocity, margin=5.0)) / 2.0
    return float(upright * centered * small_control * small_velocity)


def cartpole_hold(readings: Readings) -> np.ndarray:
    """Safe targets ``(1,)``: no force."""
    return np.zeros(1)


def cartpole_targets(action: Mapping[str, np.ndarray]) -> np.ndarray:
    """Motor command ``(1,)`` in [-1, 1] (force = 10 N * command) of an action."""
    return np.clip(np.asarray(action["action"], dtype=np.float64).reshape(1), -1.0, 1.0)
