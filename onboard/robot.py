"""The robot interface of the onboard runtime, and the adapter for in-process environments.

A :class:`Robot` is sensed and commanded once per control tick::

    obs = robot.sense()      # latest observation (reserved keys included)
    robot.act(action)        # apply the action actually sent (after safety), never blocks long

``sense()`` after ``reset()`` returns an observation with ``is_first=True``. Robots without
physical resets (DayDreamer's quadruped) cut long episodes with ``is_last`` and carry on.
``fault()`` reports a reason to stop (firmware fault, firmware silent, an e-stop input that does
not depend on the network) or None.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from shared.env import Action, Env, Observation
from shared.spec import EnvSpec


class Robot(Protocol):
    """What the control loop drives."""

    @property
    def spec(self) -> EnvSpec: ...

    def reset(self) -> None:
        """Begin an episode; the next :meth:`sense` has ``is_first=True``."""
        ...

    def sense(self) -> Observation:
        """The latest observation."""
        ...

    def act(self, action: Action) -> None:
        """Apply an action (already through the safety layer)."""
        ...

    def safe_action(self) -> Action:
        """The action sent when stopped (hold still / zero effort)."""
        ...

    def fault(self) -> str | None:
        """A reason to e-stop, or None."""
        ...

    def halt(self) -> None:
        """Bring the robot to its safe state when the loop ends (outside any tick)."""
        ...

    def close(self) -> None: ...


def default_safe_action(spec: EnvSpec) -> Action:
    """Zeros for continuous keys, the lowest class for discrete ones."""
    return {key: np.asarray(space.low, space.dtype) if space.discrete
            else np.zeros(space.shape, space.dtype) for key, space in spec.action.items()}


class EnvRobot:
    """Drives a :class:`shared.env.Env` (gymnasium, dm_control, the simulated tasks in-process).

    ``act`` steps the environment, so simulated time advances one control step per tick; pair it
    with an unpaced loop for fast benchmark runs or a paced one to mimic a robot.

    Args:
        env: the environment.
        safe: the safe action; defaults to zeros (or the lowest class of a discrete space).
    """

    def __init__(self, env: Env, safe: Action | None = None) -> None:
        self.env = env
        self._safe = safe or default_safe_action(env.spec)
        self._obs: Observation | None = None

    @property
    def spec(self) -> EnvSpec:
        return self.env.spec

    def reset(self) -> None:
        self._obs = self.env.reset()

    def sense(self) -> Observation:
        if self._obs is None:
            self.reset()
        assert self._obs is not None
        return self._obs

    def act(self, action: Action) -> None:
        if self._obs is not None and bool(self._obs["is_last"]):
            return  # the runtime resets after a last step; the action is recorded, not applied
        self._obs = self.env.step(action)

    def safe_action(self) -> Action:
        return {k: v.copy() for k, v in self._safe.items()}

    def fault(self) -> str | None:
        return None

    def halt(self) -> None:
        """A simulation needs no stopping: it advances only when stepped."""

    def close(self) -> None:
        self.env.close()
