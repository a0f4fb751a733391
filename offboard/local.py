"""In-process training: one environment, the agent acting in torch, the same replay, limiter,
learner loop and exports as the networked trainer — for benchmarks and quick experiments.

The loop alternates, as DreamerV3's single-process loop does: one environment step with the
sampling policy; the step goes into the replay (made durable every ``flush_every`` steps and at
episode ends); then as many updates as the train-ratio limiter allows. Returns and losses go to
TensorBoard and to ``<run_dir>/episodes.jsonl``.

Pacing (``step_period_s > 0``): the environment advances like a real robot, one step per period
of wall time measured on absolute deadlines, and the learner trains in the gaps; after an update
that overran, the environment catches up with back-to-back steps (a real robot keeps acting with
the policy it has while the learner is busy). This is how an *unlimited* train ratio (DayDreamer
on physical robots) is run in one process; without pacing an unlimited limiter is refused, since
the learner would never hand back to the environment.

Callers may pass their own environment (any :class:`shared.env.Env`, e.g. a simulated robot task
whose state they want to read) and an ``on_step(step, observation)`` callback called after every
environment transition with the observation it returned; the callback returns True to stop.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from offboard.dreamer.errors import LearnerError
from offboard.trainer import Trainer
from offboard.trainer_config import TrainerConfig
from shared.env import Env, Observation
from shared.envs import make_env
from shared.messages import POLICY_VERSION_KEY

log = logging.getLogger(__name__)

#: ``on_step(step, observation) -> stop``: called after every environment transition.
StepCallback = Callable[[int, Observation], bool]


@dataclass(frozen=True)
class LocalConfig:
    """In-process training run.

    Attributes:
        env: environment name for :func:`shared.envs.make_env` (``dmc:...`` or ``gym:...``).
        env_steps: agent steps to collect (environment frames = steps x action repeat).
        action_repeat: frames per agent step; -1 keeps the environment kind's default
            (2 for dm_control, 1 for gymnasium).
        flush_every: steps between replay flushes.
        eval_episodes: episodes of the mode policy at the end (0 to skip).
        step_period_s: wall seconds per environment step, on absolute deadlines (see the module
            docstring); 0 steps as fast as the limiter allows (required > 0 when the limiter is
            unlimited).
        trainer: learner-side configuration.
    """

    env: str = "dmc:cartpole_swingup"
    env_steps: int = 50_000
    action_repeat: int = -1
    flush_every: int = 64
    eval_episodes: int = 5
    step_period_s: float = 0.0
    trainer: TrainerConfig = field(default_factory=TrainerConfig)


class LocalRun:
    """Collect with the current policy and train in one process (see the module docstring).

    Args:
        config: the run.
        env: use this environment instead of building ``config.env`` (closed by :meth:`run`).
        on_step: ``on_step(step, observation)`` after every transition; True stops collecting.
    """

    def __init__(self, config: LocalConfig, env: Env | None = None,
                 on_step: StepCallback | None = None) -> None:
        if config.trainer.limiter.unlimited and config.step_period_s <= 0:
            raise LearnerError("an unlimited train ratio needs step_period_s > 0 in-process "
                               f"(got {config.step_period_s}); otherwise the learner never "
                               "hands back to the environment")
        self.config = config
        self.on_step = on_step
        repeat = None if config.action_repeat < 0 else config.action_repeat
        self.env = env if env is not None else make_env(
            config.env, seed=config.trainer.seed, action_repeat=repeat)
        self.frames_per_step = getattr(self.env, "action_repeat", 1)
        self.late_steps = 0
        self.steps_collected = 0
        self.trainer = Trainer(config.trainer, self.env.spec)
        self.stream = ("local", uuid.uuid4().hex[:12])
        self.episodes: list[dict[str, float]] = []
        self._log = open(Path(config.trainer.run_dir) / "episodes.jsonl", "a")  # noqa: SIM115

    def _act(self, carry: Any, obs: dict[str, np.ndarray], mode: bool) -> tuple[Any, np.ndarray]:
        agent = self.trainer.agent
        batch = {k: np.asarray(obs[k])[None] for k in agent.obs_keys}
        batch["is_first"] = np.asarray([obs["is_first"]])
        carry, action = agent.policy(carry, batch, mode=mode)
        return carry, np.asarray(action[0])

    def collect(self) -> None:
        """Run ``env_steps`` steps, training as the limiter allows."""
        agent, replay = self.trainer.agent, self.trainer.replay
        carry, obs = agent.initial_carry(1), self.env.reset()
        pending: list[dict[str, np.ndarray]] = []
        seq, episode_return, started = replay.durable_seq(self.stream) + 1, 0.0, time.monotonic()
        for step in range(self.config.env_steps):
            carry, action = self._act(carry, obs, mode=False)
            pending.append({**obs, agent.action_key: action.astype(
                self.env.spec.action[agent.action_key].dtype),
                POLICY_VERSION_KEY: np.int64(self.trainer.policy_version)})
            episode_return += float(obs["reward"])
            if obs["is_last"]:
                self._episode_done(episode_return, step, started)
                episode_return, obs = 0.0, self.env.reset()
            else:
                obs = self.env.step({agent.action_key: action})
            self.steps_collected = step + 1
            stop = self.on_step is not None and bool(self.on_step(step, obs))
            if len(pending) >= self.config.flush_every or pending[-1]["is_last"]:
                seq = self._store(pending, seq)
                pending = []
            if stop:
                break
            self._train(started + (step + 1) * self.config.step_period_s)
        if pending:
            self._store(pending, seq)

    def _train(self, deadline: float) -> None:
        """Updates the limiter allows; when paced, only until ``deadline`` (then wait for it)."""
        if self.config.step_period_s <= 0:
            while self.trainer.loop.step():
                pass
            return
        if time.monotonic() >= deadline:
            self.late_steps += 1  # catching up after an update that overran
            return
        while time.monotonic() < deadline:
            if not self.trainer.loop.step():
                time.sleep(max(0.0, deadline - time.monotonic()))

    def _store(self, pending: list[dict[str, np.ndarray]], seq: int) -> int:
        steps = {key: np.stack([p[key] for p in pending]) for key in pending[0]}
        self.trainer.replay.add(self.stream, seq, steps)
        self.trainer.replay.flush()
        return seq + len(pending)

    def _episode_done(self, episode_return: float, step: int, started: float) -> None:
        record = {"step": step + 1, "frames": (step + 1) * self.frames_per_step,
                  "return": episode_return, "updates": self.trainer.agent.updates,
                  "seconds": time.monotonic() - started}
        self.episodes.append(record)
        self._log.write(json.dumps(record) + "\n")
        self._log.flush()
        self.trainer.scalar("episode/return", episode_return, record["frames"])
        log.info("frames %d return %.1f updates %d (%.0f s)", record["frames"], episode_return,
                 record["updates"], record["seconds"])

    def evaluate(self, episodes: int, mode: bool = True) -> list[float]:
        """Returns of ``episodes`` episodes of the mode (or sampling) policy, no training."""
        returns = []
        for _ in range(episodes):
            carry, obs, total = self.trainer.agent.initial_carry(1), self.env.reset(), 0.0
            while True:
                total += float(obs["reward"])
                if obs["is_last"]:
                    break
                carry, action = self._act(carry, obs, mode)
                obs = self.env.step({self.trainer.agent.action_key: action})
            returns.append(total)
        return returns

    def run(self) -> dict[str, Any]:
        """Collect, train, evaluate; returns a summary dict."""
        torch.manual_seed(self.config.trainer.seed)
        started = time.monotonic()
        try:
            self.collect()
            returns = self.evaluate(self.config.eval_episodes) if self.config.eval_episodes else []
        finally:
            self.trainer.close()
            self._log.close()
            self.env.close()
        return {"env": self.config.env, "env_steps": self.steps_collected,
                "frames": self.steps_collected * self.frames_per_step,
                "late_steps": self.late_steps,
                "updates": self.trainer.agent.updates,
                "train_returns": [e["return"] for e in self.episodes],
                "eval_returns": returns, "seconds": time.monotonic() - started}
