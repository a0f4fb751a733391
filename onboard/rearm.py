"""Automatic re-arming after an e-stop, for simulated robots and test rigs only.

On a real robot an e-stop stays latched until a person restarts the runtime (see
``robot.clear_estop_on_start``). A simulated robot on a loaded workstation, though, can trip its
firmware watchdog whenever the host stalls for a few control periods; the demo and long
unattended sim runs would then hold the safe action for the rest of the run. With
``robot.rearm_after_s > 0``, :class:`Rearm` clears the latch once it has held for that long:

1. the robot's own e-stop is cleared (``robot.clear_estop()``: the firmware's latch and the
   remembered fault; it blocks for a round trip, so :meth:`Rearm.poll` runs off the control
   thread);
2. only if the robot then reports no fault is the runtime's safety latch released; a robot that
   is still silent or faulty stays stopped and the attempt is counted as failed and retried
   ``after_s`` later.

Every re-arm and every failed attempt is counted and logged as a warning.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from onboard.robot import Robot
from onboard.safety import SafetyLayer
from shared.errors import DaydreamerError

log = logging.getLogger(__name__)


class Rearm:
    """Clears an e-stop that has been latched for ``after_s`` seconds (see the module docstring).

    Args:
        robot: the robot; without a ``clear_estop`` method only the safety latch is released
            (in-process environments have no latch of their own).
        safety: the runtime's safety layer.
        after_s: seconds an e-stop stays latched before a re-arm attempt (> 0).
        clock: monotonic clock.
    """

    def __init__(self, robot: Robot, safety: SafetyLayer, after_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if after_s <= 0:
            raise ValueError(f"after_s must be > 0, got {after_s}")
        self.robot, self.safety, self.after_s, self.clock = robot, safety, after_s, clock
        self.rearms = 0
        self.failures = 0
        self._since: float | None = None

    def poll(self) -> bool:
        """Re-arm if the latch has held long enough; returns True when it re-armed."""
        now = self.clock()
        latched = self.safety.latched
        if latched is None:
            self._since = None
            return False
        if self._since is None:
            self._since = now
        if now - self._since < self.after_s:
            return False
        self._since = now  # the next attempt, if this one fails, is after_s later
        reason = self._clear_robot()
        if reason is not None:
            self.failures += 1
            log.warning("re-arm attempt %d failed, staying stopped: %s (latched: %s)",
                        self.failures, reason, latched)
            return False
        self.safety.clear_estop()
        self.rearms += 1
        self._since = None
        log.warning("re-armed after %.1f s (%d so far); was: %s", self.after_s, self.rearms,
                    latched)
        return True

    def _clear_robot(self) -> str | None:
        """Clear the robot's own latch; the reason it still cannot run, or None."""
        clear = getattr(self.robot, "clear_estop", None)
        if clear is not None:
            try:
                clear()
            except (DaydreamerError, OSError) as error:
                return f"clearing the robot's e-stop failed: {error}"
        return self.robot.fault()
