"""Sphere robot: rolls where it is told, a proportional policy reaches the goal, images change."""

from __future__ import annotations

import numpy as np
import pytest

from firmware_bridge.sim.robots.sphere import BALL_RADIUS, SphereConfig, SphereGoal
from firmware_bridge.sim.tasks import TaskEnv


@pytest.fixture
def env():
    environment = TaskEnv(SphereGoal(), seed=3)
    yield environment
    environment.close()


def test_action_rolls_the_ball_along_the_axis(env: TaskEnv) -> None:
    env.reset()
    env.task.robot.reset()  # ball at the arena centre
    env.step({"action": np.array([1.0, 0.0], np.float32)})
    moved = env.task.ball_xy()
    assert moved[0] > 0.15 and abs(moved[1]) < 0.01, moved
    assert env.task.robot.data.xpos[env.task._ball][2] == pytest.approx(BALL_RADIUS, abs=2e-3)
    env.step({"action": np.array([0.0, -1.0], np.float32)})
    assert env.task.ball_xy()[1] < -0.15


def test_proportional_policy_reaches_the_goal(env: TaskEnv) -> None:
    obs = env.reset()
    first_distance = float(obs["log/distance"])
    rewards = []
    while not obs["is_last"]:
        vector = obs["vector"]
        action = np.clip(3.0 * (vector[4:6] - vector[0:2]), -1.0, 1.0).astype(np.float32)
        obs = env.step({"action": action})
        rewards.append(float(obs["reward"]))
    assert len(rewards) == 50
    assert first_distance > 0.1
    assert -rewards[-1] < 0.02  # within 2 cm at the end
    assert obs["log/success"]
    assert np.mean(rewards) > -0.05


def test_goal_moves_each_episode_but_ball_stays(env: TaskEnv) -> None:
    env.reset()
    goal, ball = env.task.goal_xy(), env.task.ball_xy()
    env.reset()
    assert not np.allclose(env.task.goal_xy(), goal)
    np.testing.assert_allclose(env.task.ball_xy(), ball)


def test_top_down_image_shows_ball_and_goal(env: TaskEnv) -> None:
    obs = env.reset()
    image = obs["image"]
    assert image.shape == (64, 64, 3) and image.dtype == np.uint8
    blue = (image[..., 2] > 150) & (image[..., 0] < 100)
    green = (image[..., 1] > 120) & (image[..., 0] < 80) & (image[..., 2] < 80)
    assert blue.sum() >= 4 and green.sum() >= 10
    env.step({"action": np.array([1.0, 1.0], np.float32)})
    assert not np.array_equal(env.task.observe()["image"], image)


def test_image_only_variant_has_no_vector() -> None:
    task = SphereGoal(SphereConfig(vector=False))
    assert "vector" not in task.spec.observation
    assert task.spec.model_keys == ["image"]
    task.robot.close()


def test_fixed_goal_is_kept() -> None:
    task = SphereGoal(SphereConfig(fixed_goal=(0.3, -0.3)))
    env = TaskEnv(task, seed=0)
    try:
        for _ in range(2):
            env.reset()
            np.testing.assert_allclose(task.goal_xy(), [0.3, -0.3])
    finally:
        env.close()
