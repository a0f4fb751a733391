"""DayDreamer's A1 walking: spec, action mapping, staged reward, observation from readings."""

from __future__ import annotations

import numpy as np

from firmware_bridge.task_math.common import (
    Readings,
    ground_heading,
    image_space,
    roll_pitch,
    up_alignment,
)
from shared.spec import EnvSpec, Space

#: A1 joint limits (Unitree URDF), Unitree order FR, FL, RR, RL x (hip, thigh, calf), rad.
A1_HIP_RANGE = (-0.802851, 0.802851)
A1_THIGH_RANGE = (-1.0472, 4.18879)
A1_CALF_RANGE = (-2.69653, -0.916298)
A1_JOINT_LOW = np.array([A1_HIP_RANGE[0], A1_THIGH_RANGE[0], A1_CALF_RANGE[0]] * 4)
A1_JOINT_HIGH = np.array([A1_HIP_RANGE[1], A1_THIGH_RANGE[1], A1_CALF_RANGE[1]] * 4)
#: fraction of each joint's range an action spans (DayDreamer's ``MOTOR_USED``), per leg.
A1_USED_FRACTION = np.array([[0.01, 0.99], [0.01, 0.90], [0.01, 0.60]] * 4)
#: DayDreamer's standing pose in normalised action units (hip, thigh, calf) per leg.
A1_REWARD_POSE = np.array([0.0, -0.2, 1.0] * 4)


def a1_spec(image: bool = False) -> EnvSpec:
    """Observation ``vector`` (16,) [+ ``image``] and logs; action ``action`` (12,)."""
    observation = {
        "vector": Space(np.float32, (16,)),
        "log/stage": Space(np.int32, (), 0, 4),
        "log/forward_velocity": Space(np.float32, ()),
    }
    if image:
        observation["image"] = image_space()
    return EnvSpec.create(observation, {"action": Space(np.float32, (12,), -1.0, 1.0)})


def a1_action_bounds(full_range: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Joint angles ``(12,)`` that actions -1 and +1 map to."""
    low, high = A1_JOINT_LOW, A1_JOINT_HIGH
    if full_range:
        return low.copy(), high.copy()
    span = high - low
    return low + A1_USED_FRACTION[:, 0] * span, low + A1_USED_FRACTION[:, 1] * span


def a1_action_to_targets(action: np.ndarray, full_range: bool = False) -> np.ndarray:
    """Map a normalised action ``(12,)`` in [-1, 1] onto joint angles ``(12,)``."""
    low, high = a1_action_bounds(full_range)
    action = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
    return low + (action + 1.0) * 0.5 * (high - low)


def a1_targets_to_action(targets: np.ndarray, full_range: bool = False) -> np.ndarray:
    """Inverse of :func:`a1_action_to_targets`, clipped to [-1, 1]: ``(12,)`` -> ``(12,)``."""
    low, high = a1_action_bounds(full_range)
    return np.clip(2.0 * (np.asarray(targets) - low) / (high - low) - 1.0, -1.0, 1.0)


def a1_hold(readings: Readings) -> np.ndarray:
    """Safe targets ``(12,)``: hold the joints where they are."""
    return np.asarray(readings["joint_pos"], dtype=np.float64).copy()


def a1_staged_reward(up: float, joints: np.ndarray, velocity: np.ndarray,
                     heading: np.ndarray, target_speed: float = 0.3) -> tuple[float, int]:
    """DayDreamer's A1 reward and the number of open gates (0..4) (see :mod:`robots.quadruped`).

    Args:
        up: z component of the trunk's z axis in world coordinates.
        joints: joint angles ``(12,)`` in Unitree order.
        velocity: trunk linear velocity ``(3,)``, world frame, m/s.
        heading: unit trunk heading ``(3,)`` projected on the ground.
        target_speed: forward speed for the full velocity term, m/s.
    """
    normalised = a1_targets_to_action(joints)
    worst = np.maximum(1.0 - A1_REWARD_POSE, 1.0 + A1_REWARD_POSE)
    deviation = np.clip(np.abs(normalised - A1_REWARD_POSE) / worst, 0.0, 1.0)
    upright = up / 2.0 + 0.5
    hip = float(upright > 0.7) * (1.0 - deviation[0::3].mean())
    shoulder = float(hip > 0.7) * (1.0 - deviation[1::3].mean())
    knee = float(shoulder > 0.7) * (1.0 - deviation[2::3].mean())
    forward = float(np.dot(velocity, heading))
    speed = float(np.linalg.norm(velocity))
    fraction = max(0.0, forward) / speed if speed > 1e-9 else 0.0
    going = float(np.clip(forward / target_speed, -1.0, 1.0))
    walk = float(knee > 0.7) * fraction * going
    stage = int(upright > 0.7) + int(hip > 0.7) + int(shoulder > 0.7) + int(knee > 0.7)
    reward = upright + hip + shoulder + knee + 10.0 * (walk + 1.0) / 2.0
    return float(reward), stage


def a1_reward(readings: Readings, target_speed: float = 0.3) -> tuple[float, int]:
    """Staged reward (5..19) and stage (0..4) of the readings."""
    quat = np.asarray(readings["imu_quat"], dtype=np.float64)
    return a1_staged_reward(up_alignment(quat), np.asarray(readings["joint_pos"], np.float64),
                            np.asarray(readings["task_sensors"][:3], np.float64),
                            ground_heading(quat), target_speed)


def a1_observation(readings: Readings, target_speed: float = 0.3) -> dict[str, np.ndarray]:
    """``vector`` = 12 joint angles, roll, pitch, roll rate, pitch rate; ``log/`` keys."""
    quat = np.asarray(readings["imu_quat"], dtype=np.float64)
    vector = np.concatenate([np.asarray(readings["joint_pos"], np.float64), roll_pitch(quat),
                             np.asarray(readings["imu_gyro"][:2], np.float64)])
    _, stage = a1_reward(readings, target_speed)
    forward = float(np.asarray(readings["task_sensors"][:3], np.float64) @ ground_heading(quat))
    return {"vector": vector.astype(np.float32), "log/stage": np.int32(stage),
            "log/forward_velocity": np.float32(forward)}
