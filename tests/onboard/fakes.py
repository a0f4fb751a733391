"""Fakes for onboard tests."""

from __future__ import annotations

import numpy as np


class FakeClock:
    """A clock whose time moves only when the code under test sleeps or a tick costs time.

    Attributes:
        time: current fake monotonic time.
        tick_cost: seconds each :meth:`charge` call advances time.
    """

    def __init__(self, start: float = 100.0) -> None:
        self.time = start
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.time

    def sleep_until(self, deadline: float) -> None:
        self.sleeps.append(deadline)
        self.time = max(self.time, deadline)

    def advance(self, seconds: float) -> None:
        self.time += seconds


class CountingEnv:
    """A :class:`shared.env.Env` with the ``onnx_fakes.SPEC`` spec: episodes of ``length`` steps,
    reward = first action element, observation = step index in every joint."""

    def __init__(self, length: int = 5) -> None:
        from tests.onboard.onnx_fakes import SPEC

        self.spec = SPEC
        self.length = length
        self.index = 0
        self.actions: list[np.ndarray] = []
        self.closed = False

    def _obs(self, reward: float, first: bool) -> dict[str, np.ndarray]:
        from shared.env import transition

        joints = np.full(3, float(self.index), np.float32)
        return transition({"joints": joints}, reward, first=first,
                          last=self.index >= self.length)

    def reset(self) -> dict[str, np.ndarray]:
        self.index = 0
        return self._obs(0.0, True)

    def step(self, action: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.actions.append(np.array(action["action"]))
        self.index += 1
        return self._obs(float(action["action"][0]), False)

    def close(self) -> None:
        self.closed = True
