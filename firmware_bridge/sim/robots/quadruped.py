"""DayDreamer's A1 walking task on the A1-like quadruped of :mod:`a1_model`.

Source: DayDreamer's code (``danijar/daydreamer``: ``motion_imitation/robots/a1.py`` and
``motion_imitation/envs/env_wrappers/rma_task.py``), re-implemented here.

Control: 20 Hz. The 12-d action in [-1, 1] maps linearly onto the *used* part of each joint's
range, as DayDreamer's ``unnormalize_action`` does: hips 1..99 %, thighs 1..90 %, calves 1..60 %
of the way from the lower to the upper limit (``full_range=True`` uses the whole range). The
result is the target of the motor boards' joint PD loop at 500 Hz (kp = 100 N*m/rad,
kd = 1 on hips and 2 on thighs and calves: motion_imitation's A1 gains).

Observation ``vector`` (16,): 12 joint angles, trunk roll and pitch, roll and pitch rates (gyro).
Logged (never seen by the model): ``log/stage`` (how many reward gates are open, 0..4) and
``log/forward_velocity``.

Staged reward (DayDreamer's ``RMATask``). With ``n`` the joint angles normalised like actions and
``dev = clip(|n - (0, -0.2, 1)| / max(1 - pose, 1 + pose), 0, 1)`` per joint:

- ``upright = up_z / 2 + 0.5`` (trunk z axis against world z, 0 on its back, 1 upright);
- ``hip = [upright > 0.7] * (1 - mean dev of hips)`` (stage 1);
- ``shoulder = [hip > 0.7] * (1 - mean dev of thighs)`` (stage 2);
- ``knee = [shoulder > 0.7] * (1 - mean dev of calves)`` (stage 3: standing pose);
- ``velocity = [knee > 0.7] * max(0, v_fwd) / |v| * clip(v_fwd / 0.3, -1, 1)`` (stage 4), with
  ``v_fwd`` the trunk velocity along its heading;

``reward = upright + hip + shoulder + knee + 10 * (velocity + 1) / 2``, in [5, 19]: the constant 5
is DayDreamer's. Each gate opens only when the previous term is high, so the robot is paid first
for rolling upright, then for each joint group reaching the standing pose, then for walking.

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
        target_speed: forward speed in m/s that earns the full velocity reward (DayDreamer: 0.3).
        full_range: actions span each joint's whole range instead of DayDreamer's used part.
        image: also observe a 64x64 RGB ``image`` from a tracking camera.
        menagerie_dir: load ``unitree_a1/scene.xml`` from this local Menagerie copy instead.
    """

    timestep: float = 0.002
    control_dt: float = 0.05
    episode_length: int = 1000
    physical_reset_every: int = 0
    back_probability: float = 0.5
    target_speed: float = 0.3
    full_range: bool = False
    image: bool = False
    menagerie_dir: str = ""


#: motion_imitation's A1 PD gains (hip abduction kd 1, thigh and calf kd 2).
A1_PD = PDConfig(kp=(100.0,) * 12, kd=(1.0, 2.0, 2.0) * 4)


#: fraction of each joint's range an action spans (DayDreamer's ``MOTOR_USED``), per leg.
USED_FRACTION = np.array([[0.01, 0.99], [0.01, 0.90], [0.01, 0.60]] * 4)
#: DayDreamer's standing pose in normalised action units (hip, thigh, calf) per leg.
REWARD_POSE = np.array([0.0, -0.2, 1.0] * 4)


def action_bounds(full_range: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Joint angles ``(12,)`` that actions -1 and +1 map to."""
    low, high = a1_model.JOINT_LOW, a1_model.JOINT_HIGH
    if full_range:
        return low.copy(), high.copy()
    span = high - low
    return low + USED_FRACTION[:, 0] * span, low + USED_FRACTION[:, 1] * span


def action_to_targets(action: np.ndarray, full_range: bool = False) -> np.ndarray:
    """Map a normalised action ``(12,)`` in [-1, 1] onto joint angles ``(12,)``."""
    low, high = action_bounds(full_range)
    action = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
    return low + (action + 1.0) * 0.5 * (high - low)


def targets_to_action(targets: np.ndarray, full_range: bool = False) -> np.ndarray:
    """Inverse of :func:`action_to_targets`, clipped to [-1, 1]: angles ``(12,)`` -> ``(12,)``."""
    low, high = action_bounds(full_range)
    return np.clip(2.0 * (np.asarray(targets) - low) / (high - low) - 1.0, -1.0, 1.0)


def staged_reward(up: float, joints: np.ndarray, velocity: np.ndarray,
                  heading: np.ndarray, target_speed: float = 0.3) -> tuple[float, int]:
    """DayDreamer's A1 reward and the number of open gates (0..4); see module docstring.

    Args:
        up: z component of the trunk's z axis in world coordinates.
        joints: joint angles ``(12,)`` in Unitree order.
        velocity: trunk linear velocity ``(3,)``, world frame, m/s.
        heading: unit trunk heading ``(3,)`` projected on the ground.
        target_speed: forward speed for the full velocity term, m/s.
    """
    normalised = targets_to_action(joints)
    worst = np.maximum(1.0 - REWARD_POSE, 1.0 + REWARD_POSE)
    deviation = np.clip(np.abs(normalised - REWARD_POSE) / worst, 0.0, 1.0)
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
            "log/stage": Space(np.int32, (), 0, 4),
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
        self.robot.set_joint_positions(a1_model.FOLDED_POSE)
        self.robot.apply(a1_model.FOLDED_POSE)
        self.robot.step(1.0)

    def step(self, action: Mapping[str, np.ndarray]) -> None:
        """Map the normalised action to joint targets and run the PD loop for one period."""
        self.robot.apply(action_to_targets(action["action"], self.config.full_range))
        self.robot.step(self.config.control_dt)
        self._update_reward()

    def trunk_quat(self) -> np.ndarray:
        """Trunk orientation quaternion ``(4,)`` (w, x, y, z)."""
        return self.robot.data.xquat[self._trunk].copy()

    def heading(self) -> np.ndarray:
        """Unit trunk x axis projected on the ground ``(3,)`` (zero if the trunk points up)."""
        matrix = self.robot.data.xmat[self._trunk].reshape(3, 3)
        heading = np.array([matrix[0, 0], matrix[1, 0], 0.0])
        norm = np.linalg.norm(heading)
        return heading / norm if norm > 1e-6 else np.zeros(3)

    def forward_velocity(self) -> float:
        """Trunk velocity along its heading, m/s."""
        return float(self.robot.data.qvel[:3] @ self.heading())

    def _update_reward(self) -> None:
        up = up_alignment(self.trunk_quat())
        self._reward, self.stage = staged_reward(
            up, self.robot.joint_positions(), self.robot.data.qvel[:3].copy(), self.heading(),
            self.config.target_speed)

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
        """Staged reward of the current state (5..19)."""
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
