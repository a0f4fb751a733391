"""What the simulated firmware needs from a robot (:class:`RobotModel`) and its firmware config.

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


class WireClock:
    """When bytes put on a line of ``baud`` bit/s finish arriving (one direction)."""

    def __init__(self, baud: int) -> None:
        self.seconds_per_byte = 10.0 / baud
        self.busy_until = 0.0

    def reserve(self, size: int, now: float) -> float:
        """Time at which ``size`` bytes queued at ``now`` have crossed the line."""
        start = max(now, self.busy_until)
        self.busy_until = start + size * self.seconds_per_byte
        return self.busy_until
