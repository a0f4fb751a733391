"""Observation, reward and action mapping of each task as pure functions of sensor *readings*.

One copy of each task's learning-side code, used on both sides of the serial link: the in-process
tasks of :mod:`firmware_bridge.sim.robots` call these functions on readings taken straight from
MuJoCo, the robot computer's host-side tasks (:mod:`firmware_bridge.host_tasks`) call them on the
readings that arrived in a STATE frame. Numpy only: the robot computer needs no MuJoCo.
One module per task family (``common``, ``cartpole``, ``quadruped``, ``sphere``, ``arm``);
every public name is re-exported here: ``task_math.cartpole_reward(readings)``.

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

from firmware_bridge.task_math.arm import (
    ARM_WORKSPACE,
    PP_BIN_HALF,
    PP_BIN_X,
    PP_BIN_Y,
    PP_CLOSURE,
    PP_COMMANDED,
    PP_DROPS,
    PP_GRASPED_BIN,
    PP_GRASPS,
    PP_HOLDING,
    PP_LEFT,
    PP_MOVES,
    PP_OTHER,
    PP_PLACES,
    PP_RIGHT,
    PP_SINCE_PLACE,
    PP_TCP_MARGIN,
    PP_Z_HOVER,
    PP_Z_TABLE,
    arm_hold,
    pick_place_bounds,
    pick_place_is_last,
    pick_place_observation,
    pick_place_reward,
    pick_place_spec,
    pick_place_targets,
    reach_distance,
    reach_observation,
    reach_reward,
    reach_spec,
    reach_targets,
    reach_tcp_target,
    side_of,
)
from firmware_bridge.task_math.cartpole import (
    cartpole_hold,
    cartpole_observation,
    cartpole_reward,
    cartpole_spec,
    cartpole_targets,
)
from firmware_bridge.task_math.common import (
    Readings,
    TaskMathError,
    ground_heading,
    image_space,
    roll_pitch,
    tolerance,
    up_alignment,
)
from firmware_bridge.task_math.quadruped import (
    A1_CALF_RANGE,
    A1_HIP_RANGE,
    A1_JOINT_HIGH,
    A1_JOINT_LOW,
    A1_REWARD_POSE,
    A1_THIGH_RANGE,
    A1_USED_FRACTION,
    a1_action_bounds,
    a1_action_to_targets,
    a1_hold,
    a1_observation,
    a1_reward,
    a1_spec,
    a1_staged_reward,
    a1_targets_to_action,
)
from firmware_bridge.task_math.sphere import (
    sphere_distance,
    sphere_hold,
    sphere_observation,
    sphere_reward,
    sphere_spec,
    sphere_targets,
)

__all__ = [
    "A1_CALF_RANGE",
    "A1_HIP_RANGE",
    "A1_JOINT_HIGH",
    "A1_JOINT_LOW",
    "A1_REWARD_POSE",
    "A1_THIGH_RANGE",
    "A1_USED_FRACTION",
    "ARM_WORKSPACE",
    "PP_BIN_HALF",
    "PP_BIN_X",
    "PP_BIN_Y",
    "PP_CLOSURE",
    "PP_COMMANDED",
    "PP_DROPS",
    "PP_GRASPED_BIN",
    "PP_GRASPS",
    "PP_HOLDING",
    "PP_LEFT",
    "PP_MOVES",
    "PP_OTHER",
    "PP_PLACES",
    "PP_RIGHT",
    "PP_SINCE_PLACE",
    "PP_TCP_MARGIN",
    "PP_Z_HOVER",
    "PP_Z_TABLE",
    "Readings",
    "TaskMathError",
    "a1_action_bounds",
    "a1_action_to_targets",
    "a1_hold",
    "a1_observation",
    "a1_reward",
    "a1_spec",
    "a1_staged_reward",
    "a1_targets_to_action",
    "arm_hold",
    "cartpole_hold",
    "cartpole_observation",
    "cartpole_reward",
    "cartpole_spec",
    "cartpole_targets",
    "ground_heading",
    "image_space",
    "pick_place_bounds",
    "pick_place_is_last",
    "pick_place_observation",
    "pick_place_reward",
    "pick_place_spec",
    "pick_place_targets",
    "reach_distance",
    "reach_observation",
    "reach_reward",
    "reach_spec",
    "reach_targets",
    "reach_tcp_target",
    "roll_pitch",
    "side_of",
    "sphere_distance",
    "sphere_hold",
    "sphere_observation",
    "sphere_reward",
    "sphere_spec",
    "sphere_targets",
    "tolerance",
    "up_alignment",
]
