"""``onboard.rearm``: an e-stop is cleared only after ``after_s`` and only when the robot then
runs without a fault; failures are counted and retried."""

from __future__ import annotations

import numpy as np
import pytest

from onboard.config import RobotConfig
from onboard.rearm import Rearm
from onboard.safety import SafetyLayer
from shared.errors import ConfigError, DaydreamerError
from shared.spec import Space


class LatchingRobot:
    """A robot with its own e-stop latch (like the firmware's) and a switchable fault."""

    def __init__(self) -> None:
        self.latched = True
        self.silent = False
        self.clears = 0
        self.clear_error: Exception | None = None

    def clear_estop(self) -> None:
        self.clears += 1
        if self.clear_error is not None:
            raise self.clear_error
        self.latched = False

    def fault(self) -> str | None:
        if self.silent:
            return "firmware silent for 500 ms"
        return "firmware e-stop latched (WATCHDOG)" if self.latched else None


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def make(after_s: float = 2.0) -> tuple[LatchingRobot, SafetyLayer, Rearm, Clock]:
    robot, clock = LatchingRobot(), Clock()
    safety = SafetyLayer({"action": Space(np.float32, (1,), -1.0, 1.0)},
                         {"action": np.zeros(1, np.float32)})
    return robot, safety, Rearm(robot, safety, after_s, clock), clock  # type: ignore[arg-type]


def test_nothing_happens_without_a_latch() -> None:
    robot, _, rearm, clock = make()
    clock.now = 100.0
    assert not rearm.poll() and robot.clears == 0


def test_clears_robot_and_safety_after_the_delay_only() -> None:
    robot, safety, rearm, clock = make(after_s=2.0)
    safety.estop("firmware e-stop latched (WATCHDOG)")
    assert not rearm.poll()  # the latch is first seen now
    clock.now = 1.9
    assert not rearm.poll() and robot.clears == 0 and safety.latched is not None
    clock.now = 2.0
    assert rearm.poll()
    assert robot.clears == 1 and safety.latched is None and rearm.rearms == 1
    # a second e-stop starts its own delay
    safety.estop("again")
    clock.now = 3.0
    assert not rearm.poll()
    clock.now = 5.0
    assert rearm.poll() and rearm.rearms == 2


def test_a_robot_still_faulty_stays_stopped_and_is_retried_later() -> None:
    robot, safety, rearm, clock = make(after_s=1.0)
    safety.estop("firmware silent")
    robot.silent = True
    rearm.poll()
    clock.now = 1.0
    assert not rearm.poll()
    assert robot.clears == 1 and rearm.failures == 1 and safety.latched == "firmware silent"
    clock.now = 1.5
    assert not rearm.poll() and robot.clears == 1  # the retry waits another after_s
    robot.silent = False
    clock.now = 2.0
    assert rearm.poll() and safety.latched is None and rearm.failures == 1


def test_a_failing_clear_request_is_counted_not_raised() -> None:
    robot, safety, rearm, clock = make(after_s=1.0)
    robot.clear_error = DaydreamerError("no reply to CLEAR_ESTOP after 3 tries")
    safety.estop("watchdog")
    rearm.poll()
    clock.now = 1.0
    assert not rearm.poll() and rearm.failures == 1 and safety.latched == "watchdog"


def test_config_refuses_negative_delay() -> None:
    with pytest.raises(ConfigError, match="rearm_after_s -1"):
        RobotConfig(rearm_after_s=-1.0)
    with pytest.raises(ValueError):
        make(after_s=0.0)
