"""In-process environments behind the :class:`shared.env.Env` protocol: dm_control and gymnasium.

``make_env("dmc:cartpole_swingup", seed=0)`` or ``make_env("gym:Pendulum-v1")``. (The simulated
DayDreamer robots have their own in-process adapter, ``firmware_bridge.sim.tasks.make_env``.)

Conventions (DreamerV3's):
- continuous actions are exposed as float32 in [-1, 1] and rescaled to the environment's bounds;
- dm_control observations keep their keys (float32, scalars become shape (1,)); a flat gymnasium
  Box observation is the key ``vector``, an image Box (uint8 H×W×3) the key ``image``;
- ``action_repeat`` repeats an action and sums the rewards (dm_control default 2, counted in
  environment frames as the published curves are);
- dm_control time limits are ``is_last`` without ``is_terminal``; gymnasium ``terminated`` is
  terminal, ``truncated`` is not.

dm_control and gymnasium are imported lazily (``bench`` and ``sim`` extras).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from shared.env import Action, Observation, transition
from shared.errors import DaydreamerError
from shared.spec import EnvSpec, Space


class EnvError(DaydreamerError):
    """An environment name or option is invalid."""


def _unit_action(low: np.ndarray, high: np.ndarray, action: np.ndarray) -> np.ndarray:
    """Map [-1, 1] to [low, high] element-wise (infinite bounds pass the value through)."""
    action = np.clip(np.asarray(action, np.float64), -1.0, 1.0)
    finite = np.isfinite(low) & np.isfinite(high)
    scaled = low + (action + 1.0) * 0.5 * (high - low)
    return np.where(finite, scaled, action)


class DMCEnv:
    """A dm_control suite task.

    Args:
        domain, task: suite names, e.g. ``cartpole``, ``swingup``.
        seed: task random seed.
        action_repeat: environment frames per step.
    """

    def __init__(self, domain: str, task: str, seed: int = 0, action_repeat: int = 2) -> None:
        os.environ.setdefault("MUJOCO_GL", "egl")
        from dm_control import suite

        if (domain, task) not in suite.ALL_TASKS:
            raise EnvError(f"dm_control has no task {domain}_{task}")
        self._env = suite.load(domain, task, task_kwargs={"random": seed})
        self.action_repeat = action_repeat
        action = self._env.action_spec()
        self._low, self._high = action.minimum.astype(np.float64), action.maximum.astype(np.float64)
        obs = {key: Space(np.float32, tuple(value.shape) or (1,))
               for key, value in self._env.observation_spec().items()}
        self._spec = EnvSpec.create(obs, {"action": Space(np.float32, action.shape, -1.0, 1.0)})

    @property
    def spec(self) -> EnvSpec:
        return self._spec

    def _observe(self, time_step: Any, reward: float, first: bool) -> Observation:
        obs = {key: np.asarray(value, np.float32).reshape(self._spec.observation[key].shape)
               for key, value in time_step.observation.items()}
        terminal = bool(time_step.last() and time_step.discount == 0)
        return transition(obs, reward, first=first, last=time_step.last(), terminal=terminal)

    def reset(self) -> Observation:
        return self._observe(self._env.reset(), 0.0, True)

    def step(self, action: Action) -> Observation:
        command = _unit_action(self._low, self._high, action["action"])
        reward = 0.0
        for _ in range(self.action_repeat):
            time_step = self._env.step(command)
            reward += float(time_step.reward or 0.0)
            if time_step.last():
                break
        return self._observe(time_step, reward, False)

    def close(self) -> None:
        self._env.close()


class GymEnv:
    """A gymnasium environment with a Box or Dict observation and a Box or Discrete action.

    Args:
        name: gymnasium id.
        seed: seed of the first reset (later resets continue the environment's generator).
        action_repeat: steps per action.
        kwargs: passed to ``gymnasium.make``.
    """

    def __init__(self, name: str, seed: int = 0, action_repeat: int = 1,
                 **kwargs: Any) -> None:
        import gymnasium

        try:
            self._env = gymnasium.make(name, **kwargs)
        except gymnasium.error.Error as error:
            raise EnvError(f"gymnasium cannot make {name!r}: {error}") from error
        self._seed: int | None = seed
        self.action_repeat = action_repeat
        self._obs_keys, obs_spec = self._observation_spec(self._env.observation_space)
        self._discrete, action_spec = self._action_spec(self._env.action_space)
        self._spec = EnvSpec.create(obs_spec, {"action": action_spec})

    @staticmethod
    def _observation_spec(space: Any) -> tuple[dict[str, str | None], dict[str, Space]]:
        from gymnasium import spaces

        boxes = dict(space.spaces) if isinstance(space, spaces.Dict) else {None: space}
        keys: dict[str, str | None] = {}
        specs: dict[str, Space] = {}
        for name, box in boxes.items():
            if not isinstance(box, spaces.Box):
                raise EnvError(f"observation {name or ''} is a {type(box).__name__}, not a Box")
            image = box.dtype == np.uint8 and len(box.shape) == 3
            key = name or ("image" if image else "vector")
            keys[key] = name
            if image:
                specs[key] = Space(np.uint8, box.shape)
            else:
                shape = box.shape or (1,)
                specs[key] = Space(np.float32, shape, box.low.reshape(shape),
                                   box.high.reshape(shape))
        return keys, specs

    def _action_spec(self, space: Any) -> tuple[bool, Space]:
        from gymnasium import spaces

        if isinstance(space, spaces.Discrete):
            return True, Space(np.int32, (), int(space.start), int(space.start + space.n - 1))
        if isinstance(space, spaces.Box):
            self._low = space.low.astype(np.float64)
            self._high = space.high.astype(np.float64)
            return False, Space(np.float32, space.shape, -1.0, 1.0)
        raise EnvError(f"action space {space} is neither Box nor Discrete")

    @property
    def spec(self) -> EnvSpec:
        return self._spec

    def _convert(self, raw: Any) -> dict[str, np.ndarray]:
        out = {}
        for key, name in self._obs_keys.items():
            value = raw if name is None else raw[name]
            space = self._spec.observation[key]
            out[key] = np.asarray(value, space.dtype).reshape(space.shape)
        return out

    def reset(self) -> Observation:
        raw, _ = self._env.reset(seed=self._seed)
        self._seed = None
        return transition(self._convert(raw), 0.0, first=True)

    def step(self, action: Action) -> Observation:
        value = action["action"]
        command = int(value) if self._discrete else _unit_action(
            self._low, self._high, value).astype(self._env.action_space.dtype)
        reward, terminated, truncated = 0.0, False, False
        for _ in range(self.action_repeat):
            raw, step_reward, terminated, truncated, _ = self._env.step(command)
            reward += float(step_reward)
            if terminated or truncated:
                break
        return transition(self._convert(raw), reward, last=truncated, terminal=terminated)

    def close(self) -> None:
        self._env.close()


def make_env(name: str, seed: int = 0, action_repeat: int | None = None,
             **kwargs: Any) -> DMCEnv | GymEnv:
    """Build ``dmc:<domain>_<task>`` or ``gym:<id>``; see the module docstring."""
    kind, sep, rest = name.partition(":")
    if not sep or not rest:
        raise EnvError(f"environment {name!r} must look like 'dmc:cartpole_swingup' or "
                       "'gym:Pendulum-v1'")
    if kind == "dmc":
        domain, _, task = rest.partition("_")
        if domain == "ball" and task.startswith("in_cup"):
            domain, task = "ball_in_cup", task.removeprefix("in_cup_")
        if domain == "point" and task.startswith("mass"):
            domain, task = "point_mass", task.removeprefix("mass_")
        return DMCEnv(domain, task, seed, 2 if action_repeat is None else action_repeat)
    if kind == "gym":
        return GymEnv(rest, seed, 1 if action_repeat is None else action_repeat, **kwargs)
    raise EnvError(f"unknown environment kind {kind!r} in {name!r}; use 'dmc:' or 'gym:'")

