"""What the host driver hands out: firmware identity, state samples, faults and link health."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from firmware_bridge.messages import FaultCode
from firmware_bridge.parser import ParserStats


@dataclass(frozen=True)
class FirmwareInfo:
    """The firmware's HELLO.

    Attributes:
        protocol_version: frame format version.
        table_hash: the firmware's message-table hash (equal to the host's after a handshake).
        firmware_version: firmware version string.
        robot_name: robot name.
        joint_count: J, targets per COMMAND and joints per STATE.
        task_sensor_count: S, task sensors per STATE.
        command_mode: :class:`~firmware_bridge.messages.CommandMode` of the targets.
        state_rate_hz: STATE stream rate.
        physics_rate_hz: inner-loop rate.
        watchdog_ms: firmware watchdog time.
        baud: line rate the firmware runs at.
    """

    protocol_version: int
    table_hash: int
    firmware_version: str
    robot_name: str
    joint_count: int
    task_sensor_count: int
    command_mode: int
    state_rate_hz: float
    physics_rate_hz: float
    watchdog_ms: int
    baud: int

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> FirmwareInfo:
        """From decoded HELLO fields."""
        return cls(**values)


@dataclass(frozen=True)
class StateSample:
    """One STATE with its monotonic receive time.

    Attributes:
        received_at: host monotonic time (s) the frame was parsed.
        timestamp_us: firmware time of the sample in microseconds.
        joint_pos: joint positions ``(J,)`` float32.
        joint_vel: joint velocities ``(J,)`` float32.
        imu_quat: body orientation ``(4,)`` (w, x, y, z).
        imu_gyro: angular velocity ``(3,)`` rad/s.
        imu_accel: linear acceleration ``(3,)`` m/s².
        task_sensors: task-specific sensors ``(S,)``.
        estop: e-stop latched on the firmware.
        fault_flags: bit ``1 << code`` per active :class:`FaultCode`.
        last_command_seq: seq of the last COMMAND the firmware applied.
    """

    received_at: float
    timestamp_us: int
    joint_pos: np.ndarray
    joint_vel: np.ndarray
    imu_quat: np.ndarray
    imu_gyro: np.ndarray
    imu_accel: np.ndarray
    task_sensors: np.ndarray
    estop: bool
    fault_flags: int
    last_command_seq: int

    @classmethod
    def from_values(cls, values: Mapping[str, Any], received_at: float) -> StateSample:
        """From decoded STATE fields."""
        arrays = {key: np.asarray(values[key], dtype=np.float32) for key in (
            "joint_pos", "joint_vel", "imu_quat", "imu_gyro", "imu_accel", "task_sensors")}
        return cls(received_at=received_at, timestamp_us=values["timestamp_us"],
                   estop=bool(values["estop"]), fault_flags=values["fault_flags"],
                   last_command_seq=values["last_command_seq"], **arrays)

    def age_s(self, now: float | None = None) -> float:
        """Seconds since it was received (``now`` from the same monotonic clock)."""
        return (time.monotonic() if now is None else now) - self.received_at

    def faults(self) -> list[FaultCode]:
        """The active fault codes."""
        return [code for code in FaultCode if code and self.fault_flags & (1 << int(code))]


@dataclass(frozen=True)
class FaultReport:
    """A fault: from a FAULT frame, or raised by the host (``LINK_SILENT``).

    Attributes:
        code: the fault code (a :class:`FaultCode` value when known).
        text: the firmware's or host's description.
        received_at: host monotonic time.
    """

    code: int
    text: str
    received_at: float

    @property
    def name(self) -> str:
        """The fault code's name (``"CODE_<n>"`` when unknown)."""
        try:
            return FaultCode(self.code).name
        except ValueError:
            return f"CODE_{self.code}"


@dataclass(frozen=True)
class LinkHealth:
    """A snapshot of the link for the onboard runtime.

    Attributes:
        connected: the handshake succeeded and the driver is open.
        silent: no valid frame for longer than the silence timeout (act on it: stop the robot).
        since_last_frame_s: seconds since the last valid frame (inf before the first).
        estop: e-stop state in the latest STATE (None before the first STATE).
        last_fault: the most recent fault (firmware FAULT or host LINK_SILENT).
        faults: faults seen so far.
        silence_events: times the link went silent.
        commands_sent: COMMAND frames sent.
        heartbeats_sent: HEARTBEAT frames sent.
        retries: request attempts beyond the first.
        request_timeouts: requests that got no reply after every retry.
        last_rtt_s: latest heartbeat round trip (nan before the first).
        transport_error: the reader's transport error, empty if none.
        parser: the host parser's counters.
    """

    connected: bool
    silent: bool
    since_last_frame_s: float
    estop: bool | None
    last_fault: FaultReport | None
    faults: int
    silence_events: int
    commands_sent: int
    heartbeats_sent: int
    retries: int
    request_timeouts: int
    last_rtt_s: float
    transport_error: str
    parser: ParserStats
