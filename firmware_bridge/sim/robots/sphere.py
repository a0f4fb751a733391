"""A Sphero-like rolling sphere in a walled 1 m arena, seen from above: DayDreamer's Sphero task.

Physical parameters (Sphero SPRK+ / BOLT data sheets: 73 mm diameter, ~200 g): a 0.0365 m radius,
0.2 kg ball. The real robot rolls by driving an internal cart; here two motors apply torques about
the world x and y axes to the shell (a site actuator with a world reference frame), which is what
the internal drive does to the shell up to its reaction on the internal mass. Like the real
robot's ``roll(heading, speed)`` command, the firmware closes a velocity loop: the action ``(2,)``
in [-1, 1] is the desired ground velocity (x, y) as a fraction of ``max_speed``, and at every
physics step the drive torque is ``max_torque * clip((v_desired - v) / speed_tolerance, -1, 1)``
(torque about y drives +x, about -x drives +y). So ``action = (1, 0)`` rolls towards +x at
``max_speed`` and ``(0, 0)`` brakes.

Control: 2 Hz (``control_dt = 0.5`` s, physics at 500 Hz). Observation: ``image`` 64x64x3 uint8
from a top-down camera (arena, ball, goal marker) plus ``vector`` (6,) = ball x, y, velocity
x, y, goal x, y (drop it with ``vector=False`` for the image-only DayDreamer setting).
Reward: minus the distance from the ball to the goal in metres (as DayDreamer's, which measured
it in arena-normalised units from the camera). A new goal is drawn every episode unless
``fixed_goal`` is set; the ball stays where it is. Unlike the real Sphero's ``raw_motor`` (two
internal wheel powers, stabilisation off) the action here is a world-frame velocity set-point:
simpler to learn, the same 2-d action at 2 Hz.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import mujoco
import numpy as np

from firmware_bridge import task_math
from firmware_bridge.sim.robots.base import SimRobot, SimRobotError, body_id
from shared.spec import EnvSpec

BALL_RADIUS = 0.0365
BALL_MASS = 0.2
ARENA_HALF = 0.5
WALL = 0.02

SPHERE_XML = """
<mujoco model="sphere_arena">
  <option timestep="{timestep}" integrator="implicitfast"/>
  <visual>
    <global offwidth="256" offheight="256"/>
    <headlight ambient="0.35 0.35 0.35" diffuse="0.3 0.3 0.3" specular="0 0 0"/>
  </visual>
  <worldbody>
    <light pos="0 0 3" dir="0 0 -1" directional="true" diffuse="0.4 0.4 0.4"
           specular="0 0 0"/>
    <camera name="top" pos="0 0 1.35" xyaxes="1 0 0 0 1 0" fovy="45"/>
    <site name="world_frame" pos="0 0 0"/>
    <geom name="floor" type="plane" size="{half} {half} 0.1" rgba="0.7 0.7 0.65 1"/>
    <geom name="wall_east" type="box" pos="{wall_pos} 0 0.05" size="{wall} {wall_len} 0.05"
          rgba="0.3 0.3 0.35 1"/>
    <geom name="wall_west" type="box" pos="-{wall_pos} 0 0.05" size="{wall} {wall_len} 0.05"
          rgba="0.3 0.3 0.35 1"/>
    <geom name="wall_north" type="box" pos="0 {wall_pos} 0.05" size="{wall_len} {wall} 0.05"
          rgba="0.3 0.3 0.35 1"/>
    <geom name="wall_south" type="box" pos="0 -{wall_pos} 0.05" size="{wall_len} {wall} 0.05"
          rgba="0.3 0.3 0.35 1"/>
    <body name="goal" mocap="true" pos="0.2 0.2 0.003">
      <geom name="goal" type="cylinder" size="0.05 0.002" contype="0" conaffinity="0"
            rgba="0.1 0.7 0.2 1"/>
    </body>
    <body name="ball" pos="0 0 {radius}">
      <freejoint name="ball"/>
      <geom name="ball" type="sphere" size="{radius}" mass="{mass}" friction="1 0.005 0.0005"
            condim="6" rgba="0.2 0.3 0.9 1"/>
      <geom name="stripe" type="box" size="{stripe} 0.006 0.006" pos="0 0 {stripe_z}"
            contype="0" conaffinity="0" mass="0" rgba="0.95 0.95 0.95 1"/>
      <site name="center" pos="0 0 0"/>
    </body>
  </worldbody>
  <actuator>
    <general name="roll_x" site="center" refsite="world_frame" gear="0 0 0 0 {torque} 0"
             ctrllimited="true" ctrlrange="-1 1"/>
    <general name="roll_y" site="center" refsite="world_frame" gear="0 0 0 {neg_torque} 0 0"
             ctrllimited="true" ctrlrange="-1 1"/>
  </actuator>
</mujoco>
"""


@dataclass(frozen=True)
class SphereConfig:
    """Sphere-in-arena task settings.

    Attributes:
        timestep: physics step in seconds.
        control_dt: control period in seconds (0.5 = 2 Hz).
        episode_length: control steps per episode.
        max_torque: largest drive torque, N*m.
        max_speed: ground speed at action 1, m/s.
        speed_tolerance: velocity error (m/s) at which the velocity loop saturates.
        vector: also give the model the state vector (ball and goal positions, ball velocity).
        image_size: side of the square top-down image in pixels.
        fixed_goal: goal (x, y) in metres for every episode; empty = a random goal each episode
            (DayDreamer's real arena used one fixed goal).
        success_distance: distance in metres that counts as success (``log/success``).
    """

    timestep: float = 0.002
    control_dt: float = 0.5
    episode_length: int = 50
    max_torque: float = 0.02
    max_speed: float = 0.5
    speed_tolerance: float = 0.1
    vector: bool = True
    image_size: int = 64
    fixed_goal: tuple[float, ...] = ()
    success_distance: float = 0.1


def build_sphere_model(config: SphereConfig = SphereConfig()) -> mujoco.MjModel:
    """The compiled arena with the ball at its centre."""
    return mujoco.MjModel.from_xml_string(SPHERE_XML.format(
        timestep=config.timestep, half=ARENA_HALF + WALL, wall=WALL, wall_pos=ARENA_HALF + WALL,
        wall_len=ARENA_HALF + 2 * WALL, radius=BALL_RADIUS, mass=BALL_MASS,
        stripe=BALL_RADIUS * 0.8, stripe_z=BALL_RADIUS * 0.85, torque=config.max_torque,
        neg_torque=-config.max_torque))


class SphereGoal:
    """Roll the ball to the goal marker (see module docstring)."""

    def __init__(self, config: SphereConfig = SphereConfig()) -> None:
        if config.fixed_goal and len(config.fixed_goal) != 2:
            raise SimRobotError(f"fixed_goal must be (x, y), got {config.fixed_goal}")
        self.config = config
        model = build_sphere_model(config)
        self.robot = SimRobot(model, [], mode="motor", camera="top",
                              controller=self._velocity_loop)
        self.episode_length = config.episode_length
        self._ball = body_id(model, "ball")
        self._goal_mocap = model.body_mocapid[body_id(model, "goal")]
        self._first = True
        self._spec = task_math.sphere_spec(config.vector, config.image_size)

    @property
    def spec(self) -> EnvSpec:
        """Observation ``image`` [+ ``vector`` (6,)], ``log/distance``; action (2,) in [-1, 1]."""
        return self._spec

    def _velocity_loop(self, robot: SimRobot) -> np.ndarray:
        """Drive commands ``(2,)`` in [-1, 1] that track the desired ground velocity."""
        desired = robot.targets * self.config.max_speed
        return (desired - robot.data.qvel[:2]) / self.config.speed_tolerance

    def restart(self) -> None:
        """The next episode places the ball at random again."""
        self._first = True

    def begin_episode(self, rng: np.random.Generator) -> None:
        """New random goal; the ball is placed at random only on the first episode."""
        reach = ARENA_HALF - 0.1
        if self._first:
            qpos = self.robot.model.qpos0.copy()
            qpos[:2] = rng.uniform(-reach, reach, 2)
            self.robot.reset(qpos)
            self._first = False
        goal = self.config.fixed_goal or rng.uniform(-reach, reach, 2)
        self.set_goal(np.asarray(goal, dtype=np.float64))

    def set_goal(self, xy: np.ndarray) -> None:
        """Move the goal marker to ``xy`` ``(2,)`` in metres."""
        self.robot.data.mocap_pos[self._goal_mocap, :2] = xy
        mujoco.mj_forward(self.robot.model, self.robot.data)

    def step(self, action: Mapping[str, np.ndarray]) -> None:
        """Track the commanded velocity for one control period."""
        self.robot.apply(task_math.sphere_targets(action))
        self.robot.step(self.config.control_dt)

    def ball_xy(self) -> np.ndarray:
        """Ball position ``(2,)`` in metres."""
        return self.robot.data.xpos[self._ball, :2].copy()

    def goal_xy(self) -> np.ndarray:
        """Goal position ``(2,)`` in metres."""
        return self.robot.data.mocap_pos[self._goal_mocap, :2].copy()

    def readings(self) -> dict[str, np.ndarray]:
        """What the firmware reports (see :mod:`firmware_bridge.task_math`): ball position and
        velocity as the two "joints", the goal as task sensors."""
        return {"joint_pos": self.ball_xy(), "joint_vel": self.robot.data.qvel[:2].copy(),
                "task_sensors": self.goal_xy()}

    def distance(self) -> float:
        """Ball-to-goal distance in metres."""
        return task_math.sphere_distance(self.readings())

    def observe(self) -> dict[str, np.ndarray]:
        """Top-down ``image`` [+ ``vector``], ``log/distance`` and ``log/success``."""
        out = {"image": self.robot.render(self.config.image_size)}
        out.update(task_math.sphere_observation(self.readings(), self.config.vector,
                                                self.config.success_distance))
        return out

    def reward(self) -> float:
        """Minus the distance to the goal, metres."""
        return task_math.sphere_reward(self.readings())

    def is_terminal(self) -> bool:
        """Never: episodes end by time."""
        return False

    def is_last(self) -> bool:
        """Never: episodes are cut by length only."""
        return False


def make_goal(**overrides: object) -> SphereGoal:
    """Factory for the task registry (``overrides`` are :class:`SphereConfig` fields)."""
    return SphereGoal(SphereConfig(**overrides))  # type: ignore[arg-type]
