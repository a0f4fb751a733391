"""Sphere to goal: spec, observation, reward and velocity set-point from readings."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from firmware_bridge.task_math.common import Readings, image_space
from shared.spec import EnvSpec, Space


def sphere_spec(vector: bool = True, image_size: int = 64) -> EnvSpec:
    """Observation ``image`` [+ ``vector`` (6,)] and logs; action ``action`` (2,) in [-1, 1]."""
    observation = {"image": image_space(image_size)}
    if vector:
        observation["vector"] = Space(np.float32, (6,))
    observation["log/distance"] = Space(np.float32, (), 0.0)
    observation["log/success"] = Space(bool, ())
    return EnvSpec.create(observation, {"action": Space(np.float32, (2,), -1.0, 1.0)})


def sphere_distance(readings: Readings) -> float:
    """Ball-to-goal distance in metres."""
    ball = np.asarray(readings["joint_pos"][:2], np.float64)
    goal = np.asarray(readings["task_sensors"][:2], np.float64)
    return float(np.linalg.norm(ball - goal))


def sphere_observation(readings: Readings, vector: bool = True,
                       success_distance: float = 0.1) -> dict[str, np.ndarray]:
    """[``vector`` = ball x, y, velocity x, y, goal x, y], ``log/distance``, ``log/success``
    (the ``image`` comes from the camera)."""
    out: dict[str, np.ndarray] = {}
    if vector:
        out["vector"] = np.concatenate([readings["joint_pos"][:2], readings["joint_vel"][:2],
                                        readings["task_sensors"][:2]]).astype(np.float32)
    distance = sphere_distance(readings)
    out["log/distance"] = np.float32(distance)
    out["log/success"] = np.bool_(distance < success_distance)
    return out


def sphere_reward(readings: Readings) -> float:
    """Minus the distance to the goal, metres."""
    return -sphere_distance(readings)


def sphere_hold(readings: Readings) -> np.ndarray:
    """Safe targets ``(2,)``: brake to a stop."""
    return np.zeros(2)


def sphere_targets(action: Mapping[str, np.ndarray]) -> np.ndarray:
    """Ground-velocity set-point ``(2,)`` in [-1, 1] (fraction of the top speed)."""
    return np.clip(np.asarray(action["action"], dtype=np.float64).reshape(2), -1.0, 1.0)
