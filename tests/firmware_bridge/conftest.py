"""Fixtures of the firmware-bridge tests: a first-order pure-Python robot and a pty firmware."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from firmware_bridge.host import FirmwareDriver
from firmware_bridge.messages import CommandMode
from firmware_bridge.sim.engine import SimFirmware
from firmware_bridge.sim.model import FirmwareConfig
from firmware_bridge.transport import LinkConfig


class FirstOrderRobot:
    """Joints that move toward their targets with time constant ``tau`` (a test fake)."""

    name = "first-order"
    command_mode = int(CommandMode.POSITION)
    physics_rate_hz = 1000.0
    state_rate_hz = 200.0

    def __init__(self, joint_count: int = 3, task_sensor_count: int = 2, tau: float = 0.02):
        self.joint_count = joint_count
        self.task_sensor_count = task_sensor_count
        self.tau = tau
        self.position = np.zeros(joint_count)
        self.velocity = np.zeros(joint_count)
        self.safe_stops = 0
        self.resets: list[tuple[int, int]] = []
        self.steps_with_targets = 0

    def step_physics(self, targets: np.ndarray | None, dt: float) -> None:
        """Exact first-order response over ``dt``; no targets: velocity decays to zero."""
        if targets is None:
            self.velocity[:] = 0.0
            return
        self.steps_with_targets += 1
        alpha = 1.0 - np.exp(-dt / self.tau)
        new = self.position + alpha * (targets - self.position)
        self.velocity = (new - self.position) / dt
        self.position = new

    def read_state(self) -> dict[str, np.ndarray]:
        """Joints, an upright IMU and task sensors = first joints' positions."""
        return {"joint_pos": self.position, "joint_vel": self.velocity,
                "imu_quat": np.array([1.0, 0.0, 0.0, 0.0]),
                "imu_accel": np.array([0.0, 0.0, 9.81]),
                "task_sensors": np.resize(self.position, self.task_sensor_count)}

    def safe_stop(self) -> None:
        """Counted."""
        self.safe_stops += 1
        self.velocity[:] = 0.0

    def reset(self, task_id: int, seed: int) -> None:
        """Back to zero; remembered."""
        self.resets.append((task_id, seed))
        self.position[:] = 0.0
        self.velocity[:] = 0.0


#: test link policy: generous for 2 shared cores.
TEST_LINK = LinkConfig(control_period_s=0.05, heartbeat_period_s=0.02, retries=5,
                       ack_timeout_s=0.1)


@pytest.fixture
def robot() -> FirstOrderRobot:
    """A 3-joint first-order robot."""
    return FirstOrderRobot()


@pytest.fixture
def firmware(robot: FirstOrderRobot) -> Iterator[SimFirmware]:
    """A running simulated firmware on a real pseudo-terminal."""
    with SimFirmware.open_pty(robot, config=FirmwareConfig(watchdog_ms=100)) as sim:
        yield sim


@pytest.fixture
def driver(firmware: SimFirmware) -> Iterator[FirmwareDriver]:
    """A connected host driver on the firmware's pty (opened with pyserial)."""
    with FirmwareDriver.open(firmware.port_path, TEST_LINK) as host:
        host.connect()
        yield host
