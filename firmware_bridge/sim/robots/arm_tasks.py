"""Arm tasks shared parts and the reach task, on the UR5e-like arm of :mod:`arm`.

:class:`CartesianArm` is the "firmware" side of Cartesian control: it keeps a commanded TCP
position, turns it into joint targets with :class:`~firmware_bridge.sim.robots.arm.CartesianIK`
and lets the joint PD loop track them (a real UR's ``movel`` + ``servoj``).

Reach: action ``(3,)`` in [-1, 1] moves the commanded TCP by up to ``max_step`` metres per axis
(clipped to a workspace box in front of the robot), 10 Hz control, 50-step episodes with a new
random goal each. Observation ``vector`` (12,) = 6 joint angles, TCP position, goal position.
Reward: minus the TCP-to-goal distance in metres.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import mujoco
import numpy as np

from firmware_bridge import task_math
from firmware_bridge.sim.robots import arm
from firmware_bridge.sim.robots.base import SimRobot, body_id
from shared.spec import EnvSpec

#: reachable box for the TCP: (low xyz, high xyz) in metres.
WORKSPACE = task_math.ARM_WORKSPACE
#: gripper joint targets.
GRIPPER_OPEN, GRIPPER_CLOSED = arm.FINGER_TRAVEL, 0.0


class CartesianArm:
    """Arm + gripper driven by TCP position targets (see module docstring)."""

    def __init__(self, model: mujoco.MjModel, camera: str = "top") -> None:
        self.robot = SimRobot(model, arm.ALL_JOINTS, mode="pd", pd=arm.ARM_PD, camera=camera)
        self.ik = arm.CartesianIK(model)
        self._tcp_site = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, "tcp")
        self.commanded = self.ik.tcp(arm.HOME)
        self.gripper = GRIPPER_OPEN
        self._joint_goal = arm.HOME.copy()

    def teleport(self, tcp: np.ndarray, gripper: float = GRIPPER_OPEN) -> None:
        """Reset the physics with the arm at rest and its TCP at ``tcp`` ``(3,)``."""
        joints = self.ik.solve(tcp, arm.HOME)
        qpos = self.robot.model.qpos0.copy()
        qpos[:6] = joints
        qpos[6:8] = gripper
        self.robot.reset(qpos)
        self.commanded, self.gripper, self._joint_goal = np.array(tcp, float), gripper, joints
        self.robot.apply(np.concatenate([joints, [gripper]]))

    def command(self, tcp: np.ndarray, gripper: float | None = None) -> None:
        """New TCP target ``(3,)`` (clipped to :data:`WORKSPACE`) and optional gripper target."""
        self.commanded = np.clip(np.asarray(tcp, dtype=np.float64), *WORKSPACE)
        if gripper is not None:
            self.gripper = gripper
        self._joint_goal = self.ik.solve(self.commanded, self._joint_goal)
        self.robot.apply(np.concatenate([self._joint_goal, [self.gripper]]))

    def tcp(self) -> np.ndarray:
        """Measured TCP position ``(3,)``."""
        return self.robot.data.site_xpos[self._tcp_site].copy()

    def gripper_closure(self) -> float:
        """0 open .. 1 closed, measured at the finger joint."""
        return float(1.0 - self.robot.data.qpos[6] / arm.FINGER_TRAVEL)

    def tcp_velocity(self) -> np.ndarray:
        """Measured TCP linear velocity ``(3,)``, world frame."""
        velocity = np.zeros(6)
        mujoco.mj_objectVelocity(self.robot.model, self.robot.data, mujoco.mjtObj.mjOBJ_SITE,
                                 self._tcp_site, velocity, 0)
        return velocity[3:]

    def firmware_command(self, targets: np.ndarray) -> None:
        """Apply Cartesian targets ``(4,)``: TCP (x, y, z) and gripper closure 0..1."""
        closure = float(np.clip(targets[3], 0.0, 1.0))
        self.command(targets[:3], GRIPPER_OPEN * (1.0 - closure))

    def cartesian_readings(self) -> dict[str, np.ndarray]:
        """Joint fields of the Cartesian controller's STATE (see :mod:`task_math`)."""
        closure_rate = -self.robot.data.qvel[6] / arm.FINGER_TRAVEL
        return {"joint_pos": np.array([*self.tcp(), self.gripper_closure()]),
                "joint_vel": np.array([*self.tcp_velocity(), closure_rate])}


REACH_GOAL_XML = """
    <body name="goal" mocap="true" pos="0.45 0 0.2">
      <geom type="sphere" size="0.02" contype="0" conaffinity="0" rgba="0.1 0.8 0.2 0.8"/>
    </body>"""


@dataclass(frozen=True)
class ReachConfig:
    """Reach task settings.

    Attributes:
        timestep: physics step in seconds.
        control_dt: control period in seconds (0.1 = 10 Hz).
        episode_length: control steps per episode.
        max_step: largest TCP move per step and axis, metres.
        image: also observe a 64x64 RGB ``image`` from the top camera.
    """

    timestep: float = 0.002
    control_dt: float = 0.1
    episode_length: int = 50
    max_step: float = 0.05
    image: bool = False


class ArmReach:
    """Move the TCP onto a random goal (see module docstring)."""

    def __init__(self, config: ReachConfig = ReachConfig()) -> None:
        self.config = config
        model = mujoco.MjModel.from_xml_string(
            arm.arm_scene_xml(config.timestep, extra=REACH_GOAL_XML))
        self.arm = CartesianArm(model)
        self.robot = self.arm.robot
        self.episode_length = config.episode_length
        self._goal = model.body_mocapid[body_id(model, "goal")]
        self._spec = task_math.reach_spec(config.image)

    @property
    def spec(self) -> EnvSpec:
        """Observation ``vector`` (12,) [+ ``image``], ``log/distance``; action (3,)."""
        return self._spec

    def restart(self) -> None:
        """Nothing to forget: every episode resets the physics."""
        return

    def begin_episode(self, rng: np.random.Generator) -> None:
        """Arm back at home, new random goal inside the workspace."""
        self.arm.teleport(self.arm.ik.tcp(arm.HOME))
        low, high = WORKSPACE
        self.robot.data.mocap_pos[self._goal] = rng.uniform(low + 0.03, high - 0.03)
        mujoco.mj_forward(self.robot.model, self.robot.data)

    def goal(self) -> np.ndarray:
        """Goal position ``(3,)``."""
        return self.robot.data.mocap_pos[self._goal].copy()

    def step(self, action: Mapping[str, np.ndarray]) -> None:
        """Move the commanded TCP and track it for one control period."""
        self.firmware_command(task_math.reach_targets(action, self.readings(),
                                                      self.config.max_step))
        self.robot.step(self.config.control_dt)

    def firmware_command(self, targets: np.ndarray) -> None:
        """Apply the firmware's Cartesian targets ``(4,)`` (TCP, gripper closure)."""
        self.arm.firmware_command(targets)

    def readings(self) -> dict[str, np.ndarray]:
        """What the Cartesian firmware reports (see :mod:`firmware_bridge.task_math`)."""
        sensors = np.concatenate([self.robot.joint_positions()[:6], self.arm.commanded,
                                  self.goal()])
        return {**self.arm.cartesian_readings(), "task_sensors": sensors}

    def distance(self) -> float:
        """TCP-to-goal distance in metres."""
        return task_math.reach_distance(self.readings())

    def observe(self) -> dict[str, np.ndarray]:
        """``vector`` = joints (6), TCP (3), goal (3); ``log/distance`` (+ ``image``)."""
        out = task_math.reach_observation(self.readings())
        if self.config.image:
            out["image"] = self.robot.render(64)
        return out

    def reward(self) -> float:
        """Minus the distance to the goal, metres."""
        return task_math.reach_reward(self.readings())

    def is_terminal(self) -> bool:
        """Never: episodes end by time."""
        return False

    def is_last(self) -> bool:
        """Never: episodes are cut by length only."""
        return False


def make_reach(**overrides: object) -> ArmReach:
    """Factory for the task registry (``overrides`` are :class:`ReachConfig` fields)."""
    return ArmReach(ReachConfig(**overrides))  # type: ignore[arg-type]
