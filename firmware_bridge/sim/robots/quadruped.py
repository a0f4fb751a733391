"""DayDreamer's A1 walking task on the A1-like quadruped of :mod:`a1_model`.

Control: 20 Hz; the 12-d action in [-1, 1] maps linearly onto each joint's range (-1 -> lower
limit, +1 -> upper limit) and becomes the target of the motor boards' joint PD loop
(kp = 100 N*m/rad, kd = 2 N*m*s/rad, 1 on the hips: motion_imitation's A1 gains) at 500 Hz.

Observation ``vector`` (16,): 12 joint angles, trunk roll and pitch, roll and pitch rates (gyro).
Logged (never seen by the model): ``log/stage`` (0 upright, 1 pose, 2 walk) and
``log/forward_velocity``.

Staged reward (DayDreamer, Wu et al. 2022, appendix "A1 quadruped": an upright term, pose terms
that count once upright, a velocity term that counts once standing), each term in [0, 1]:

- ``upright = (cos(tilt) + 1) / 2`` where ``cos(tilt)`` is the trunk-z / world-z alignment;
- ``pose = mean(hip, thigh, calf)`` with ``part = max(0, 1 - mean_legs |q - q_stand|)`` and
  ``q_stand = (0, 0.9, -1.8)``; it counts when ``upright > 0.7`` (stage 1);
- ``velocity = clip(v_forward / target_speed, 0, 1)`` (heading-frame forward speed); it counts when
  ``upright > 0.9`` and every pose part ``> 0.7`` (stage 2).

``reward = upright + [stage >= 1] * pose + [stage >= 2] * velocity`` (0..3).

Episodes: ``episode_length`` steps then ``is_last`` *without* a physical reset (the robot keeps
whatever pose it has, as on the real robot); the physics is reset only at the first episode and
every ``physical_reset_every`` episodes after (0 = never). A physical reset drops the robot lying
on its back with probability ``back_probability``, otherwise on its belly with legs folded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import mujoco
import numpy as np

from firmware_bridge.sim.robots import a1_model
from firmware_bridge.sim.robots.base import PDConfig, SimRobot, body_id, roll_pitch, up_alignment
from shared.spec import EnvSpec, Space


@dataclass(frozen=True)
class WalkConfig:
    """A1 walking task settings.

    Attributes:
        timestep: physics step in seconds (the PD loop runs at this rate).
        control_dt: control period in seconds (0.05 = 20 Hz).
        episode_length: control steps between episode cuts (``is_last``).
        physical_reset_every: physically reset every N episodes (0 = only the first).
        back_probability: chance a physical reset leaves the robot on its back.
        target_speed: forward speed in m/s that earns the full velocity reward.
        image: also observe a 64x64 RGB ``image`` from a tracking camera.
        menagerie_dir: load ``unitree_a1/scene.xml`` from this local Menagerie copy instead.
    """

    timestep: float = 0.002
    control_dt: float = 0.05
    episode_length: int = 1000
    physical_reset_every: int = 0
    back_probability: float = 0.5
    target_speed: float = 0.5
    image: bool = False
    menagerie_dir: str = ""


#: motion_imitation's A1 PD gains (hip abduction kd 1, thigh and calf kd 2).
A1_PD = PDConfig(kp=(100.0,) * 12, kd=(1.0, 2.0, 2.0) * 4)


def action_to_targets(action: np.ndarray) -> np.ndarray:
    """Map a normalised action ``(12,)`` in [-1, 1] onto joint angles ``(12,)`` within limits."""
    action = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
    low, high = a1_model.JOINT_LOW, a1_model.JOINT_HIGH
    return low + (action + 1.0) * 0.5 * (high - low)


def targets_to_action(targets: np.ndarray) -> np.ndarray:
    """Inverse of :func:`action_to_targets`: joint angles ``(12,)`` -> action ``(12,)``."""
    low, high = a1_model.JOINT_LOW, a1_model.JOINT_HIGH
    return np.clip(2.0 * (np.asarray(targets) - low) / (high - low) - 1.0, -1.0, 1.0)


def staged_reward(up: float, joints: np.ndarray, forward_velocity: float,
                  target_speed: float) -> tuple[float, int]:
    """DayDreamer-style staged reward and the stage reached (0, 1 or 2); see module docstring.

    Args:
        up: cosine between trunk z and world z.
        joints: joint angles ``(12,)`` in Unitree order.
        forward_velocity: trunk velocity along its heading, m/s.
        target_speed: speed for the full velocity reward, m/s.
    """
    upright = (up + 1.0) / 2.0
    errors = np.abs(np.asarray(joints).reshape(4, 3) - a1_model.STANDING_POSE.reshape(4, 3))
    parts = np.maximum(0.0, 1.0 - errors.mean(axis=0))
    reward, stage = upright, 0
    if upright > 0.7:
        reward, stage = reward + float(parts.mean()), 1
        if upright > 0.9 and bool(np.all(parts > 0.7)):
            reward += float(np.clip(forward_velocity / target_speed, 0.0, 1.0))
            stage = 2
    return float(reward), stage


class A1Walk:
    """The DayDreamer A1 task: roll over, stand up, walk forward (see module docstring)."""

    def __init__(self, config: WalkConfig = WalkConfig()) -> None:
        self.config = config
        model = a1_model.build_a1_model(config.timestep, config.menagerie_dir)
        has_camera = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, "track") >= 0
        camera = "track" if has_camera else -1
        self.robot = SimRobot(model, a1_model.JOINT_NAMES, mode="pd", pd=A1_PD, camera=camera)
        self.episode_length = config.episode_length
        self._trunk = body_id(model, "trunk")
        self._episodes = 0
        self.stage = 0
        self._reward = 0.0
        observation = {
            "vector": Space(np.float32, (16,)),
            "log/stage": Space(np.int32, (), 0, 2),
            "log/forward_velocity": Space(np.float32, ()),
        }
        if config.image:
            observation["image"] = Space(np.uint8, (64, 64, 3), 0, 255)
        self._spec = EnvSpec.create(observation,
                                    {"action": Space(np.float32, (12,), -1.0, 1.0)})

    @property
    def spec(self) -> EnvSpec:
        """Observation ``vector`` (16,) [+ ``image``] and logs; action ``action`` (12,)."""
        return self._spec

    def restart(self) -> None:
        """The next episode drops the robot again."""
        self._episodes = 0

    def begin_episode(self, rng: np.random.Generator) -> None:
        """Physically reset on the first episode and every ``physical_reset_every``."""
        every = self.config.physical_reset_every
        if self._episodes == 0 or (every > 0 and self._episodes % every == 0):
            self.drop(rng, on_back=bool(rng.random() < self.config.back_probability))
        self._episodes += 1
        self._update_reward()

    def drop(self, rng: np.random.Generator, on_back: bool) -> None:
        """Lay the robot down with folded legs (belly or back), random yaw, and let it settle."""
        yaw = rng.uniform(-np.pi, np.pi)
        roll = np.pi if on_back else 0.0
        quat = np.zeros(4)
        mujoco.mju_euler2Quat(quat, np.array([roll, 0.0, yaw]), "xyz")
        qpos = self.robot.model.qpos0.copy()
        qpos[:3] = [0.0, 0.0, 0.2]
        qpos[3:7] = quat
        self.robot.reset(qpos)
        self.robot.data.qpos[self.robot._qpos] = a1_model.FOLDED_POSE
        mujoco.mj_forward(self.robot.model, self.robot.data)
        self.robot.apply(a1_model.FOLDED_POSE)
        self.robot.step(1.0)

    def step(self, action: Mapping[str, np.ndarray]) -> None:
        """Map the normalised action to joint targets and run the PD loop for one period."""
        self.robot.apply(action_to_targets(action["action"]))
        self.robot.step(self.config.control_dt)
        self._update_reward()

    def trunk_quat(self) -> np.ndarray:
        """Trunk orientation quaternion ``(4,)`` (w, x, y, z)."""
        return self.robot.data.xquat[self._trunk].copy()

    def forward_velocity(self) -> float:
        """Trunk velocity along its heading (x axis projected on the ground), m/s."""
        matrix = self.robot.data.xmat[self._trunk].reshape(3, 3)
        heading = np.array([matrix[0, 0], matrix[1, 0], 0.0])
        norm = np.linalg.norm(heading)
        linear = self.robot.data.qvel[:3]  # free-joint linear velocity, world frame
        return float(linear @ heading / norm) if norm > 1e-6 else 0.0

    def _update_reward(self) -> None:
        up = up_alignment(self.trunk_quat())
        self._reward, self.stage = staged_reward(
            up, self.robot.joint_positions(), self.forward_velocity(), self.config.target_speed)

    def observe(self) -> dict[str, np.ndarray]:
        """``vector`` = 12 joint angles, roll, pitch, roll rate, pitch rate (+ ``image``)."""
        gyro = self.robot.data.qvel[3:5]  # free-joint angular velocity, trunk frame
        vector = np.concatenate([self.robot.joint_positions(), roll_pitch(self.trunk_quat()), gyro])
        out = {
            "vector": vector.astype(np.float32),
            "log/stage": np.int32(self.stage),
            "log/forward_velocity": np.float32(self.forward_velocity()),
        }
        if self.config.image:
            out["image"] = self.robot.render(64)
        return out

    def reward(self) -> float:
        """Staged reward of the current state (0..3)."""
        return self._reward

    def is_terminal(self) -> bool:
        """Never: the robot has to get up by itself."""
        return False

    def is_last(self) -> bool:
        """Never: episodes are cut by length only."""
        return False


def make_walk(**overrides: object) -> A1Walk:
    """Factory for the task registry (``overrides`` are :class:`WalkConfig` fields)."""
    return A1Walk(WalkConfig(**overrides))  # type: ignore[arg-type]
