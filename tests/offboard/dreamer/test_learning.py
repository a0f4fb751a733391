"""Learning test: on PointReach the world-model loss falls and the imagined actor-critic beats a
random policy in the real environment (about 30 s on one busy core)."""

from __future__ import annotations

import os

import numpy as np
import torch

from offboard.agent import Agent
from offboard.dreamer.config import DreamerConfig, OptimizerConfig

from .point_task import PointReach, SequenceSampler, run_episode

UPDATES = 300
TRAIN_RATIO = 10  # updates per collected episode
SEED = int(os.environ.get("LEARNER_TEST_SEED", "0"))


class Actor:
    """Wraps :meth:`Agent.policy` as ``act(obs) -> action`` for one environment."""

    def __init__(self, agent: Agent, mode: bool) -> None:
        self.agent, self.mode = agent, mode
        self.carry = agent.initial_carry(1)

    def __call__(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        model_obs = {"position": obs["position"][None], "is_first": np.array([obs["is_first"]])}
        self.carry, action = self.agent.policy(self.carry, model_obs, mode=self.mode)
        return action[0]


def test_world_model_learns_and_policy_beats_random() -> None:
    torch.manual_seed(SEED)
    rng = np.random.default_rng(SEED)
    env, sampler = PointReach(), SequenceSampler(SEED)
    config = DreamerConfig(preset="debug", batch_size=8, batch_length=16,
                           optimizer=OptimizerConfig(lr=3e-3, warmup=0))
    agent = Agent(env.spec, config)
    random_returns = [run_episode(env, lambda _: rng.uniform(-1, 1, 1), sampler)
                      for _ in range(6)]
    losses = []
    while len(losses) < UPDATES:
        run_episode(env, Actor(agent, mode=False), sampler)
        for _ in range(TRAIN_RATIO):
            losses.append(agent.train_step(sampler.sample(8, 16))["loss/world_model"])
    trained = [run_episode(env, Actor(agent, mode=True)) for _ in range(2)]  # both start sides
    first, last = np.mean(losses[:10]), np.mean(losses[-20:])
    assert last < 0.45 * first, (first, last)
    # random ~6.4, doing nothing 5.0, optimal ~19.2
    assert np.mean(trained) > np.mean(random_returns) + 6.0, (trained, random_returns)
