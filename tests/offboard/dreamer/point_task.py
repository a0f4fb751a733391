"""A small deterministic task and an in-memory sequence sampler for learning tests.

``PointReach``: a point on a line starts at +0.75 or -0.75 (alternating episodes) and moves by
``0.25 * action`` per step (clipped to [-1, 1]); the reward is ``1 - |x|`` after the move, so the
best policy drives the point to 0 in three steps and stays there. Episodes last 20 steps (a time
limit: ``is_last`` without ``is_terminal``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from shared.env import Observation, transition
from shared.spec import EnvSpec, Space

LENGTH = 20


class PointReach:
    """The task above, implementing :class:`shared.env.Env`."""

    def __init__(self) -> None:
        self._spec = EnvSpec.create({"position": Space(np.float32, (1,), -1.0, 1.0)},
                                    {"action": Space(np.float32, (1,), -1.0, 1.0)})
        self.episode = 0
        self.position = 0.0
        self.steps = 0

    @property
    def spec(self) -> EnvSpec:
        return self._spec

    def _obs(self) -> dict[str, np.ndarray]:
        return {"position": np.array([self.position], np.float32)}

    def reset(self) -> Observation:
        self.position = 0.75 if self.episode % 2 == 0 else -0.75
        self.episode += 1
        self.steps = 0
        return transition(self._obs(), first=True)

    def step(self, action: dict[str, np.ndarray]) -> Observation:
        move = float(np.clip(action["action"][0], -1.0, 1.0))
        self.position = float(np.clip(self.position + 0.25 * move, -1.0, 1.0))
        self.steps += 1
        return transition(self._obs(), 1.0 - abs(self.position), last=self.steps >= LENGTH)

    def close(self) -> None:
        pass


class SequenceSampler:
    """Stores steps in a flat stream and samples windows (B, T) across episode boundaries."""

    def __init__(self, seed: int = 0) -> None:
        self.steps: list[dict[str, np.ndarray]] = []
        self.rng = np.random.default_rng(seed)

    def add(self, step: dict[str, np.ndarray]) -> None:
        self.steps.append(step)

    def sample(self, batch: int, length: int) -> dict[str, np.ndarray]:
        starts = self.rng.integers(0, len(self.steps) - length + 1, batch)
        keys = self.steps[0].keys()
        return {k: np.stack([np.stack([self.steps[s + t][k] for t in range(length)])
                             for s in starts]) for k in keys}


def run_episode(env: PointReach, act: Callable[[Observation], np.ndarray],
                sampler: SequenceSampler | None = None) -> float:
    """Play one episode with ``act(obs) -> action array``; returns the return."""
    obs = env.reset()
    total = 0.0
    while True:
        total += float(obs["reward"])
        if obs["is_last"]:
            action = np.zeros(1, np.float32)
        else:
            action = np.asarray(act(obs), np.float32).reshape(1)
        if sampler is not None:
            sampler.add({**obs, "action": action})
        if obs["is_last"]:
            return total
        obs = env.step({"action": action})
