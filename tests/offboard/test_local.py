"""offboard.local.LocalRun: injected environment, on_step callback, real-time pacing."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from offboard.dreamer.errors import LearnerError
from offboard.local import LocalConfig, LocalRun
from shared.config import load_config
from shared.envs import make_env


def config_for(folder, *overrides: str) -> LocalConfig:
    return load_config(LocalConfig, None, [
        "env=gym:Pendulum-v1", "env_steps=400", f"trainer.run_dir={folder}",
        "trainer.learner.preset=debug", "trainer.learner.batch_size=2",
        "trainer.learner.batch_length=8", "trainer.learner.compute_dtype=float32",
        "trainer.learner.device=cpu", "trainer.limiter.min_inserted=16",
        "trainer.schedule.export_every_s=0", "eval_episodes=0", "flush_every=16",
        *overrides])


class RecordingEnv:
    """Wraps an environment and keeps every observation it returned."""

    def __init__(self, env) -> None:
        self.env, self.returned, self.closed = env, [], False
        self.spec = env.spec

    def reset(self):
        self.returned.append(self.env.reset())
        return self.returned[-1]

    def step(self, action):
        self.returned.append(self.env.step(action))
        return self.returned[-1]

    def close(self) -> None:
        self.closed = True
        self.env.close()


def test_unlimited_ratio_without_pacing_is_refused(tmp_path):
    with pytest.raises(LearnerError, match="step_period_s"):
        LocalRun(config_for(tmp_path, "trainer.limiter.unlimited=true"))


def test_injected_env_and_on_step_callback_stop_the_run(tmp_path):
    torch.set_num_threads(1)
    env = RecordingEnv(make_env("gym:Pendulum-v1", seed=3))
    seen: list[tuple[int, float]] = []

    def on_step(step, observation) -> bool:
        seen.append((step, float(observation["reward"])))
        return step == 39

    run = LocalRun(config_for(tmp_path, "trainer.limiter.train_ratio=4"), env=env,
                   on_step=on_step)
    summary = run.run()
    assert [step for step, _ in seen] == list(range(40))
    # the callback saw exactly what the environment returned after each transition
    assert [reward for _, reward in seen] == [float(o["reward"]) for o in env.returned[1:]]
    assert summary["env_steps"] == 40 and env.closed
    assert run.trainer.replay.stats()["stored_steps"] == 40
    assert summary["updates"] > 0  # 24 steps past the prefill at ratio 4 with B*T = 16


def test_paced_unlimited_run_keeps_the_clock_and_trains_in_the_gaps(tmp_path):
    torch.set_num_threads(1)
    period, steps = 0.02, 60
    stamps: list[float] = []

    def on_step(step, observation) -> bool:
        stamps.append(time.monotonic())
        return step == steps - 1

    run = LocalRun(config_for(tmp_path, "trainer.limiter.unlimited=true",
                              f"step_period_s={period}"), on_step=on_step)
    started = time.monotonic()
    summary = run.run()
    elapsed = time.monotonic() - started
    assert summary["env_steps"] == steps
    # absolute deadlines: step k starts no earlier than k periods after the first
    offsets = np.array(stamps) - stamps[0]
    assert np.all(offsets[1:] >= np.arange(1, steps) * period - 0.03)
    assert elapsed >= (steps - 1) * period
    assert summary["updates"] > 0
    assert 0 <= summary["late_steps"] < steps
