"""Common part of every simulated robot: a MuJoCo model driven the way an MCU drives motors.

A :class:`SimRobot` is what a simulated firmware wraps. The firmware receives joint *targets*
(:meth:`SimRobot.apply`), runs its inner loop at physics rate for one control period
(:meth:`SimRobot.step`) and reports its sensors (:meth:`SimRobot.sensors`). Two inner loops exist:

``"pd"``
    Joint position control like a hobby servo or the A1's motor boards:
    ``torque = kp * (target - q) - kd * qdot``, clipped to each motor's torque limit, recomputed at
    every physics step. Targets are clipped to the joint limits first.
``"motor"``
    The targets are motor commands written straight to the actuators (``data.ctrl``), clipped to
    the actuators' control ranges (the cart-pole's force). With a ``controller`` callable, the
    targets are set-points of a custom inner loop that computes ``data.ctrl`` at every physics
    step instead (the sphere's velocity loop).

Every clip is counted in :attr:`SimRobot.clipped`, never silent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import mujoco
import numpy as np

from firmware_bridge.sim.render import FastRenderer
from firmware_bridge.task_math import roll_pitch, up_alignment
from shared.errors import DaydreamerError

LOGGER = logging.getLogger(__name__)

__all__ = ["PDConfig", "SimRobot", "SimRobotError", "body_id", "roll_pitch", "up_alignment"]


class SimRobotError(DaydreamerError):
    """A simulated robot was built or driven wrongly (unknown name, wrong target shape)."""


@dataclass(frozen=True)
class PDConfig:
    """Joint PD gains of the simulated motor boards, one entry per actuated joint.

    Attributes:
        kp: proportional gains in N·m/rad (or N/m for slides).
        kd: damping gains in N·m·s/rad.
    """

    kp: tuple[float, ...]
    kd: tuple[float, ...]


class SimRobot:
    """A MuJoCo model plus an MCU-style control loop.

    Args:
        model: compiled model. Its actuators must be one per name in ``joints`` in that order:
            torque motors (``"pd"`` mode) or any actuator (``"motor"`` mode).
        joints: names of the reported joints; in ``"pd"`` mode the actuated joints, in the order
            targets are given. In ``"motor"`` mode targets are one per actuator.
        mode: ``"pd"`` or ``"motor"`` (see module docstring).
        pd: gains for ``"pd"`` mode.
        camera: camera name used by :meth:`render` (``-1``: free camera).
        controller: ``"motor"`` mode only: inner loop ``controller(robot) -> ctrl (U,)`` run at
            every physics step, reading ``robot.targets`` and ``robot.data``.
    """

    def __init__(self, model: mujoco.MjModel, joints: Sequence[str], mode: str = "pd",
                 pd: PDConfig | None = None, camera: str | int = -1,
                 controller: Callable[[SimRobot], np.ndarray] | None = None) -> None:
        if mode not in ("pd", "motor"):
            raise SimRobotError(f"mode must be 'pd' or 'motor', got {mode!r}")
        if mode == "pd" and (pd is None or len(pd.kp) != len(joints) or len(pd.kd) != len(joints)):
            raise SimRobotError(f"pd mode needs {len(joints)} kp and kd gains, got {pd}")
        if mode == "pd" and model.nu != len(joints):
            raise SimRobotError(f"model has {model.nu} actuators for {len(joints)} joints")
        self.model = model
        self.data = mujoco.MjData(model)
        self.mode = mode
        self.joint_names = tuple(joints)
        ids = [_joint_id(model, name) for name in joints]
        if mode == "pd":
            _check_joint_motors(model, ids, joints)
        self._qpos = np.array([model.jnt_qposadr[i] for i in ids], dtype=np.int64)
        self._qvel = np.array([model.jnt_dofadr[i] for i in ids], dtype=np.int64)
        self.joint_low, self.joint_high = _joint_limits(model, ids)
        self.ctrl_low = model.actuator_ctrlrange[:, 0].copy()
        self.ctrl_high = model.actuator_ctrlrange[:, 1].copy()
        self._kp = np.asarray(pd.kp if pd else np.zeros(len(joints)), dtype=np.float64)
        self._kd = np.asarray(pd.kd if pd else np.zeros(len(joints)), dtype=np.float64)
        self.targets = np.zeros(model.nu)
        self.clipped = 0
        self.physics_steps = 0
        self.passive = False
        self._camera = camera
        self._controller = controller
        self._renderers: dict[int, FastRenderer] = {}
        mujoco.mj_forward(model, self.data)

    @property
    def timestep(self) -> float:
        """Physics step in seconds."""
        return float(self.model.opt.timestep)

    def reset(self, qpos: np.ndarray | None = None, qvel: np.ndarray | None = None) -> None:
        """Reset the physics state (to the model's default pose unless ``qpos`` is given)."""
        mujoco.mj_resetData(self.model, self.data)
        if qpos is not None:
            self.data.qpos[:] = qpos
        if qvel is not None:
            self.data.qvel[:] = qvel
        mujoco.mj_forward(self.model, self.data)
        self.targets = self.joint_positions() if self.mode == "pd" else np.zeros(self.model.nu)

    def apply(self, targets: np.ndarray) -> np.ndarray:
        """Set new targets ``(U,)`` (U actuators); returns them as used after clipping."""
        targets = np.asarray(targets, dtype=np.float64)
        if targets.shape != (self.model.nu,) or not np.all(np.isfinite(targets)):
            raise SimRobotError(
                f"targets must be finite with shape ({self.model.nu},), got {targets!r}")
        low, high = ((self.joint_low, self.joint_high) if self.mode == "pd"
                     else (self.ctrl_low, self.ctrl_high))
        clipped = np.clip(targets, low, high)
        self.clipped += int(np.count_nonzero(clipped != targets))
        self.targets = clipped
        self.passive = False
        return clipped.copy()

    def step(self, control_dt: float) -> int:
        """Run the inner loop for ``control_dt`` seconds; returns the number of physics steps."""
        steps = max(1, round(control_dt / self.timestep))
        for _ in range(steps):
            if self.passive:
                self.data.ctrl[:] = self.passive_ctrl()
            elif self.mode == "pd":
                self.data.ctrl[:] = self.pd_torque()
            elif self._controller is not None:
                self.data.ctrl[:] = np.clip(self._controller(self), self.ctrl_low, self.ctrl_high)
            else:
                self.data.ctrl[:] = self.targets
            mujoco.mj_step(self.model, self.data)
        self.physics_steps += steps
        return steps

    def go_passive(self) -> None:
        """Safe state of the motor boards until the next :meth:`apply`: damping only in
        ``"pd"`` mode (``-kd * qdot``), zero command in ``"motor"`` mode (no custom loop)."""
        self.passive = True

    def passive_ctrl(self) -> np.ndarray:
        """Actuator commands ``(U,)`` of the passive state."""
        if self.mode == "pd":
            return np.clip(-self._kd * self.data.qvel[self._qvel], self.ctrl_low, self.ctrl_high)
        return np.zeros(self.model.nu)

    def pd_torque(self) -> np.ndarray:
        """Torques ``(J,)`` of the joint PD loop, clipped to the motors' limits."""
        error = self.targets - self.data.qpos[self._qpos]
        torque = self._kp * error - self._kd * self.data.qvel[self._qvel]
        return np.clip(torque, self.ctrl_low, self.ctrl_high)

    def set_joint_positions(self, positions: np.ndarray) -> None:
        """Teleport the reported joints to ``positions`` ``(J,)`` at rest (resets, tests)."""
        self.data.qpos[self._qpos] = positions
        self.data.qvel[self._qvel] = 0.0
        mujoco.mj_forward(self.model, self.data)

    def joint_positions(self) -> np.ndarray:
        """Actuated joint angles ``(J,)`` (rad or m)."""
        return self.data.qpos[self._qpos].copy()

    def joint_velocities(self) -> np.ndarray:
        """Actuated joint velocities ``(J,)``."""
        return self.data.qvel[self._qvel].copy()

    def sensors(self) -> dict[str, np.ndarray]:
        """Everything an MCU could report: joints plus every named model sensor.

        Keys: ``joint_pos`` ``(J,)``, ``joint_vel`` ``(J,)``, ``joint_torque`` ``(J,)`` (actuator
        force) and one key per named MuJoCo sensor (e.g. ``imu_quat`` ``(4,)``, ``imu_gyro``
        ``(3,)``, ``imu_accel`` ``(3,)``), plus ``imu_roll_pitch`` ``(2,)`` when ``imu_quat``
        exists.
        """
        out = {
            "joint_pos": self.joint_positions(),
            "joint_vel": self.joint_velocities(),
            "joint_torque": self.data.actuator_force.copy(),
        }
        for index in range(self.model.nsensor):
            name = mujoco.mj_id2name(self.model, mujoco.mjtObj.mjOBJ_SENSOR, index)
            if name:
                start = self.model.sensor_adr[index]
                out[name] = self.data.sensordata[start:start + self.model.sensor_dim[index]].copy()
        if "imu_quat" in out:
            out["imu_roll_pitch"] = roll_pitch(out["imu_quat"])
        return out

    def render(self, size: int = 64, camera: str | int | None = None) -> np.ndarray:
        """Camera image ``(size, size, 3)`` uint8."""
        renderer = self._renderers.get(size)
        if renderer is None:
            renderer = FastRenderer(self.model, size, self._camera)
            self._renderers[size] = renderer
        if camera is not None:
            renderer._camera = camera
        return renderer.render(self.data)

    def close(self) -> None:
        """Free renderers."""
        for renderer in self._renderers.values():
            renderer.close()
        self._renderers.clear()


def _joint_id(model: mujoco.MjModel, name: str) -> int:
    index = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, name)
    if index < 0:
        names = [mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_JOINT, i) for i in range(model.njnt)]
        raise SimRobotError(f"no joint named {name!r}; the model has {names}")
    return index


def _joint_limits(model: mujoco.MjModel, ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper limits ``(J,)`` of joints ``ids`` (infinite where unlimited)."""
    limited = np.array([model.jnt_limited[i] for i in ids], dtype=bool)
    ranges = np.array([model.jnt_range[i] for i in ids], dtype=np.float64).reshape(-1, 2)
    return np.where(limited, ranges[:, 0], -np.inf), np.where(limited, ranges[:, 1], np.inf)


def _check_joint_motors(model: mujoco.MjModel, ids: list[int], joints: Sequence[str]) -> None:
    """Actuator ``i`` must be a torque motor on joint ``joints[i]``."""
    for index, (joint_id, name) in enumerate(zip(ids, joints, strict=True)):
        on_joint = model.actuator_trntype[index] == mujoco.mjtTrn.mjTRN_JOINT
        if not on_joint or model.actuator_trnid[index, 0] != joint_id:
            raise SimRobotError(f"actuator {index} does not drive joint {name!r}")
        if model.actuator_biastype[index] != mujoco.mjtBias.mjBIAS_NONE:
            raise SimRobotError(f"actuator {index} on {name!r} is not a torque motor")


def body_id(model: mujoco.MjModel, name: str) -> int:
    """Id of body ``name``; raises :class:`SimRobotError` naming the model's bodies."""
    index = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, name)
    if index < 0:
        names = [mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_BODY, i) for i in range(model.nbody)]
        raise SimRobotError(f"no body named {name!r}; the model has {names}")
    return index
