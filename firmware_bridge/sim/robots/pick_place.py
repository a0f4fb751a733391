"""DayDreamer's UR5 pick-and-place between two bins, on the UR5e-like arm (discrete actions).

Follows DayDreamer's ``UR5PickPlace`` (Wu et al. 2022, ``embodied/envs/ur5.py``): two bins side by
side in front of the robot (left = +y, right = -y), one object, and six actions

    0: -x   1: +x   2: -y   3: +y   (move the gripper ``grid`` = 4 cm in the plane)
    4: close the gripper (grasp)    5: open the gripper (release)

While empty-handed the gripper moves at table height inside the bin it is over; a successful
grasp lifts it to hover height, from which it may cross to the other bin. Sparse rewards:
**+1** on a grasp, **+10** when the object is released over the *other* bin, **-1** when it is
released over the bin it came from or over the gap ("drop"). After a place the episode ends
(``is_last``, not terminal) ``countdown`` steps later, like the real robot; the object stays in
its new bin and the next episode starts from there.

Grasping is a **weld on contact**, not friction: closing the gripper while the tool centre point
is within ``grasp_radius`` (xy) of the object and at table height activates a MuJoCo weld
equality between gripper and object, holding its relative pose at that instant; opening the
gripper deactivates it and the object falls. Fingers are visual only. This keeps grasps
deterministic at 4 Hz control; the learner still has to find the object and time the close.

Observations (DayDreamer's keys, sensibly named): ``image`` 64x64x3 top camera,
``joint_positions`` (6,), ``cartesian_position`` (3,) TCP, ``gripper_pos`` (1,) 0 open..1 closed,
``gripper_side`` (3,) and ``grasped_side`` (3,) one-hot (other, left, right).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import mujoco
import numpy as np

from firmware_bridge import task_math
from firmware_bridge.sim.robots import arm
from firmware_bridge.sim.robots.arm_tasks import GRIPPER_CLOSED, GRIPPER_OPEN, CartesianArm
from firmware_bridge.sim.robots.base import body_id
from shared.spec import EnvSpec

# the geometry and the action/reward logic live in :mod:`firmware_bridge.task_math` (shared with
# the robot computer's host-side task); the historical names stay importable from here.
OTHER, LEFT, RIGHT = task_math.PP_OTHER, task_math.PP_LEFT, task_math.PP_RIGHT
BIN_X, BIN_Y, BIN_HALF = task_math.PP_BIN_X, task_math.PP_BIN_Y, task_math.PP_BIN_HALF
OBJECT_HALF = 0.02
Z_TABLE, Z_HOVER = task_math.PP_Z_TABLE, task_math.PP_Z_HOVER
TCP_MARGIN = task_math.PP_TCP_MARGIN
MOVES = task_math.PP_MOVES
side_of = task_math.side_of


def _bin_xml(name: str, y: float) -> str:
    half_x, half_y = BIN_HALF
    walls = [((BIN_X, y + half_y + 0.005), (half_x + 0.01, 0.005)),
             ((BIN_X, y - half_y - 0.005), (half_x + 0.01, 0.005)),
             ((BIN_X + half_x + 0.005, y), (0.005, half_y)),
             ((BIN_X - half_x - 0.005, y), (0.005, half_y))]
    return "".join(
        f'\n    <geom name="{name}_wall{index}" type="box" pos="{x} {wy} 0.025" '
        f'size="{sx} {sy} 0.025" rgba="0.35 0.4 0.6 1"/>'
        for index, ((x, wy), (sx, sy)) in enumerate(walls))


SCENE_EXTRA = (_bin_xml("left", BIN_Y[LEFT]) + _bin_xml("right", BIN_Y[RIGHT]) + f"""
    <body name="object" pos="{BIN_X} {BIN_Y[LEFT]} {OBJECT_HALF}">
      <freejoint name="object"/>
      <geom name="object" type="box" size="{OBJECT_HALF} {OBJECT_HALF} {OBJECT_HALF}"
            mass="0.05" rgba="0.9 0.15 0.1 1" friction="1 0.01 0.001"/>
    </body>""")
GRASP_WELD = '<weld name="grasp" body1="gripper" body2="object" active="false" solref="0.01 1"/>'


@dataclass(frozen=True)
class PickPlaceConfig:
    """Pick-and-place settings.

    Attributes:
        timestep: physics step in seconds.
        control_dt: control period in seconds (0.25 = 4 Hz).
        episode_length: control steps before a time-limit cut.
        grid: gripper move per action, metres (DayDreamer: 4 cm).
        grasp_radius: largest TCP-object distance in the plane for a grasp, metres.
        countdown: steps from a successful place to the episode's end.
    """

    timestep: float = 0.002
    control_dt: float = 0.25
    episode_length: int = 200
    grid: float = 0.04
    grasp_radius: float = 0.035
    countdown: int = 5


class PickPlace:
    """Move the object from one bin to the other (see module docstring)."""

    def __init__(self, config: PickPlaceConfig = PickPlaceConfig()) -> None:
        self.config = config
        model = mujoco.MjModel.from_xml_string(
            arm.arm_scene_xml(config.timestep, extra=SCENE_EXTRA, equality=GRASP_WELD))
        self.arm = CartesianArm(model)
        self.robot = self.arm.robot
        self.episode_length = config.episode_length
        self._object = body_id(model, "object")
        self._object_qpos = model.jnt_qposadr[model.body_jntadr[self._object]]
        self._gripper_body = body_id(model, "gripper")
        self._weld = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_EQUALITY, "grasp")
        self.holding = False
        self.grasped_bin = OTHER
        self._reward = 0.0
        self._fresh = True
        self.counts = {"grasps": 0, "places": 0, "drops": 0}
        self._place_step: int | None = None
        self._spec = task_math.pick_place_spec()

    @property
    def spec(self) -> EnvSpec:
        """See module docstring; action is one discrete ``action`` in 0..5."""
        return self._spec

    def object_position(self) -> np.ndarray:
        """Object centre ``(3,)``."""
        return self.robot.data.xpos[self._object].copy()

    def restart(self) -> None:
        """The next episode places the object at random again."""
        self._fresh = True

    def begin_episode(self, rng: np.random.Generator) -> None:
        """Release, re-place the object if it is outside both bins, put the gripper over it."""
        self._set_weld(False)
        self.holding, self.grasped_bin, self._place_step = False, OTHER, None
        position = self.object_position()
        side = side_of(position[1])
        inside = side != OTHER and abs(position[0] - BIN_X) < BIN_HALF[0] and position[2] < 0.05
        if self._fresh or not inside:
            self._fresh = False
            side = int(rng.choice([LEFT, RIGHT]))
            position = self._random_point(rng, side, margin=0.03)
        start = self._random_point(rng, side, margin=TCP_MARGIN)
        self.arm.teleport(np.array([start[0], start[1], Z_TABLE]), GRIPPER_OPEN)
        qpos = self.robot.data.qpos
        qpos[self._object_qpos:self._object_qpos + 3] = [position[0], position[1], OBJECT_HALF]
        qpos[self._object_qpos + 3:self._object_qpos + 7] = [1.0, 0.0, 0.0, 0.0]
        self.robot.data.qvel[:] = 0.0
        mujoco.mj_forward(self.robot.model, self.robot.data)
        self._reward = 0.0

    @staticmethod
    def _random_point(rng: np.random.Generator, side: int, margin: float) -> np.ndarray:
        half = np.array(BIN_HALF) - margin
        return np.array([BIN_X, BIN_Y[side]]) + rng.uniform(-half, half)

    def step(self, action: Mapping[str, np.ndarray]) -> None:
        """Apply one of the six actions; sets the reward of this transition."""
        before = self.readings()
        self.firmware_command(task_math.pick_place_targets(action, before, self.config.grid))
        self.robot.step(self.config.control_dt)
        self._reward = task_math.pick_place_reward(self.readings(), before)

    def firmware_command(self, targets: np.ndarray) -> None:
        """The Cartesian controller with its gripper routine: targets ``(4,)`` = TCP and gripper
        closure; closing next to the object grasps (weld) and lifts it to hover height,
        opening releases it (a place over the other bin, else a drop) and lowers to the table."""
        if targets[3] >= 0.5:
            self._close(targets[:3])
        else:
            self._open(targets[:3])

    def _close(self, tcp: np.ndarray) -> None:
        was_open = self.arm.gripper == GRIPPER_OPEN
        self.arm.command(tcp, GRIPPER_CLOSED)
        if not (was_open and not self.holding and self._can_grasp()):
            return
        self._set_weld(True)
        self.holding, self.grasped_bin = True, side_of(self.arm.commanded[1])
        self.counts["grasps"] += 1
        self.arm.command(np.array([*self.arm.commanded[:2], Z_HOVER]))

    def _open(self, tcp: np.ndarray) -> None:
        self.arm.command(tcp, GRIPPER_OPEN)
        if self.holding:
            self._set_weld(False)
            self.holding = False
            side = side_of(self.arm.commanded[1])
            if side not in (OTHER, self.grasped_bin):
                self.counts["places"] += 1
                self._place_step = self.robot.physics_steps
            else:
                self.counts["drops"] += 1
            self.grasped_bin = OTHER
        if self.arm.commanded[2] > Z_TABLE and side_of(self.arm.commanded[1]) != OTHER:
            self.arm.command(np.array([*self.arm.commanded[:2], Z_TABLE]))

    def readings(self) -> dict[str, np.ndarray]:
        """What the Cartesian firmware reports (see :mod:`firmware_bridge.task_math`)."""
        since = (-1.0 if self._place_step is None
                 else (self.robot.physics_steps - self._place_step) * self.robot.timestep)
        counts = self.counts
        sensors = np.array([
            *self.robot.joint_positions()[:6], *self.arm.commanded,
            1.0 - self.arm.gripper / GRIPPER_OPEN, float(self.holding), self.grasped_bin,
            counts["grasps"], counts["places"], counts["drops"], since])
        return {**self.arm.cartesian_readings(), "task_sensors": sensors}

    def _can_grasp(self) -> bool:
        offset = self.object_position() - self.arm.tcp()
        return (float(np.linalg.norm(offset[:2])) <= self.config.grasp_radius
                and abs(float(offset[2])) < 0.04)

    def _set_weld(self, active: bool) -> None:
        """Switch the grasp weld, freezing the current gripper-to-object pose when activating."""
        if active:
            data = self.robot.data
            gripper_rotation = data.xmat[self._gripper_body].reshape(3, 3)
            offset = data.xpos[self._object] - data.xpos[self._gripper_body]
            relative = gripper_rotation.T @ offset
            inverse = np.zeros(4)
            mujoco.mju_negQuat(inverse, data.xquat[self._gripper_body])
            quat = np.zeros(4)
            mujoco.mju_mulQuat(quat, inverse, data.xquat[self._object])
            self.robot.model.eq_data[self._weld, 3:6] = relative
            self.robot.model.eq_data[self._weld, 6:10] = quat
        self.robot.data.eq_active[self._weld] = int(active)

    def observe(self) -> dict[str, np.ndarray]:
        """See module docstring."""
        return {"image": self.robot.render(64),
                **task_math.pick_place_observation(self.readings())}

    def reward(self) -> float:
        """+1 grasp, +10 place, -1 drop, else 0."""
        return self._reward

    def is_terminal(self) -> bool:
        """Never."""
        return False

    def is_last(self) -> bool:
        """True ``countdown`` control periods after a successful place."""
        return task_math.pick_place_is_last(self.readings(), self.config.countdown,
                                            self.config.control_dt)


def make_pick_place(**overrides: object) -> PickPlace:
    """Factory for the task registry (``overrides`` are :class:`PickPlaceConfig` fields)."""
    return PickPlace(PickPlaceConfig(**overrides))  # type: ignore[arg-type]
