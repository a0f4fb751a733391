"""Cart-pole swing-up: the fast task for demos and CI.

Dimensions follow dm_control's ``cartpole.xml`` (Tassa et al. 2018, "DeepMind Control Suite"):
cart box 0.4 x 0.3 x 0.2 m of 1 kg on a slider limited to +-1.8 m, pole capsule 1 m long,
radius 0.045 m, 0.1 kg, hinged at the cart's centre; a force motor with gear 10 (action in
[-1, 1] -> +-10 N). Physics step 0.01 s like dm_control.

Task choice (documented for the lead): **50 Hz control (action repeat 2) and 500-step episodes
(10 s)**, the setting DreamerV3 uses for the control suite, which learns in ~1e5 env steps.
Observation ``vector`` (5,) = cart position, cos and sin of the pole angle (0 = upright),
cart velocity, pole angular velocity. Reward = dm_control's smooth swing-up reward in [0, 1]:
``upright * centered * small_control * small_velocity`` with
``upright = (cos + 1) / 2``, ``centered = (1 + tol(x, margin 2)) / 2``,
``small_control = (4 + tol(u, margin 1, quadratic, 0)) / 5``,
``small_velocity = (1 + tol(pole_vel, margin 5)) / 2``.
Episodes start hanging down (angle pi + N(0, 0.01^2)) with the cart near 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import mujoco
import numpy as np

from firmware_bridge import task_math
from firmware_bridge.sim.robots.base import SimRobot
from shared.spec import EnvSpec

CARTPOLE_XML = """
<mujoco model="cartpole">
  <option timestep="{timestep}" integrator="implicitfast"/>
  <visual><global offwidth="256" offheight="256"/></visual>
  <worldbody>
    <light pos="0 0 6" dir="0 0 -1"/>
    <geom name="floor" type="plane" pos="0 0 -0.05" size="4 4 0.2" rgba="0.3 0.35 0.4 1"/>
    <geom name="rail" type="capsule" fromto="-1.8 0.07 1 1.8 0.07 1" size="0.02"
          contype="0" conaffinity="0" rgba="0.6 0.6 0.6 1"/>
    <camera name="fixed" pos="0 -4 1" xyaxes="1 0 0 0 0 1"/>
    <body name="cart" pos="0 0 1">
      <joint name="slider" type="slide" axis="1 0 0" limited="true" range="-1.8 1.8"
             damping="5e-4" solreflimit="0.08 1"/>
      <geom name="cart" type="box" size="0.2 0.15 0.1" mass="1" contype="0" conaffinity="0"
            rgba="0.7 0.5 0.3 1"/>
      <body name="pole">
        <joint name="hinge" type="hinge" axis="0 1 0" damping="2e-6"/>
        <geom name="pole" type="capsule" fromto="0 0 0 0 0 1" size="0.045" mass="0.1"
              contype="0" conaffinity="0" rgba="0.5 0.5 0.9 1"/>
      </body>
    </body>
  </worldbody>
  <actuator>
    <motor name="slide" joint="slider" gear="10" ctrllimited="true" ctrlrange="-1 1"/>
  </actuator>
</mujoco>
"""


@dataclass(frozen=True)
class CartpoleConfig:
    """Cart-pole swing-up settings.

    Attributes:
        timestep: physics step in seconds.
        control_dt: control period in seconds (0.02 = 50 Hz, action repeat 2).
        episode_length: control steps per episode.
        image: also observe a 64x64 RGB ``image`` from a fixed camera.
    """

    timestep: float = 0.01
    control_dt: float = 0.02
    episode_length: int = 500
    image: bool = False


def build_cartpole_model(config: CartpoleConfig = CartpoleConfig()) -> mujoco.MjModel:
    """The compiled cart-pole model."""
    return mujoco.MjModel.from_xml_string(CARTPOLE_XML.format(timestep=config.timestep))


class CartpoleSwingup:
    """Swing the pole up and balance it (see module docstring)."""

    def __init__(self, config: CartpoleConfig = CartpoleConfig()) -> None:
        self.config = config
        self.robot = SimRobot(build_cartpole_model(config), ["slider"], mode="motor",
                              camera="fixed")
        self.episode_length = config.episode_length
        self._hinge_qpos = self.robot.model.jnt_qposadr[1]
        self._hinge_qvel = self.robot.model.jnt_dofadr[1]
        self._spec = task_math.cartpole_spec(config.image)

    @property
    def spec(self) -> EnvSpec:
        """Observation ``vector`` (5,) [+ ``image``], action ``action`` (1,) in [-1, 1]."""
        return self._spec

    def restart(self) -> None:
        """Nothing to forget: every episode resets the physics."""
        return

    def begin_episode(self, rng: np.random.Generator) -> None:
        """Pole hanging down (angle pi), small random perturbation."""
        qpos = np.array([0.01 * rng.standard_normal(), np.pi + 0.01 * rng.standard_normal()])
        qvel = 0.01 * rng.standard_normal(2)
        self.robot.reset(qpos, qvel)

    def step(self, action: Mapping[str, np.ndarray]) -> None:
        """Apply the force command for one control period."""
        self.robot.apply(task_math.cartpole_targets(action))
        self.robot.step(self.config.control_dt)

    def pole_angle(self) -> float:
        """Pole angle in radians, 0 = upright."""
        return float(self.robot.data.qpos[self._hinge_qpos])

    def readings(self) -> dict[str, np.ndarray]:
        """What the firmware reports (see :mod:`firmware_bridge.task_math`): slider joint,
        task sensors = pole angle, pole angular velocity, motor command in force."""
        data = self.robot.data
        command = 0.0 if self.robot.passive else float(self.robot.targets[0])
        return {"joint_pos": data.qpos[:1].copy(), "joint_vel": data.qvel[:1].copy(),
                "task_sensors": np.array([self.pole_angle(), data.qvel[self._hinge_qvel],
                                          command])}

    def observe(self) -> dict[str, np.ndarray]:
        """``vector`` = [x, cos, sin, x_dot, theta_dot] (+ ``image``)."""
        out = task_math.cartpole_observation(self.readings())
        if self.config.image:
            out["image"] = self.robot.render(64)
        return out

    def reward(self) -> float:
        """Smooth swing-up reward in [0, 1] (dm_control's formula)."""
        return task_math.cartpole_reward(self.readings())

    def is_terminal(self) -> bool:
        """Never: swing-up episodes end by time only."""
        return False

    def is_last(self) -> bool:
        """Never: episodes are cut by length only."""
        return False


def make_swingup(**overrides: object) -> CartpoleSwingup:
    """Factory for the task registry (``overrides`` are :class:`CartpoleConfig` fields)."""
    return CartpoleSwingup(CartpoleConfig(**overrides))  # type: ignore[arg-type]
