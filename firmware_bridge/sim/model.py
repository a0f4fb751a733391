"""What the simulated firmware needs from a robot (:class:`RobotModel`), its config and counters.

The firmware engine (:mod:`firmware_bridge.sim.engine`) owns the serial protocol, the watchdog and
the timing; a :class:`RobotModel` owns the physics and the MCU's inner joint loop (e.g. a PD loop
``torque = kp * (target - q) - kd * qdot`` run at physics rate inside :meth:`step_physics`).
The MuJoCo robots of :mod:`firmware_bridge.sim.robots` implement this protocol; tests use a
pure-Python first-order model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from firmware_bridge.errors import BridgeError


class RobotModel(Protocol):
    """A simulated robot driven by the firmware engine.

    Attributes:
        name: robot name reported in HELLO (at most 32 UTF-8 bytes).
        joint_count: J, the length of COMMAND targets and STATE joint arrays (at most 32).
        task_sensor_count: S, the length of STATE ``task_sensors`` (at most 64).
        command_mode: the :class:`~firmware_bridge.messages.CommandMode` its targets mean.
        physics_rate_hz: rate of the inner loop.
        state_rate_hz: default STATE stream rate (at most the physics rate).
    """

    name: str
    joint_count: int
    task_sensor_count: int
    command_mode: int
    physics_rate_hz: float
    state_rate_hz: float

    def step_physics(self, targets: np.ndarray | None, dt: float) -> None:
        """Advance ``dt`` seconds (a multiple of the physics period) under ``targets``.

        ``targets`` is ``(J,)`` float64, already checked finite; None means no command is in
        force (before the first COMMAND, after an e-stop or a reset): hold a safe, passive state.
        """

    def read_state(self) -> Mapping[str, np.ndarray]:
        """Sensors now: ``joint_pos`` ``(J,)``, ``joint_vel`` ``(J,)`` and optionally
        ``imu_quat`` ``(4,)`` (w, x, y, z), ``imu_gyro`` ``(3,)``, ``imu_accel`` ``(3,)``,
        ``task_sensors`` ``(S,)``."""

    def safe_stop(self) -> None:
        """E-stop latched: bring the actuators to their safe state at once (e.g. damping)."""

    def reset(self, task_id: int, seed: int) -> None:
        """Start a new episode of task ``task_id`` with ``seed``."""


@dataclass(frozen=True)
class FirmwareConfig:
    """Settings of the simulated firmware.

    Attributes:
        firmware_version: version string reported in HELLO (at most 32 bytes).
        watchdog_ms: e-stop latches when no valid COMMAND/HEARTBEAT came for this long
            (the watchdog is armed by the first one after boot, a new session or CLEAR_ESTOP).
        baud: modelled line rate; a pty ignores baud, so each transfer is delayed by
            ``bytes * 10 / baud`` when ``model_wire_time`` is set.
        model_wire_time: delay reads and writes by their wire time at ``baud``.
        state_rate_hz: STATE stream rate; 0 uses the model's ``state_rate_hz``.
        estop_on_invalid_command: an invalid COMMAND latches e-stop (else it is only counted).
        max_catch_up_s: most physics time simulated in one loop iteration; more is an overrun
            (counted, physics time slips behind the wall clock).
    """

    firmware_version: str = "sim-1.0"
    watchdog_ms: float = 100.0
    baud: int = 1_000_000
    model_wire_time: bool = True
    state_rate_hz: float = 0.0
    estop_on_invalid_command: bool = True
    max_catch_up_s: float = 0.05

    def __post_init__(self) -> None:
        if not (10 <= self.watchdog_ms <= 5000 and self.baud > 0 and self.state_rate_hz >= 0
                and self.max_catch_up_s > 0):
            raise BridgeError(f"bad FirmwareConfig {self}")


@dataclass
class FirmwareStats:
    """Counters of the simulated firmware.

    Attributes:
        commands_applied: COMMANDs whose targets took effect.
        commands_stale: COMMANDs dropped because their seq was not newer than the last applied.
        commands_invalid: COMMANDs with a wrong joint count, mode or a non-finite target.
        commands_during_estop: COMMANDs ignored while e-stop was latched.
        heartbeats: HEARTBEATs received.
        states_sent: STATE frames sent (before fault injection).
        watchdog_trips: times the watchdog latched e-stop.
        overruns: loop iterations that could not catch up with the physics rate.
        unexpected: valid frames of a type the firmware does not accept.
        physics_errors: exceptions raised by the robot model.
        duplicate_requests: retried requests answered again without being executed again.
        states_skipped: STATE ticks skipped because the modelled line was still busy.
        transport_errors: port read/write errors survived by the loop.
    """

    commands_applied: int = 0
    commands_stale: int = 0
    commands_invalid: int = 0
    commands_during_estop: int = 0
    heartbeats: int = 0
    states_sent: int = 0
    watchdog_trips: int = 0
    overruns: int = 0
    unexpected: int = 0
    physics_errors: int = 0
    duplicate_requests: int = 0
    states_skipped: int = 0
    transport_errors: int = 0


@dataclass(frozen=True)
class PDGains:
    """Gains of an MCU joint PD loop.

    Attributes:
        kp: proportional gain per joint, e.g. N·m/rad.
        kd: damping gain per joint, e.g. N·m·s/rad.
        effort_limit: symmetric clip of the output per joint (inf: none).
    """

    kp: tuple[float, ...]
    kd: tuple[float, ...]
    effort_limit: tuple[float, ...]


def pd_control(targets: np.ndarray, positions: np.ndarray, velocities: np.ndarray,
               gains: PDGains) -> np.ndarray:
    """The MCU inner-loop hook: efforts ``(J,)`` = clip(kp (target - q) - kd qdot, ±limit).

    A :class:`RobotModel` calls it at physics rate inside :meth:`RobotModel.step_physics`
    (targets, positions, velocities are ``(J,)``).
    """
    kp, kd, limit = (np.asarray(value, dtype=np.float64) for value in (
        gains.kp, gains.kd, gains.effort_limit))
    efforts = kp * (targets - positions) - kd * velocities
    return np.clip(efforts, -limit, limit)
