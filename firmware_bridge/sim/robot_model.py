"""Adapter: a MuJoCo task's robot as a :class:`~firmware_bridge.sim.model.RobotModel`.

This is the *firmware* half of a task: :class:`TaskRobotModel` lets the serial engine
(:class:`~firmware_bridge.sim.engine.SimFirmware`) run the task's MuJoCo physics at physics rate
with the robot's MCU inner loop (joint PD for the A1, force for the cart-pole, velocity loop for
the sphere), applies COMMAND targets, reports the task's readings in STATE
(:mod:`firmware_bridge.task_math` says what each task reports) and, when a camera publisher is
given, renders the task camera and publishes frames (:mod:`firmware_bridge.camera`). The learning
half (observation, reward) runs on the robot computer (:mod:`firmware_bridge.host_tasks`).

With no command in force (boot, e-stop, after a reset) the motors go passive: damping only for
joint-PD robots, zero command otherwise. RESET resets the world where the task allows it; the
A1 has no physical reset (a real quadruped has to get up by itself), so RESET is rejected.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from firmware_bridge.camera import CameraPublisher
from firmware_bridge.host_tasks import TASK_IDS
from firmware_bridge.messages import CommandMode
from firmware_bridge.sim.robots.base import SimRobotError
from firmware_bridge.sim.tasks import Task

LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class FirmwareProfile:
    """How the firmware of one task behaves.

    Attributes:
        command_mode: meaning of COMMAND targets (:class:`CommandMode`).
        state_rate_hz: STATE stream rate (at least twice the task's control rate).
        resettable: RESET may reset the world.
        camera_hz: frame rate of the camera when one is requested.
    """

    command_mode: int
    state_rate_hz: float
    resettable: bool
    camera_hz: float = 10.0


#: task name -> its firmware profile (the tasks a simulated firmware can run).
PROFILES: dict[str, FirmwareProfile] = {
    "cartpole_swingup": FirmwareProfile(int(CommandMode.EFFORT), 100.0, True, 25.0),
    "a1_walk": FirmwareProfile(int(CommandMode.POSITION), 100.0, False, 10.0),
    "sphere_goal": FirmwareProfile(int(CommandMode.VELOCITY), 20.0, True, 10.0),
    "ur5_reach": FirmwareProfile(int(CommandMode.POSITION), 50.0, True, 10.0),
    "ur5_pick_place": FirmwareProfile(int(CommandMode.POSITION), 20.0, True, 10.0),
}


class TaskRobotModel:
    """A task's robot driven by the serial engine (see module docstring).

    Args:
        task: the in-process task (it must offer ``readings()``).
        task_name: its registry name (a key of :data:`PROFILES`).
        seed: seed of the first episode.
        camera: publisher of the task camera's frames, or None.
        image_size: side of the published square frames.
    """

    def __init__(self, task: Task, task_name: str, seed: int = 0,
                 camera: CameraPublisher | None = None, image_size: int = 64) -> None:
        if task_name not in PROFILES:
            raise SimRobotError(f"no firmware profile for task {task_name!r}; "
                                f"known: {sorted(PROFILES)}")
        profile = PROFILES[task_name]
        self.task = task
        self.task_name = task_name
        self.task_id = TASK_IDS[task_name]
        self.robot = task.robot
        self.profile = profile
        self.name = f"sim-{task_name}"[:32]
        self.command_mode = profile.command_mode
        self.state_rate_hz = profile.state_rate_hz
        self.physics_rate_hz = 1.0 / self.robot.timestep
        self.camera = camera
        self.image_size = image_size
        self.physics_steps = 0
        self.frames_rendered = 0
        self._next_frame_step = 0
        self._applied: np.ndarray | None = None
        #: how COMMAND targets reach the motors: the task's own controller (the arm's Cartesian
        #: IK) or straight to the inner loop.
        self._command = getattr(task, "firmware_command", None) or self.robot.apply
        task.begin_episode(np.random.default_rng(seed))
        readings = self.read_state()
        self.joint_count = int(np.size(readings["joint_pos"]))
        self.task_sensor_count = int(np.size(readings["task_sensors"]))
        self.robot.go_passive()

    def step_physics(self, targets: np.ndarray | None, dt: float) -> None:
        """Run the inner loop for ``dt`` seconds under ``targets`` ``(J,)`` (None: passive)."""
        if targets is None:
            self.robot.go_passive()
            self._applied = None
        elif self._applied is None or not np.array_equal(targets, self._applied):
            self._command(targets)  # only new targets: the arm's IK runs once per COMMAND
            self._applied = np.array(targets, dtype=np.float64)
        self.physics_steps += self.robot.step(dt)
        self._maybe_publish_frame()

    def _maybe_publish_frame(self) -> None:
        if self.camera is None or self.physics_steps < self._next_frame_step:
            return
        every = max(1, round(self.physics_rate_hz / self.profile.camera_hz))
        self._next_frame_step = (self.physics_steps // every + 1) * every
        image = self.robot.render(self.image_size)
        stamp = round(self.physics_steps * 1e6 / self.physics_rate_hz)
        self.camera.publish(image, stamp)
        self.frames_rendered += 1

    def read_state(self) -> dict[str, np.ndarray]:
        """The task's readings (STATE fields)."""
        return self.task.readings()  # type: ignore[attr-defined]

    def safe_stop(self) -> None:
        """E-stop: motors passive at once."""
        self.robot.go_passive()
        self._applied = None

    def reset(self, task_id: int, seed: int) -> None:
        """Reset the world for a new episode of ``task_id`` (rejected where impossible)."""
        if task_id != self.task_id:
            raise SimRobotError(f"firmware runs {self.task_name!r} (task id {self.task_id}), "
                                f"asked for task id {task_id}")
        if not self.profile.resettable:
            raise SimRobotError(f"{self.task_name} has no physical reset")
        self.task.restart()
        self.task.begin_episode(np.random.default_rng(seed))
        self.robot.go_passive()
        self._applied = None
        self._next_frame_step = self.physics_steps  # show the new world at once

    def close(self) -> None:
        """Free renderers and the camera socket."""
        self.robot.close()
        if self.camera is not None:
            self.camera.close()
