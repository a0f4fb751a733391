"""The simulated tasks as gymnasium environments.

Only this module imports gymnasium; nothing else in ``firmware_bridge`` imports this module, so
gymnasium is loaded only by those who ask for it.

Ids (see :data:`GYM_IDS`), registered by :func:`register` (idempotent)::

    import gymnasium
    from firmware_bridge.sim import gym_envs
    gym_envs.register()
    env = gymnasium.make("daydreamer/CartpoleSwingup-v0")

Mapping from the ``shared`` spec: every model key becomes an entry of a ``Dict`` observation
space (``Box`` with the spec's bounds and dtype); ``log/`` keys go to ``info``. A float action
key becomes a ``Box``; a discrete (integer scalar) one a ``Discrete``. Episodes cut by length or
by the task are ``truncated``; a task terminal is ``terminated``. ``reset(seed=...)`` reseeds and
restarts the task's world completely, so the quadruped's no-reset episodes are reproducible from a
seed; ``reset()`` without a seed continues the world like
:class:`~firmware_bridge.sim.tasks.TaskEnv`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium
import numpy as np
from gymnasium import spaces

from firmware_bridge.sim.robots.base import SimRobotError
from firmware_bridge.sim.tasks import TaskEnv, make_task
from shared.spec import Space

#: gymnasium id -> task name in :data:`firmware_bridge.sim.tasks.TASKS`.
GYM_IDS: dict[str, str] = {
    "daydreamer/CartpoleSwingup-v0": "cartpole_swingup",
    "daydreamer/A1Walk-v0": "a1_walk",
    "daydreamer/SphereGoal-v0": "sphere_goal",
    "daydreamer/UR5Reach-v0": "ur5_reach",
    "daydreamer/UR5PickPlace-v0": "ur5_pick_place",
}


def register() -> None:
    """Register every id in :data:`GYM_IDS` with gymnasium (skips ids already registered)."""
    for gym_id, task in GYM_IDS.items():
        if gym_id not in gymnasium.registry:
            gymnasium.register(id=gym_id, entry_point=f"{__name__}:DaydreamerGymEnv",
                               kwargs={"task": task}, disable_env_checker=True)


def to_gym_space(space: Space) -> spaces.Space:
    """A gymnasium space for one ``shared`` space (``Discrete`` for integer scalars)."""
    if space.discrete:
        return spaces.Discrete(space.classes, start=int(space.low))
    return spaces.Box(low=space.low.astype(space.dtype), high=space.high.astype(space.dtype),
                      shape=space.shape, dtype=space.dtype)


class DaydreamerGymEnv(gymnasium.Env):
    """One simulated task behind the gymnasium API.

    Args:
        task: task name in :data:`firmware_bridge.sim.tasks.TASKS`.
        render_mode: ``"rgb_array"`` (128x128 frames from the task camera) or None.
        overrides: fields of the task's config.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 20}

    def __init__(self, task: str, render_mode: str | None = None, **overrides: Any) -> None:
        self.env = TaskEnv(make_task(task, **overrides))
        spec = self.env.spec
        self._model_keys = spec.model_keys
        self.observation_space = spaces.Dict(
            {key: to_gym_space(spec.observation[key]) for key in self._model_keys})
        if set(spec.action) != {"action"}:
            raise SimRobotError(f"gym wrapper needs one 'action' key, got {sorted(spec.action)}")
        self._action_space = spec.action["action"]
        self.action_space = to_gym_space(self._action_space)
        self.render_mode = render_mode

    def _split(self, obs: dict[str, np.ndarray]) -> tuple[dict, dict]:
        model = {key: obs[key] for key in self._model_keys}
        info = {key: obs[key] for key in obs if key.startswith("log/")}
        return model, info

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start an episode; a ``seed`` also restarts the task's world reproducibly."""
        super().reset(seed=seed)
        if seed is not None:
            self.env.seed(seed)
        return self._split(self.env.reset())

    def step(self, action: Any):
        """One control period: ``(obs, reward, terminated, truncated, info)``."""
        value = np.asarray(action, dtype=self._action_space.dtype).reshape(
            self._action_space.shape)
        obs = self.env.step({"action": value})
        model, info = self._split(obs)
        terminated = bool(obs["is_terminal"])
        truncated = bool(obs["is_last"]) and not terminated
        return model, float(obs["reward"]), terminated, truncated, info

    def render(self) -> np.ndarray | None:
        """A 128x128 RGB frame in ``"rgb_array"`` mode, else None."""
        if self.render_mode != "rgb_array":
            return None
        return self.env.task.robot.render(128)

    def close(self) -> None:
        """Free the renderers."""
        self.env.close()
