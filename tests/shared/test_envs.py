"""In-process environment adapters: specs, action rescaling, episode flags."""

from __future__ import annotations

import numpy as np
import pytest

from shared.envs import EnvError, make_env
from shared.spec import validate_all


def run_episode(env, policy, limit: int = 2000) -> list[dict]:
    steps = [env.reset()]
    while not steps[-1]["is_last"] and len(steps) < limit:
        steps.append(env.step({"action": policy()}))
    return steps


def test_dmc_cartpole_swingup() -> None:
    env = make_env("dmc:cartpole_swingup", seed=0)
    spec = env.spec
    assert spec.model_keys == ["position", "velocity"]
    assert spec.action["action"].shape == (1,)
    steps = run_episode(env, lambda: np.zeros(1, np.float32))
    assert len(steps) == 501  # 1000 frames at action repeat 2, plus the first observation
    assert steps[0]["is_first"] and steps[-1]["is_last"] and not steps[-1]["is_terminal"]
    for step in steps[:3]:
        validate_all(step, spec.observation)
    # with the pole hanging, the swing-up reward is small but positive (cart centred)
    assert 0 < sum(float(s["reward"]) for s in steps) < 100
    env.close()


def test_gym_pendulum_rescales_actions() -> None:
    env = make_env("gym:Pendulum-v1", seed=3)
    assert env.spec.action["action"].high.max() == 1.0
    first = env.reset()
    assert first["vector"].shape == (3,) and first["is_first"]
    step = env.step({"action": np.array([0.5], np.float32)})
    import gymnasium

    raw = gymnasium.make("Pendulum-v1")
    obs, _ = raw.reset(seed=3)
    np.testing.assert_allclose(first["vector"], obs, rtol=1e-6)
    expected, reward, *_ = raw.step(np.array([1.0], np.float32))  # 0.5 of [-2, 2] is torque 1
    np.testing.assert_allclose(step["vector"], expected, rtol=1e-5)
    assert step["reward"] == pytest.approx(reward, rel=1e-5) and not step["is_first"]
    steps = run_episode(env, lambda: np.array([0.0], np.float32))
    assert steps[-1]["is_last"] and not steps[-1]["is_terminal"] and len(steps) == 201


def test_gym_discrete_terminal() -> None:
    env = make_env("gym:CartPole-v1", seed=0)
    assert env.spec.action["action"].discrete and env.spec.action["action"].classes == 2
    steps = run_episode(env, lambda: np.int32(1))
    assert steps[-1]["is_terminal"] and steps[-1]["is_last"] and len(steps) < 100


@pytest.mark.parametrize("name", ["cartpole", "dmc:nonexistent_task", "zzz:foo", "gym:NoSuch-v9"])
def test_bad_names(name: str) -> None:
    with pytest.raises(EnvError):
        make_env(name)
