"""Cart-pole swing-up: model, spec, and an energy-pumping controller that earns high reward."""

from __future__ import annotations

import numpy as np

from firmware_bridge.sim.robots.cartpole import CartpoleConfig, CartpoleSwingup
from firmware_bridge.sim.tasks import TaskEnv

POLE_MASS, HALF_LENGTH, GRAVITY = 0.1, 0.5, 9.81


def energy_policy(vector: np.ndarray) -> float:
    """Swing up by pumping pole energy, then balance with a PD law near upright."""
    x, cos, sin, x_dot, angle_dot = (float(v) for v in vector)
    angle = np.arctan2(sin, cos)
    if cos > 0.85:
        return float(np.clip(10 * angle + 2 * angle_dot + 0.5 * x + x_dot, -1, 1))
    inertia = POLE_MASS * (2 * HALF_LENGTH) ** 2 / 3
    energy = 0.5 * inertia * angle_dot**2 + POLE_MASS * GRAVITY * HALF_LENGTH * cos
    target = POLE_MASS * GRAVITY * HALF_LENGTH
    return float(np.clip(40 * (energy - target) * angle_dot * cos - 0.3 * x - 0.3 * x_dot, -1, 1))


def run_episode(env: TaskEnv, policy) -> tuple[float, list[dict]]:
    obs = env.reset()
    history, total = [obs], 0.0
    while not obs["is_last"]:
        obs = env.step({"action": np.array([policy(obs["vector"])], np.float32)})
        history.append(obs)
        total += float(obs["reward"])
    return total, history


def test_spec_and_first_observation_hang_down() -> None:
    env = TaskEnv(CartpoleSwingup(), seed=0)
    assert env.spec.observation["vector"].shape == (5,)
    assert env.spec.action["action"].shape == (1,)
    obs = env.reset()
    assert obs["is_first"] and obs["reward"] == 0.0
    assert obs["vector"][1] < -0.99  # cos(angle) of a hanging pole


def test_energy_controller_swings_up_and_balances() -> None:
    env = TaskEnv(CartpoleSwingup(), seed=0)
    total, history = run_episode(env, energy_policy)
    assert len(history) == 501 and history[-1]["is_last"] and not history[-1]["is_terminal"]
    assert total > 300.0, total  # of at most 500; doing nothing earns ~0
    assert np.mean([h["reward"] for h in history[-100:]]) > 0.95


def test_zero_action_earns_little() -> None:
    env = TaskEnv(CartpoleSwingup(), seed=0)
    total, _ = run_episode(env, lambda vector: 0.0)
    assert total < 5.0, total


def test_image_observation_is_nonconstant_uint8() -> None:
    env = TaskEnv(CartpoleSwingup(CartpoleConfig(image=True, episode_length=3)), seed=0)
    try:
        obs = env.reset()
        image = obs["image"]
        assert image.shape == (64, 64, 3) and image.dtype == np.uint8
        assert image.std() > 5.0
    finally:
        env.close()
