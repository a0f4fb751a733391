"""Collects single steps into the stacked arrays of one TRANSITIONS batch.

A step is the flat dict the runtime records: every observation key of the spec (reserved keys
included), every action key and ``policy_version``; each value has the space's shape ``(*S,)``.
A batch of ``T`` steps maps each key to an array ``(T, *S)`` of the space's dtype.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np

from shared.messages import POLICY_VERSION_KEY
from shared.spec import EnvSpec

log = logging.getLogger(__name__)


class Batcher:
    """Accumulates checked steps until :meth:`due` says a batch should be sealed.

    Args:
        spec: the robot's spec (defines keys, dtypes and per-step shapes).
        max_steps: most steps per batch.
        max_age: seconds after the first step of a batch at which it is due.
    """

    def __init__(self, spec: EnvSpec, max_steps: int, max_age: float) -> None:
        self.max_steps = max_steps
        self.max_age = max_age
        self.columns: dict[str, tuple[np.dtype, tuple[int, ...]]] = {
            key: (space.dtype, space.shape)
            for part in (spec.observation, spec.action) for key, space in part.items()}
        self.columns[POLICY_VERSION_KEY] = (np.dtype(np.int64), ())
        self._keys = frozenset(self.columns)
        self._steps: list[Mapping[str, np.ndarray]] = []
        self._started = 0.0
        self.bad_steps = 0
        """Steps refused because keys or shapes did not match the spec (counted, logged)."""

    @property
    def step_bytes(self) -> int:
        """Bytes of one step's arrays."""
        return sum(dtype.itemsize * int(np.prod(shape)) for dtype, shape in self.columns.values())

    def __len__(self) -> int:
        return len(self._steps)

    def add(self, step: Mapping[str, np.ndarray], now: float) -> bool:
        """Append one step (checked: keys and shapes); False when it was refused (counted)."""
        problem = self._check(step)
        if problem:
            self.bad_steps += 1
            log.error("link: step refused (%d so far): %s", self.bad_steps, problem)
            return False
        if not self._steps:
            self._started = now
        self._steps.append(step)
        return True

    def _check(self, step: Mapping[str, np.ndarray]) -> str:
        if not isinstance(step, Mapping) or step.keys() != self._keys:
            keys = sorted(step) if isinstance(step, Mapping) else type(step).__name__
            return f"keys {keys} differ from the spec's {sorted(self._keys)}"
        for key, (_, shape) in self.columns.items():
            if np.shape(step[key]) != shape:
                return f"{key!r} has shape {np.shape(step[key])}, the spec says {shape}"
        return ""

    def due(self, now: float) -> bool:
        """True when the batch is full or its first step is older than ``max_age``."""
        return len(self._steps) >= self.max_steps or (
            bool(self._steps) and now - self._started >= self.max_age)

    def take(self) -> dict[str, np.ndarray]:
        """The stacked batch ``{key: (T, *S)}`` (T >= 1); the batcher is empty afterwards."""
        steps, self._steps = self._steps, []
        return {key: np.asarray([step[key] for step in steps], dtype=dtype).reshape(
            len(steps), *shape) for key, (dtype, shape) in self.columns.items()}
