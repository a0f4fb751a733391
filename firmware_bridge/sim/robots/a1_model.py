"""A quadruped with the Unitree A1's published dimensions, masses and joint limits, built in code.

Source of every number: Unitree's A1 URDF (``unitree_ros/robots/a1_description/urdf/a1.urdf``,
BSD-3), the same values MuJoCo Menagerie's ``unitree_a1`` and legged_gym use:

- trunk box 0.267 x 0.194 x 0.114 m, 4.713 kg, inertia diag (0.0158533, 0.0377999, 0.0456542);
- hip joints at (+-0.183, +-0.047, 0) from the trunk centre; hip link 0.696 kg;
- thigh offset 0.08505 m sideways from the hip; thigh 1.013 kg, length 0.2 m;
- calf 0.166 kg, length 0.2 m; foot sphere radius 0.02 m, 0.06 kg;
- total mass 4.713 + 4 * (0.696 + 1.013 + 0.166 + 0.06) = 12.453 kg;
- joint limits: hip (abduction) +-46 deg (+-0.802851 rad), thigh -60..240 deg
  (-1.0472..4.18879 rad), calf -154.5..-52.5 deg (-2.69653..-0.916298 rad);
- motor torque limit 33.5 N*m (URDF ``effort``), velocity limit 21 rad/s.

Joint order is Unitree's: FR, FL, RR, RL legs, each (hip, thigh, calf). A positive thigh angle
swings the foot backwards; the standing pose is (0, 0.9, -1.8) per leg.

Robot geoms collide with the floor only (``contype=2, conaffinity=1`` against a floor with
``contype=1, conaffinity=2``), as the real robot's links rarely touch each other.
"""

from __future__ import annotations

import os

import mujoco
import numpy as np

from firmware_bridge.sim.robots.base import SimRobotError
from firmware_bridge.task_math import (
    A1_CALF_RANGE,
    A1_HIP_RANGE,
    A1_JOINT_HIGH,
    A1_JOINT_LOW,
    A1_THIGH_RANGE,
)

#: legs in Unitree order, with (x sign, y sign) of the hip position.
LEGS: tuple[tuple[str, float, float], ...] = (
    ("FR", 1.0, -1.0), ("FL", 1.0, 1.0), ("RR", -1.0, -1.0), ("RL", -1.0, 1.0))
JOINT_NAMES: tuple[str, ...] = tuple(
    f"{leg}_{part}_joint" for leg, _, _ in LEGS for part in ("hip", "thigh", "calf"))

TRUNK_SIZE = (0.267, 0.194, 0.114)
TRUNK_MASS = 4.713
HIP_OFFSET = (0.183, 0.047)
HIP_MASS = 0.696
THIGH_OFFSET = 0.08505
THIGH_MASS = 1.013
THIGH_LENGTH = 0.2
CALF_MASS = 0.166
CALF_LENGTH = 0.2
FOOT_MASS = 0.06
FOOT_RADIUS = 0.02
HIP_RANGE = A1_HIP_RANGE
THIGH_RANGE = A1_THIGH_RANGE
CALF_RANGE = A1_CALF_RANGE
TORQUE_LIMIT = 33.5
TOTAL_MASS = TRUNK_MASS + 4 * (HIP_MASS + THIGH_MASS + CALF_MASS + FOOT_MASS)

#: standing joint pose per leg (hip, thigh, calf), as in DayDreamer's A1 reset task.
STANDING_POSE = np.array([0.0, 0.9, -1.8] * 4)
#: folded pose of a robot lying on its belly (calf at its limit).
FOLDED_POSE = np.array([0.0, 1.17752553, -2.69653] * 4)
JOINT_LOW = A1_JOINT_LOW
JOINT_HIGH = A1_JOINT_HIGH


def _leg_xml(name: str, x_sign: float, y_sign: float) -> str:
    hip_x, hip_y = HIP_OFFSET[0] * x_sign, HIP_OFFSET[1] * y_sign
    return f"""
      <body name="{name}_hip" pos="{hip_x} {hip_y} 0">
        <inertial pos="{-0.003311 * x_sign} {0.000635 * y_sign} 3.1e-05" mass="{HIP_MASS}"
                  diaginertia="0.000469246 0.00080749 0.000552929"/>
        <joint name="{name}_hip_joint" axis="1 0 0" range="{HIP_RANGE[0]} {HIP_RANGE[1]}"/>
        <geom type="cylinder" size="0.046 0.02" quat="0.7071068 0.7071068 0 0" rgba="{_DARK}"/>
        <body name="{name}_thigh" pos="0 {THIGH_OFFSET * y_sign} 0">
          <inertial pos="-0.003237 {-0.022327 * y_sign} -0.027326" mass="{THIGH_MASS}"
                    diaginertia="0.005529065 0.005139339 0.001367788"/>
          <joint name="{name}_thigh_joint" axis="0 1 0" range="{THIGH_RANGE[0]} {THIGH_RANGE[1]}"/>
          <geom type="capsule" fromto="0 0 0 0 0 {-THIGH_LENGTH}" size="0.022" rgba="{_LIGHT}"/>
          <body name="{name}_calf" pos="0 0 {-THIGH_LENGTH}">
            <inertial pos="0.006435 0 -0.107388" mass="{CALF_MASS}"
                      diaginertia="0.002997972 0.003014022 3.2426e-05"/>
            <joint name="{name}_calf_joint" axis="0 1 0" range="{CALF_RANGE[0]} {CALF_RANGE[1]}"/>
            <geom type="capsule" fromto="0 0 0 0 0 {-CALF_LENGTH + FOOT_RADIUS}" size="0.013"
                  rgba="{_DARK}"/>
            <body name="{name}_foot" pos="0 0 {-CALF_LENGTH}">
              <inertial pos="0 0 0" mass="{FOOT_MASS}" diaginertia="9.6e-06 9.6e-06 9.6e-06"/>
              <geom name="{name}_foot" type="sphere" size="{FOOT_RADIUS}" friction="0.8 0.02 0.01"
                    rgba="{_DARK}"/>
            </body>
          </body>
        </body>
      </body>"""


_DARK = "0.15 0.15 0.15 1"
_LIGHT = "0.75 0.75 0.78 1"

A1_XML = """
<mujoco model="a1_like">
  <compiler angle="radian"/>
  <option timestep="{timestep}" integrator="implicitfast"/>
  <visual><global offwidth="256" offheight="256"/></visual>
  <default>
    <joint damping="0.1" armature="0.01" frictionloss="0.1" limited="true"/>
    <geom contype="2" conaffinity="1" condim="3" friction="0.6 0.02 0.01"/>
  </default>
  <asset>
    <texture name="grid" type="2d" builtin="checker" width="64" height="64"
             rgb1="0.35 0.4 0.45" rgb2="0.25 0.3 0.35"/>
    <material name="grid" texture="grid" texrepeat="8 8"/>
  </asset>
  <worldbody>
    <light pos="0 0 4" dir="0 0 -1" directional="true"/>
    <geom name="floor" type="plane" size="20 20 0.1" material="grid" contype="1" conaffinity="2"/>
    <body name="trunk" pos="0 0 0.3">
      <camera name="track" mode="trackcom" pos="0 -1.2 0.5" xyaxes="1 0 0 0 0.4 1"/>
      <freejoint name="root"/>
      <inertial pos="0 0.0041 -0.0005" mass="{trunk_mass}"
                diaginertia="0.0158533 0.0377999 0.0456542"/>
      <geom name="trunk" type="box" size="{half_x} {half_y} {half_z}" rgba="{light}"/>
      <site name="imu" pos="0 0 0"/>
      {legs}
    </body>
  </worldbody>
  <actuator>
    {motors}
  </actuator>
  <sensor>
    <framequat name="imu_quat" objtype="site" objname="imu"/>
    <gyro name="imu_gyro" site="imu"/>
    <accelerometer name="imu_accel" site="imu"/>
    <velocimeter name="imu_velocity" site="imu"/>
  </sensor>
</mujoco>
"""


def a1_xml(timestep: float = 0.002) -> str:
    """MJCF text of the A1-like quadruped on a checkered floor."""
    legs = "".join(_leg_xml(name, x_sign, y_sign) for name, x_sign, y_sign in LEGS)
    motors = "\n    ".join(
        f'<motor name="{joint[:-6]}" joint="{joint}" ctrllimited="true" '
        f'ctrlrange="{-TORQUE_LIMIT} {TORQUE_LIMIT}"/>' for joint in JOINT_NAMES)
    return A1_XML.format(timestep=timestep, trunk_mass=TRUNK_MASS, half_x=TRUNK_SIZE[0] / 2,
                         half_y=TRUNK_SIZE[1] / 2, half_z=TRUNK_SIZE[2] / 2, light=_LIGHT,
                         legs=legs, motors=motors)


def build_a1_model(timestep: float = 0.002, menagerie_dir: str = "") -> mujoco.MjModel:
    """Compile the A1 model: from code, or Menagerie's ``unitree_a1/scene.xml`` when given.

    Menagerie's model must have the same joint names and one torque motor per joint in the same
    order (it does); nothing is downloaded.
    """
    if not menagerie_dir:
        return mujoco.MjModel.from_xml_string(a1_xml(timestep))
    path = os.path.join(menagerie_dir, "unitree_a1", "scene.xml")
    if not os.path.isfile(path):
        raise SimRobotError(f"no Menagerie A1 model at {path!r} (menagerie_dir={menagerie_dir!r})")
    model = mujoco.MjModel.from_xml_path(path)
    model.opt.timestep = timestep
    return model
