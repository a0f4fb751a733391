"""Observation, reward and action mapping of each task as pure functions of sensor *readings*.

One copy of each task's learning-side code, used on both sides of the serial link: the in-process
tasks of :mod:`firmware_bridge.sim.robots` call these functions on readings taken straight from
MuJoCo, the robot computer's host-side tasks (:mod:`firmware_bridge.host_tasks`) call them on the
readings that arrived in a STATE frame. Numpy only: the robot computer needs no MuJoCo.

*Readings* are a mapping with the STATE fields: ``joint_pos`` ``(J,)``, ``joint_vel`` ``(J,)``,
``imu_quat`` ``(4,)`` (w, x, y, z), ``imu_gyro`` ``(3,)``, ``imu_accel`` ``(3,)`` and
``task_sensors`` ``(S,)``. What each task puts in them:

``cartpole_swingup`` (J=1, S=3)
    joint = the cart slider (m, m/s); task sensors = pole angle (rad, 0 upright), pole angular
    velocity (rad/s), motor command in force (-1..1; 0 while stopped).
``a1_walk`` (J=12, S=4)
    the 12 leg joints; IMU = trunk orientation and trunk-frame angular velocity; task sensors =
    trunk linear velocity (3,) in the world frame (the state estimator's output) and trunk height.
``sphere_goal`` (J=2, S=2)
    "joints" = ball position (x, y) and velocity (odometry); task sensors = goal (x, y).
``ur5_reach`` (J=4, S=12)
    the arm controller works in Cartesian space (as a UR's ``movel``): "joints" = measured TCP
    (x, y, z) and gripper closure (0 open .. 1 closed), velocities likewise; task sensors = the
    6 arm joint angles, the commanded TCP (3,) and the goal (3,).
``ur5_pick_place`` (J=4, S=16)
    the same Cartesian controller plus its gripper routine (a close next to the object grasps
    and lifts it; an open releases it); task sensors = 6 arm joint angles, commanded TCP (3,),
    commanded gripper closure, holding (0/1), bin of the grasp (0 other, 1 left, 2 right),
    cumulative grasps, places (released over the other bin), drops, and seconds since the last
    place (-1: none this episode).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from shared.errors import DaydreamerError
from shared.spec import EnvSpec, Space

Readings = Mapping[str, np.ndarray]


class TaskMathError(DaydreamerError):
    """A task function was called with bad arguments (bounds, unknown shape)."""


# ---------------------------------------------------------------------------------- helpers
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


# --------------------------------------------------------------------------------- cart-pole
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


def cartpole_targets(action: Mapping[str, np.ndarray]) -> np.ndarray:
    """Motor command ``(1,)`` in [-1, 1] (force = 10 N * command) of an action."""
    return np.clip(np.asarray(action["action"], dtype=np.float64).reshape(1), -1.0, 1.0)


# ---------------------------------------------------------------------------------------- A1
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


# ------------------------------------------------------------------------------------ sphere
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


def sphere_targets(action: Mapping[str, np.ndarray]) -> np.ndarray:
    """Ground-velocity set-point ``(2,)`` in [-1, 1] (fraction of the top speed)."""
    return np.clip(np.asarray(action["action"], dtype=np.float64).reshape(2), -1.0, 1.0)


# -------------------------------------------------------------------------------- arm reach
#: reachable box for the arm's TCP: (low xyz, high xyz) in metres.
ARM_WORKSPACE = (np.array([0.3, -0.25, 0.03]), np.array([0.62, 0.25, 0.4]))


def reach_spec(image: bool = False) -> EnvSpec:
    """Observation ``vector`` (12,) [+ ``image``], ``log/distance``; action ``action`` (3,)."""
    observation = {"vector": Space(np.float32, (12,)),
                   "log/distance": Space(np.float32, (), 0.0)}
    if image:
        observation["image"] = image_space()
    return EnvSpec.create(observation, {"action": Space(np.float32, (3,), -1.0, 1.0)})


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


# ---------------------------------------------------------------------------- pick and place
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
