"""Tasks on simulated robots, and the adapter that makes a task a :class:`shared.env.Env`.

A *task* owns one :class:`~firmware_bridge.sim.robots.base.SimRobot` and knows what the learner
sees (``observe``), what it is paid (``reward``), when the world truly ends (``is_terminal``) and
how one action becomes motor targets for one control period (``step``). ``begin_episode`` may or
may not reset the physics: the quadruped keeps walking across episode cuts, as on the real robot.

:class:`TaskEnv` adds the episode bookkeeping of the ``shared.env`` protocol (``is_first``,
``is_last`` after ``episode_length`` steps, action validation against the spec).

Registry: :data:`TASKS` maps a task name to ``"module:factory"``; :func:`make_task` imports the
module only when asked, so listing tasks never builds a model.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np

from firmware_bridge.sim.robots.base import SimRobot, SimRobotError
from shared.env import Action, Observation, transition
from shared.spec import EnvSpec, validate_all


class Task(Protocol):
    """One robot plus one objective (see module docstring)."""

    robot: SimRobot
    episode_length: int

    @property
    def spec(self) -> EnvSpec:
        """Observation and action spec."""
        ...

    def begin_episode(self, rng: np.random.Generator) -> None:
        """Prepare a new episode (may keep the physical state)."""
        ...

    def restart(self) -> None:
        """Forget the world: the next ``begin_episode`` resets the physics completely."""
        ...

    def step(self, action: Mapping[str, np.ndarray]) -> None:
        """Turn one validated action into targets and simulate one control period."""
        ...

    def observe(self) -> dict[str, np.ndarray]:
        """Observation keys other than the reserved ones."""
        ...

    def reward(self) -> float:
        """Reward of the transition that led to the current state."""
        ...

    def is_terminal(self) -> bool:
        """True when the task truly ended (no bootstrapping)."""
        ...

    def is_last(self) -> bool:
        """True when the task cuts the episode before ``episode_length`` (not terminal)."""
        ...


#: task name -> "module:factory"; factories take keyword overrides of the task's config.
TASKS: dict[str, str] = {
    "cartpole_swingup": "firmware_bridge.sim.robots.cartpole:make_swingup",
    "a1_walk": "firmware_bridge.sim.robots.quadruped:make_walk",
    "sphere_goal": "firmware_bridge.sim.robots.sphere:make_goal",
    "ur5_reach": "firmware_bridge.sim.robots.arm_tasks:make_reach",
    "ur5_pick_place": "firmware_bridge.sim.robots.pick_place:make_pick_place",
}


def make_task(name: str, **overrides: Any) -> Task:
    """Build the task registered as ``name`` with config ``overrides``."""
    if name not in TASKS:
        raise SimRobotError(f"unknown task {name!r}; known: {sorted(TASKS)}")
    module_name, factory_name = TASKS[name].split(":")
    factory = getattr(importlib.import_module(module_name), factory_name)
    try:
        return factory(**overrides)
    except TypeError as error:  # an unknown config field
        raise SimRobotError(f"bad config for task {name!r}: {error}") from error


class TaskEnv:
    """A task seen through the :class:`shared.env.Env` protocol.

    Args:
        task: the task to run.
        seed: seed of the generator passed to ``begin_episode``.
        validate_actions: check every action against the spec (raises
            :class:`~shared.errors.SpecViolationError`).
    """

    def __init__(self, task: Task, seed: int = 0, validate_actions: bool = True) -> None:
        self.task = task
        self._rng = np.random.default_rng(seed)
        self._validate = validate_actions
        self._steps = 0
        self._needs_reset = True

    def seed(self, seed: int) -> None:
        """Reseed and make the next :meth:`reset` a complete physical reset (reproducible)."""
        self._rng = np.random.default_rng(seed)
        self.task.restart()

    @property
    def spec(self) -> EnvSpec:
        """The task's spec."""
        return self.task.spec

    def reset(self) -> Observation:
        """Begin an episode; ``is_first=True`` and ``reward=0``."""
        self.task.begin_episode(self._rng)
        self._steps = 0
        self._needs_reset = False
        return transition(self.task.observe(), 0.0, first=True)

    def step(self, action: Action) -> Observation:
        """One control period; ``is_last`` after ``episode_length`` steps, when the task cuts
        the episode, or at a terminal."""
        if self._needs_reset:
            raise SimRobotError("step() called before reset() or after is_last; call reset()")
        if self._validate:
            action = validate_all(action, self.spec.action, "action")
        self.task.step(action)
        self._steps += 1
        terminal = self.task.is_terminal()
        last = terminal or self.task.is_last() or self._steps >= self.task.episode_length
        self._needs_reset = last
        return transition(self.task.observe(), self.task.reward(), last=last, terminal=terminal)

    def close(self) -> None:
        """Free the robot's renderers."""
        self.task.robot.close()


def make_env(name: str, seed: int = 0, **overrides: Any) -> TaskEnv:
    """The task ``name`` wrapped as a :class:`shared.env.Env`."""
    return TaskEnv(make_task(name, **overrides), seed=seed)
