"""Gymnasium wrappers: registration, spaces, and gymnasium's own environment checker."""

from __future__ import annotations

import warnings

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from firmware_bridge.sim import gym_envs
from firmware_bridge.sim.tasks import make_env
from shared.env import Env


@pytest.fixture(scope="module", autouse=True)
def registered() -> None:
    gym_envs.register()
    gym_envs.register()  # idempotent


@pytest.mark.parametrize("gym_id", sorted(gym_envs.GYM_IDS))
def test_env_checker_passes(gym_id: str) -> None:
    env = gymnasium.make(gym_id)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a checker warning is a failure, except that
            warnings.filterwarnings("ignore", message=".*infinity.*")  # unbounded is honest
            check_env(env.unwrapped, skip_render_check=True)
    finally:
        env.close()


def test_cartpole_spaces_and_truncation() -> None:
    env = gymnasium.make("daydreamer/CartpoleSwingup-v0", episode_length=3)
    try:
        assert env.observation_space["vector"].shape == (5,)
        assert env.action_space.shape == (1,)
        obs, _ = env.reset(seed=1)
        assert env.observation_space.contains(obs)
        flags = [env.step(np.zeros(1, np.float32))[2:4] for _ in range(3)]
        assert flags == [(False, False), (False, False), (False, True)]
    finally:
        env.close()


def test_pick_place_is_discrete_and_logs_go_to_info() -> None:
    env = gymnasium.make("daydreamer/UR5PickPlace-v0")
    try:
        assert env.action_space == gymnasium.spaces.Discrete(6)
        assert env.observation_space["image"].dtype == np.uint8
    finally:
        env.close()
    walk = gymnasium.make("daydreamer/A1Walk-v0")
    try:
        _, info = walk.reset(seed=0)
        assert set(info) == {"log/stage", "log/forward_velocity"}
        assert "log/stage" not in walk.observation_space.spaces
    finally:
        walk.close()


def test_seeded_reset_restarts_the_quadruped_world() -> None:
    env = gymnasium.make("daydreamer/A1Walk-v0")
    try:
        first, _ = env.reset(seed=5)
        env.step(np.ones(12, np.float32))
        again, _ = env.reset(seed=5)
        np.testing.assert_array_equal(first["vector"], again["vector"])
    finally:
        env.close()


@pytest.mark.parametrize("name", ["cartpole_swingup", "sphere_goal", "ur5_pick_place"])
def test_task_env_satisfies_the_shared_protocol(name: str) -> None:
    env = make_env(name, seed=0)
    try:
        assert isinstance(env, Env)
        obs = env.reset()
        assert set(obs) == set(env.spec.observation)
        action = {key: space.sample(np.random.default_rng(0))
                  for key, space in env.spec.action.items()}
        obs = env.step(action)
        for key, space in env.spec.observation.items():
            assert obs[key].shape == space.shape and obs[key].dtype == space.dtype, key
    finally:
        env.close()
