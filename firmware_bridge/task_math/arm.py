"""UR5-like arm tasks (reach, pick-and-place) on a Cartesian controller.

Targets, rewards and observations as functions of the readings.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from firmware_bridge.task_math.common import Readings, image_space
from shared.spec import EnvSpec, Space

#: reachable box for the arm's TCP: (low xyz, high xyz) in metres.
ARM_WORKSPACE = (np.array([0.3, -0.25, 0.03]), np.array([0.62, 0.25, 0.4]))


def reach_spec(image: bool = False) -> EnvSpec:
    """Observation ``vector`` (12,) [+ ``image``], ``log/distance``; action ``action`` (3,)."""
    observation = {"vector": Space(np.float32, (12,)),
                   "log/distance": Space(np.float32, (), 0.0)}
    if image:
        observation["image"] = image_space()
    return EnvSpec.create(observation, {"action": Space(np.float32, (3,), -1.0, 1.0)})


def arm_hold(readings: Readings) -> np.ndarray:
    """Safe targets ``(4,)``: stay at the commanded TCP with the commanded gripper (reach and
    pick-and-place report the commanded TCP in task sensors 6..8; pick-and-place the closure in
    sensor 9, reach keeps the gripper open)."""
    sensors = np.asarray(readings["task_sensors"], np.float64)
    closure = sensors[9] if sensors.size == 16 else 0.0
    return np.array([*sensors[6:9], closure])


def reach_tcp_target(commanded: np.ndarray, action: np.ndarray, max_step: float) -> np.ndarray:
    """Next commanded TCP ``(3,)``: ``commanded`` ``(3,)`` moved by ``action`` ``(3,)`` in
    [-1, 1] times ``max_step`` metres, clipped to :data:`ARM_WORKSPACE`."""
    delta = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0) * max_step
    return np.clip(np.asarray(commanded, dtype=np.float64) + delta, *ARM_WORKSPACE)


def reach_distance(readings: Readings) -> float:
    """TCP-to-goal distance in metres."""
    tcp = np.asarray(readings["joint_pos"][:3], np.float64)
    return float(np.linalg.norm(tcp - np.asarray(readings["task_sensors"][9:12], np.float64)))


def reach_observation(readings: Readings) -> dict[str, np.ndarray]:
    """``vector`` = arm joints (6), TCP (3), goal (3); ``log/distance``."""
    sensors = readings["task_sensors"]
    vector = np.concatenate([sensors[:6], readings["joint_pos"][:3], sensors[9:12]])
    return {"vector": vector.astype(np.float32),
            "log/distance": np.float32(reach_distance(readings))}


def reach_reward(readings: Readings) -> float:
    """Minus the distance to the goal, metres."""
    return -reach_distance(readings)


def reach_targets(action: Mapping[str, np.ndarray], readings: Readings,
                  max_step: float = 0.05) -> np.ndarray:
    """Cartesian targets ``(4,)``: the next commanded TCP (from the commanded TCP in
    ``readings``) and gripper closure 0 (open)."""
    tcp = reach_tcp_target(readings["task_sensors"][6:9], action["action"], max_step)
    return np.concatenate([tcp, [0.0]])


PP_OTHER, PP_LEFT, PP_RIGHT = 0, 1, 2
PP_BIN_X = 0.46
PP_BIN_Y = {PP_LEFT: 0.14, PP_RIGHT: -0.14}
PP_BIN_HALF = (0.1, 0.08)
PP_Z_TABLE = 0.035
PP_Z_HOVER = 0.15
#: TCP moves stay this far inside a bin's walls.
PP_TCP_MARGIN = 0.02
#: plane direction of actions 0..3 (-x, +x, -y, +y).
PP_MOVES = ((-1.0, 0.0), (1.0, 0.0), (0.0, -1.0), (0.0, 1.0))
#: task sensor indices of the pick-and-place firmware.
PP_COMMANDED, PP_CLOSURE, PP_HOLDING, PP_GRASPED_BIN = slice(6, 9), 9, 10, 11
PP_GRASPS, PP_PLACES, PP_DROPS, PP_SINCE_PLACE = 12, 13, 14, 15


def pick_place_spec() -> EnvSpec:
    """Image, joints, TCP, gripper and side one-hots; one discrete ``action`` in 0..5."""
    return EnvSpec.create({
        "image": image_space(),
        "joint_positions": Space(np.float32, (6,)),
        "cartesian_position": Space(np.float32, (3,)),
        "gripper_pos": Space(np.float32, (1,), 0.0, 1.0),
        "gripper_side": Space(np.float32, (3,), 0.0, 1.0),
        "grasped_side": Space(np.float32, (3,), 0.0, 1.0),
    }, {"action": Space(np.int32, (), 0, 5)})


def side_of(y: float) -> int:
    """Bin under a point with plane coordinate ``y``: PP_LEFT, PP_RIGHT or PP_OTHER (gap)."""
    for side, centre in PP_BIN_Y.items():
        if abs(y - centre) <= PP_BIN_HALF[1]:
            return side
    return PP_OTHER


def pick_place_bounds(holding: bool, commanded_y: float) -> tuple[np.ndarray, np.ndarray]:
    """Plane box ``(2,)``, ``(2,)`` the TCP may move in: its bin, or both bins and the gap while
    holding."""
    half = np.array(PP_BIN_HALF) - PP_TCP_MARGIN
    if holding:
        low_y, high_y = PP_BIN_Y[PP_RIGHT] - half[1], PP_BIN_Y[PP_LEFT] + half[1]
        return np.array([PP_BIN_X - half[0], low_y]), np.array([PP_BIN_X + half[0], high_y])
    centre = np.array([PP_BIN_X, PP_BIN_Y[side_of(commanded_y) or PP_LEFT]])
    return centre - half, centre + half


def pick_place_targets(action: Mapping[str, np.ndarray], readings: Readings,
                       grid: float = 0.04) -> np.ndarray:
    """Cartesian targets ``(4,)`` (TCP, gripper closure) of one discrete action: 0..3 move the
    TCP ``grid`` metres in the plane (at hover height while holding), 4 closes, 5 opens."""
    sensors = np.asarray(readings["task_sensors"], np.float64)
    commanded, closure = sensors[PP_COMMANDED], float(sensors[PP_CLOSURE])
    holding = sensors[PP_HOLDING] > 0.5
    choice = int(action["action"])
    if choice < 4:
        plane = np.clip(commanded[:2] + np.array(PP_MOVES[choice]) * grid,
                        *pick_place_bounds(holding, float(commanded[1])))
        height = PP_Z_HOVER if holding else PP_Z_TABLE
        return np.array([plane[0], plane[1], height, closure])
    return np.array([*commanded, 1.0 if choice == 4 else 0.0])


def pick_place_reward(readings: Readings, previous: Readings | None) -> float:
    """+1 per grasp, +10 per place, -1 per drop since the ``previous`` readings."""
    if previous is None:
        return 0.0
    now = np.asarray(readings["task_sensors"], np.float64)
    before = np.asarray(previous["task_sensors"], np.float64)
    grasps, places, drops = (now[index] - before[index]
                             for index in (PP_GRASPS, PP_PLACES, PP_DROPS))
    return float(grasps + 10.0 * places - drops)


def pick_place_observation(readings: Readings) -> dict[str, np.ndarray]:
    """Joints, TCP, gripper closure and side one-hots (the ``image`` comes from the camera)."""
    sensors = np.asarray(readings["task_sensors"], np.float64)
    one_hot = np.eye(3, dtype=np.float32)
    closure = float(np.clip(readings["joint_pos"][3], 0.0, 1.0))
    return {
        "joint_positions": sensors[:6].astype(np.float32),
        "cartesian_position": np.asarray(readings["joint_pos"][:3]).astype(np.float32),
        "gripper_pos": np.array([closure], np.float32),
        "gripper_side": one_hot[side_of(float(sensors[PP_COMMANDED][1]))],
        "grasped_side": one_hot[int(np.rint(sensors[PP_GRASPED_BIN]))],
    }


def pick_place_is_last(readings: Readings, countdown: int = 5, control_dt: float = 0.25
                       ) -> bool:
    """True ``countdown`` control periods after a place (counted from the placing command)."""
    since = float(readings["task_sensors"][PP_SINCE_PLACE])
    return since >= 0.0 and since >= countdown * control_dt - 1e-6
