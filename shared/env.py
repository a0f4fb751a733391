"""The robot/environment interface every acting loop talks to.

An :class:`Env` yields flat observation dicts matching ``spec.observation`` (reserved keys
``reward``, ``is_first``, ``is_last``, ``is_terminal`` included) and takes flat action dicts
matching ``spec.action``. ``reset()`` returns the first observation of an episode
(``is_first=True``, ``reward=0``); after an observation with ``is_last=True`` the caller must call
``reset()`` before the next ``step()``. ``is_terminal`` marks a true end of the task (no bootstrap);
``is_last`` without ``is_terminal`` is a time-limit cut.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from shared.spec import EnvSpec

Observation = dict[str, np.ndarray]
Action = dict[str, np.ndarray]


@runtime_checkable
class Env(Protocol):
    """A robot or simulator that can be stepped from the acting loop."""

    @property
    def spec(self) -> EnvSpec:
        """Observation and action spec (stable hash)."""
        ...

    def reset(self) -> Observation:
        """Start an episode; the observation has ``is_first=True``."""
        ...

    def step(self, action: Action) -> Observation:
        """Apply one action (already clamped to the spec) and return the next observation."""
        ...

    def close(self) -> None:
        """Release resources (threads, ports, renderers)."""
        ...


def transition(obs: dict[str, np.ndarray], reward: float = 0.0, *, first: bool = False,
               last: bool = False, terminal: bool = False) -> Observation:
    """Attach the reserved keys to a dict of model observations."""
    return {
        **obs,
        "reward": np.float32(reward),
        "is_first": np.bool_(first),
        "is_last": np.bool_(last or terminal),
        "is_terminal": np.bool_(terminal),
    }
