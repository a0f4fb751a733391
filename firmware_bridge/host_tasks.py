"""The robot computer's side of each task: observation, reward and targets from serial readings.

On a real robot the firmware only runs the motors and reports sensors; the robot computer turns
what arrives over the serial link into the learner's observation and reward, and turns the
learner's normalised action into the firmware's targets. A :class:`HostTask` does exactly that,
with the same spec and the same functions (:mod:`firmware_bridge.task_math`) as the in-process
task of the same name, so both compute equal observations and rewards from the same physics state.
Numpy only (no MuJoCo on the robot computer).

    task = make_host_task("cartpole_swingup")
    readings = readings_from_state(driver.latest_state())
    obs, reward = task.observe(readings), task.reward(readings)
    driver.send_command(task.targets({"action": np.array([0.3], np.float32)}, readings))

Images are not on the serial link: a task whose spec has ``image`` gets it from the camera
(:mod:`firmware_bridge.camera`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from firmware_bridge import task_math
from firmware_bridge.errors import BridgeError
from firmware_bridge.messages import CommandMode
from firmware_bridge.records import StateSample
from firmware_bridge.task_math import Readings
from shared.spec import EnvSpec

#: task name -> the task id carried by RESET requests (stable: never renumber).
TASK_IDS: dict[str, int] = {"cartpole_swingup": 1, "a1_walk": 2, "sphere_goal": 3,
                            "ur5_reach": 4, "ur5_pick_place": 5}


def _never(readings: Readings) -> bool:
    return False


@dataclass(frozen=True)
class HostTask:
    """One task as the robot computer sees it.

    Attributes:
        name: task name (as in :data:`firmware_bridge.sim.tasks.TASKS`).
        task_id: id sent with RESET (:data:`TASK_IDS`).
        spec: observation and action spec (equal to the in-process task's).
        control_hz: control rate the task is designed for.
        episode_length: control steps before an ``is_last`` cut.
        joint_count: J the firmware must report (length of COMMAND targets).
        task_sensor_count: S the firmware must report.
        command_mode: :class:`~firmware_bridge.messages.CommandMode` of the targets.
        resets_physics: the firmware can reset the world (False: episodes are only cut).
        observe_fn: readings -> observation keys other than the reserved ones and ``image``.
        reward_fn: (readings, previous step's readings or None) -> reward of the transition
            that led to ``readings``.
        targets_fn: (validated action, latest readings) -> firmware targets ``(J,)`` float64.
        hold_fn: latest readings -> safe targets ``(J,)``: hold still (sent while stopped).
        terminal_fn: readings -> the task truly ended.
        last_fn: readings -> the task cuts the episode (not terminal).
    """

    name: str
    task_id: int
    spec: EnvSpec
    control_hz: float
    episode_length: int
    joint_count: int
    task_sensor_count: int
    command_mode: int
    resets_physics: bool
    observe_fn: Callable[[Readings], dict[str, np.ndarray]]
    reward_fn: Callable[[Readings, Readings | None], float]
    targets_fn: Callable[[Mapping[str, np.ndarray], Readings], np.ndarray]
    hold_fn: Callable[[Readings], np.ndarray]
    terminal_fn: Callable[[Readings], bool] = _never
    last_fn: Callable[[Readings], bool] = _never

    @property
    def has_image(self) -> bool:
        """The spec has an ``image`` observation (it comes from the camera, not the link)."""
        return "image" in self.spec.observation

    def observe(self, readings: Readings) -> dict[str, np.ndarray]:
        """Observation keys (``image`` and the reserved keys excluded) of ``readings``."""
        return self.observe_fn(readings)

    def reward(self, readings: Readings, previous: Readings | None = None) -> float:
        """Reward of the transition from ``previous`` (the last step's readings; None at an
        episode start) to ``readings``."""
        return float(self.reward_fn(readings, previous))

    def is_terminal(self, readings: Readings) -> bool:
        """True when the task truly ended."""
        return bool(self.terminal_fn(readings))

    def is_last(self, readings: Readings) -> bool:
        """True when the task cuts the episode before ``episode_length``."""
        return bool(self.last_fn(readings))

    def targets(self, action: Mapping[str, np.ndarray], readings: Readings) -> np.ndarray:
        """Firmware targets ``(J,)`` of a (validated) action, given the latest readings (the
        arm's moves are relative to the commanded TCP the firmware reports)."""
        targets = np.asarray(self.targets_fn(action, readings), dtype=np.float64)
        if targets.shape != (self.joint_count,):
            raise BridgeError(f"task {self.name!r} made targets of shape {targets.shape}, "
                              f"expected ({self.joint_count},)")
        return targets

    def hold_targets(self, readings: Readings) -> np.ndarray:
        """Safe targets ``(J,)`` given the latest readings (no force, hold the joints, brake,
        stay at the commanded TCP)."""
        return np.asarray(self.hold_fn(readings), dtype=np.float64)


def _action_only(function: Callable[[Mapping[str, np.ndarray]], np.ndarray]
                 ) -> Callable[[Mapping[str, np.ndarray], Readings], np.ndarray]:
    """A targets function that does not need the readings."""
    return lambda action, readings: function(action)


def _state_only(function: Callable[[Readings], float]
                ) -> Callable[[Readings, Readings | None], float]:
    """A reward function of the current readings alone."""
    return lambda readings, previous: function(readings)


def readings_from_state(state: StateSample) -> dict[str, np.ndarray]:
    """The readings (:mod:`firmware_bridge.task_math`) carried by one STATE, as float64."""
    return {key: np.asarray(getattr(state, key), dtype=np.float64) for key in (
        "joint_pos", "joint_vel", "imu_quat", "imu_gyro", "imu_accel", "task_sensors")}


def cartpole_swingup(image: bool = False, episode_length: int = 500) -> HostTask:
    """Cart-pole swing-up at 50 Hz: force command (1,), reward from pole angle and cart."""
    return HostTask(
        "cartpole_swingup", TASK_IDS["cartpole_swingup"], task_math.cartpole_spec(image),
        control_hz=50.0, episode_length=episode_length, joint_count=1, task_sensor_count=3,
        command_mode=int(CommandMode.EFFORT), resets_physics=True,
        observe_fn=task_math.cartpole_observation,
        reward_fn=_state_only(task_math.cartpole_reward),
        targets_fn=_action_only(task_math.cartpole_targets), hold_fn=task_math.cartpole_hold)


def _a1_reward(readings: Readings, target_speed: float) -> float:
    return task_math.a1_reward(readings, target_speed)[0]


def _a1_targets(action: Mapping[str, np.ndarray], full_range: bool) -> np.ndarray:
    return task_math.a1_action_to_targets(action["action"], full_range)


def a1_walk(image: bool = False, episode_length: int = 1000, target_speed: float = 0.3,
            full_range: bool = False) -> HostTask:
    """DayDreamer's A1 walking at 20 Hz: joint-angle targets (12,), staged reward; no resets."""
    return HostTask(
        "a1_walk", TASK_IDS["a1_walk"], task_math.a1_spec(image), control_hz=20.0,
        episode_length=episode_length, joint_count=12, task_sensor_count=4,
        command_mode=int(CommandMode.POSITION), resets_physics=False,
        observe_fn=partial(task_math.a1_observation, target_speed=target_speed),
        reward_fn=_state_only(partial(_a1_reward, target_speed=target_speed)),
        targets_fn=_action_only(partial(_a1_targets, full_range=full_range)),
        hold_fn=task_math.a1_hold)


def sphere_goal(vector: bool = True, episode_length: int = 50,
                success_distance: float = 0.1) -> HostTask:
    """Sphere to goal at 2 Hz: velocity set-points (2,), minus the distance; image from camera."""
    return HostTask(
        "sphere_goal", TASK_IDS["sphere_goal"], task_math.sphere_spec(vector), control_hz=2.0,
        episode_length=episode_length, joint_count=2, task_sensor_count=2,
        command_mode=int(CommandMode.VELOCITY), resets_physics=True,
        observe_fn=partial(task_math.sphere_observation, vector=vector,
                           success_distance=success_distance),
        reward_fn=_state_only(task_math.sphere_reward),
        targets_fn=_action_only(task_math.sphere_targets), hold_fn=task_math.sphere_hold)


def ur5_reach(image: bool = False, episode_length: int = 50, max_step: float = 0.05
              ) -> HostTask:
    """Arm reach at 10 Hz: Cartesian targets (TCP, gripper) (4,), minus the distance."""
    return HostTask(
        "ur5_reach", TASK_IDS["ur5_reach"], task_math.reach_spec(image), control_hz=10.0,
        episode_length=episode_length, joint_count=4, task_sensor_count=12,
        command_mode=int(CommandMode.POSITION), resets_physics=True,
        observe_fn=task_math.reach_observation,
        reward_fn=_state_only(task_math.reach_reward),
        targets_fn=partial(task_math.reach_targets, max_step=max_step),
        hold_fn=task_math.arm_hold)


def ur5_pick_place(episode_length: int = 200, grid: float = 0.04, countdown: int = 5
                   ) -> HostTask:
    """DayDreamer's pick-and-place at 4 Hz: six discrete actions -> Cartesian targets (4,);
    rewards from the firmware's grasp/place/drop counters; image from the camera."""
    control_dt = 0.25
    return HostTask(
        "ur5_pick_place", TASK_IDS["ur5_pick_place"], task_math.pick_place_spec(),
        control_hz=1.0 / control_dt, episode_length=episode_length, joint_count=4,
        task_sensor_count=16, command_mode=int(CommandMode.POSITION), resets_physics=True,
        observe_fn=task_math.pick_place_observation, reward_fn=task_math.pick_place_reward,
        targets_fn=partial(task_math.pick_place_targets, grid=grid),
        hold_fn=task_math.arm_hold,
        last_fn=partial(task_math.pick_place_is_last, countdown=countdown,
                        control_dt=control_dt))


#: task name -> factory of its host-side task (keyword options as in each factory).
HOST_TASKS: dict[str, Callable[..., HostTask]] = {
    "cartpole_swingup": cartpole_swingup, "a1_walk": a1_walk, "sphere_goal": sphere_goal,
    "ur5_reach": ur5_reach, "ur5_pick_place": ur5_pick_place}


def make_host_task(name: str, **options: Any) -> HostTask:
    """The host-side task ``name``; raises :class:`BridgeError` naming the known tasks."""
    if name not in HOST_TASKS:
        raise BridgeError(f"no host-side task {name!r}; known: {sorted(HOST_TASKS)}")
    try:
        return HOST_TASKS[name](**options)
    except TypeError as error:
        raise BridgeError(f"bad options for host task {name!r}: {error}") from error
