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

from firmware_bridge import task_math
from firmware_bridge.sim.robots import a1_model
from firmware_bridge.sim.robots.base import PDConfig, SimRobot, body_id
from shared.spec import EnvSpec


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

#: kept under their historical names; the definitions live in :mod:`firmware_bridge.task_math`.
USED_FRACTION = task_math.A1_USED_FRACTION
REWARD_POSE = task_math.A1_REWARD_POSE
action_bounds = task_math.a1_action_bounds
action_to_targets = task_math.a1_action_to_targets
targets_to_action = task_math.a1_targets_to_action
staged_reward = task_math.a1_staged_reward


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
        self._spec = task_math.a1_spec(config.image)

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
        return task_math.ground_heading(self.trunk_quat())

    def forward_velocity(self) -> float:
        """Trunk velocity along its heading, m/s."""
        return float(self.robot.data.qvel[:3] @ self.heading())

    def readings(self) -> dict[str, np.ndarray]:
        """What the firmware reports (see :mod:`firmware_bridge.task_math`): 12 joints, IMU
        (trunk orientation, trunk-frame angular velocity, accelerometer), task sensors = trunk
        world velocity (3,) and height."""
        data = self.robot.data
        accel = self.robot.sensors().get("imu_accel", np.zeros(3))
        return {"joint_pos": self.robot.joint_positions(),
                "joint_vel": self.robot.joint_velocities(),
                "imu_quat": self.trunk_quat(), "imu_gyro": data.qvel[3:6].copy(),
                "imu_accel": np.asarray(accel, np.float64),
                "task_sensors": np.array([*data.qvel[:3], data.qpos[2]])}

    def _update_reward(self) -> None:
        self._reward, self.stage = task_math.a1_reward(self.readings(), self.config.target_speed)

    def observe(self) -> dict[str, np.ndarray]:
        """``vector`` = 12 joint angles, roll, pitch, roll rate, pitch rate (+ ``image``)."""
        out = task_math.a1_observation(self.readings(), self.config.target_speed)
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
