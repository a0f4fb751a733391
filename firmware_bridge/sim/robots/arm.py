"""A 6-DoF arm with UR5e kinematics and masses plus a simple parallel gripper, built in code.

Source: Universal Robots, "DH parameters for calculations of kinematics and dynamics" (UR5e):
``d1 = 0.1625, a2 = -0.425, a3 = -0.3922, d4 = 0.1333, d5 = 0.0997, d6 = 0.0996`` m,
``alpha = (pi/2, 0, 0, pi/2, -pi/2, 0)``; link masses 3.761, 8.058, 2.846, 1.37, 1.3, 0.365 kg
with the centres of mass listed there; joint range +-2 pi; rated torques 150, 150, 150, 28, 28,
28 N*m (UR5e technical specification, size 3 and size 1 joints).

Each DH frame becomes one MuJoCo body: body ``link{i}`` sits at frame ``i-1`` and turns about its
local z axis; its child sits at ``(a_i, 0, d_i)`` rotated by ``alpha_i`` about x. The arm's bodies
have ``gravcomp="1"``: UR controllers compensate gravity, so the joint PD only tracks.

The gripper (a Robotiq-2F-85-sized palm and two fingers on one slide joint pair, 0..0.04 m
opening per finger) hangs from the flange; the tool centre point site ``tcp`` is 0.15 m out.
Arm links and fingers collide with nothing (the tasks keep the tool above the table; grasping is
a weld, see ``arm_tasks``); only the tasks' objects, bins and floor collide.

Cartesian moves: :class:`CartesianIK` solves damped-least-squares inverse kinematics for a TCP
position with the tool pointing straight down, on a scratch ``MjData`` (the "firmware" side).
"""

from __future__ import annotations

import mujoco
import numpy as np

from firmware_bridge.sim.robots.base import PDConfig, SimRobotError

D = (0.1625, 0.0, 0.0, 0.1333, 0.0997, 0.0996)
A = (0.0, -0.425, -0.3922, 0.0, 0.0, 0.0)
ALPHA = (np.pi / 2, 0.0, 0.0, np.pi / 2, -np.pi / 2, 0.0)
MASSES = (3.761, 8.058, 2.846, 1.37, 1.3, 0.365)
#: centres of mass in each link's DH frame (UR's published table).
COMS = ((0.0, -0.02561, 0.00193), (0.2125, 0.0, 0.11336), (0.15, 0.0, 0.0265),
        (0.0, -0.0018, 0.01634), (0.0, 0.0018, 0.01634), (0.0, 0.0, -0.001159))
TORQUE_LIMITS = (150.0, 150.0, 150.0, 28.0, 28.0, 28.0)
JOINT_NAMES = ("shoulder_pan", "shoulder_lift", "elbow", "wrist_1", "wrist_2", "wrist_3")
GRIPPER_JOINT = "finger_left"
TCP_OFFSET = 0.15
FINGER_TRAVEL = 0.04
#: joint pose with the tool pointing down in front of the robot.
HOME = np.array([0.0, -np.pi / 2, np.pi / 2, -np.pi / 2, -np.pi / 2, 0.0])
#: arm PD gains (N*m/rad, N*m*s/rad) and the gripper's (N/m, N*s/m), in joint order.
ARM_PD = PDConfig(kp=(2000.0, 2000.0, 1500.0, 300.0, 300.0, 300.0, 400.0),
                  kd=(200.0, 200.0, 120.0, 20.0, 20.0, 20.0, 20.0))


def _rotation_x(angle: float) -> str:
    return f"{np.cos(angle / 2):.10f} {np.sin(angle / 2):.10f} 0 0"


def _gripper_xml() -> str:
    return f"""
          <body name="gripper" pos="0 0 0" gravcomp="1">
            <inertial pos="0 0 0.06" mass="0.9" diaginertia="0.002 0.002 0.001"/>
            <geom type="cylinder" size="0.04 0.03" pos="0 0 0.03" rgba="0.2 0.2 0.2 1"
                  contype="0" conaffinity="0"/>
            <geom type="box" size="0.045 0.02 0.02" pos="0 0 0.08" rgba="0.25 0.25 0.25 1"
                  contype="0" conaffinity="0"/>
            <site name="tcp" pos="0 0 {TCP_OFFSET}" size="0.005"/>
            <body name="finger_left" pos="0 0 0.1">
              <joint name="finger_left" type="slide" axis="1 0 0" range="0 {FINGER_TRAVEL}"
                     damping="5"/>
              <geom type="box" size="0.006 0.012 0.03" pos="0.005 0 0.05" rgba="0.6 0.6 0.6 1"
                    mass="0.05" contype="0" conaffinity="0"/>
            </body>
            <body name="finger_right" pos="0 0 0.1">
              <joint name="finger_right" type="slide" axis="-1 0 0" range="0 {FINGER_TRAVEL}"
                     damping="5"/>
              <geom type="box" size="0.006 0.012 0.03" pos="-0.005 0 0.05" rgba="0.6 0.6 0.6 1"
                    mass="0.05" contype="0" conaffinity="0"/>
            </body>
          </body>"""


def arm_bodies_xml() -> str:
    """Nested ``<body>`` MJCF of the six links and the gripper (attach under a base body)."""
    closing = ""
    text = ""
    for index in range(6):
        d, a, alpha = D[index], A[index], ALPHA[index]
        com = np.array([a, 0.0, d]) + _rotate_x(np.array(COMS[index]), alpha)
        parent_pos = "0 0 0" if index == 0 else f"{A[index - 1]} 0 {D[index - 1]}"
        parent_quat = "1 0 0 0" if index == 0 else _rotation_x(ALPHA[index - 1])
        radius = 0.06 if index < 3 else 0.045
        size = 0.25 * MASSES[index] * radius**2 + 0.001
        text += f"""
        <body name="link{index + 1}" pos="{parent_pos}" quat="{parent_quat}" gravcomp="1">
          <joint name="{JOINT_NAMES[index]}" axis="0 0 1" range="{-2 * np.pi} {2 * np.pi}"
                 armature="{0.2 if index < 3 else 0.05}" damping="1"/>
          <inertial pos="{com[0]} {com[1]} {com[2]}" mass="{MASSES[index]}"
                    diaginertia="{size} {size} {size}"/>
          <geom type="capsule" fromto="0 0 0 0 0 {d if d else 0.001}" size="{radius}"
                rgba="0.55 0.6 0.7 1" contype="0" conaffinity="0"/>"""
        if a:
            text += f"""
          <geom type="capsule" fromto="0 0 {d} {a} 0 {d}" size="{radius * 0.8}"
                rgba="0.7 0.72 0.75 1" contype="0" conaffinity="0"/>"""
        closing = "\n        </body>" + closing
    flange = f"""
        <body name="flange" pos="0 0 {D[5]}" gravcomp="1">{_gripper_xml()}
        </body>"""
    return text + flange + closing


def _rotate_x(vector: np.ndarray, angle: float) -> np.ndarray:
    cos, sin = np.cos(angle), np.sin(angle)
    return np.array([vector[0], cos * vector[1] - sin * vector[2],
                     sin * vector[1] + cos * vector[2]])


def arm_actuators_xml() -> str:
    """Torque motors for the six joints and the gripper, in :data:`ALL_JOINTS` order."""
    motors = [f'<motor name="{name}" joint="{name}" ctrllimited="true" '
              f'ctrlrange="{-limit} {limit}"/>'
              for name, limit in zip(JOINT_NAMES, TORQUE_LIMITS, strict=True)]
    motors.append(f'<motor name="gripper" joint="{GRIPPER_JOINT}" ctrllimited="true" '
                  'ctrlrange="-40 40"/>')
    return "\n    ".join(motors)


#: the actuated joints, arm first then the gripper.
ALL_JOINTS: tuple[str, ...] = (*JOINT_NAMES, GRIPPER_JOINT)

#: finger coupling: the right finger mirrors the left one.
FINGER_EQUALITY = '<joint joint1="finger_right" joint2="finger_left" polycoef="0 1 0 0 0"/>'


class CartesianIK:
    """Damped-least-squares IK for the ``tcp`` site, tool pointing straight down.

    Args:
        model: a model with the arm's joints and a ``tcp`` site.
        damping: Levenberg-Marquardt damping of the normal equations.
        iterations: maximum solver iterations per call.
    """

    def __init__(self, model: mujoco.MjModel, damping: float = 1e-3, iterations: int = 60) -> None:
        self.model = model
        self.data = mujoco.MjData(model)
        self._site = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, "tcp")
        if self._site < 0:
            raise SimRobotError("the arm model has no 'tcp' site")
        joint_ids = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, n) for n in JOINT_NAMES]
        self._qpos = np.array([model.jnt_qposadr[j] for j in joint_ids])
        self._dofs = np.array([model.jnt_dofadr[j] for j in joint_ids])
        self._damping = damping
        self._iterations = iterations
        self.failures = 0
        #: tool orientation: z down, x along world x.
        self.target_rotation = np.diag([1.0, -1.0, -1.0])

    def tcp(self, qpos_arm: np.ndarray) -> np.ndarray:
        """TCP position ``(3,)`` for arm joint angles ``(6,)``."""
        self.data.qpos[self._qpos] = qpos_arm
        mujoco.mj_kinematics(self.model, self.data)
        return self.data.site_xpos[self._site].copy()

    def solve(self, target: np.ndarray, start: np.ndarray, tolerance: float = 1e-4) -> np.ndarray:
        """Joint angles ``(6,)`` near ``start`` ``(6,)`` putting the TCP at ``target`` ``(3,)``.

        Counts :attr:`failures` when the residual stays above 5 mm (returns the best found).
        """
        q = np.array(start, dtype=np.float64)
        jac_pos = np.zeros((3, self.model.nv))
        jac_rot = np.zeros((3, self.model.nv))
        error = np.zeros(6)
        for _ in range(self._iterations):
            self.data.qpos[self._qpos] = q
            mujoco.mj_kinematics(self.model, self.data)
            mujoco.mj_comPos(self.model, self.data)
            error[:3] = target - self.data.site_xpos[self._site]
            rotation = self.data.site_xmat[self._site].reshape(3, 3)
            error[3:] = _rotation_error(self.target_rotation, rotation)
            if np.linalg.norm(error) < tolerance:
                break
            mujoco.mj_jacSite(self.model, self.data, jac_pos, jac_rot, self._site)
            jac = np.vstack([jac_pos[:, self._dofs], jac_rot[:, self._dofs]])
            step = jac.T @ np.linalg.solve(jac @ jac.T + self._damping * np.eye(6), error)
            q += np.clip(step, -0.3, 0.3)
        if np.linalg.norm(error[:3]) > 5e-3:
            self.failures += 1
        return q


def _rotation_error(target: np.ndarray, current: np.ndarray) -> np.ndarray:
    """Rotation vector ``(3,)`` (world frame) turning ``current`` into ``target``."""
    difference = target @ current.T
    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, difference.reshape(-1))
    velocity = np.zeros(3)
    mujoco.mju_quat2Vel(velocity, quat, 1.0)
    return velocity


ARM_SCENE_XML = """
<mujoco model="ur5e_like">
  <compiler angle="radian"/>
  <option timestep="{timestep}" integrator="implicitfast"/>
  <visual>
    <global offwidth="256" offheight="256"/>
    <headlight ambient="0.35 0.35 0.35" diffuse="0.35 0.35 0.35" specular="0 0 0"/>
  </visual>
  <worldbody>
    <light pos="0.4 0 2" dir="0 0 -1" directional="true" diffuse="0.4 0.4 0.4" specular="0 0 0"/>
    <geom name="table" type="plane" size="1 1 0.1" rgba="0.55 0.5 0.45 1"/>
    <camera name="top" pos="0.46 0 0.75" xyaxes="0 -1 0 1 0 0" fovy="45"/>
    <body name="base" pos="0 0 0" quat="0 0 0 1">
      <geom type="cylinder" size="0.075 0.02" pos="0 0 0.02" rgba="0.3 0.3 0.35 1"
            contype="0" conaffinity="0"/>
      {arm}
    </body>
    {extra}
  </worldbody>
  <equality>
    {finger}
    {equality}
  </equality>
  <actuator>
    {actuators}
  </actuator>
</mujoco>
"""


def arm_scene_xml(timestep: float = 0.002, extra: str = "", equality: str = "") -> str:
    """MJCF of the arm on a table (base rotated so the home TCP is in front, +x), a top camera,
    plus task bodies ``extra`` and equality constraints ``equality``."""
    return ARM_SCENE_XML.format(timestep=timestep, arm=arm_bodies_xml(), extra=extra,
                                finger=FINGER_EQUALITY, equality=equality,
                                actuators=arm_actuators_xml())
