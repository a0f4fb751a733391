"""Fixtures of the learner tests: small specs and random batches in the replay layout."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch

from shared.spec import EnvSpec, Space


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)


def build_spec(observation: str = "vector", action: str = "continuous") -> EnvSpec:
    """``observation``: vector | image | mixed; ``action``: continuous | discrete."""
    obs: dict[str, Space] = {"log/debug": Space(np.float32, (2,))}
    if observation in ("vector", "mixed"):
        obs["position"] = Space(np.float32, (5,))
    if observation in ("image", "mixed"):
        obs["camera"] = Space(np.uint8, (16, 16, 3))
    act = (Space(np.int32, (), 1, 4) if action == "discrete"
           else Space(np.float32, (3,), -1.0, 1.0))
    return EnvSpec.create(obs, {"action": act})


def build_batch(spec: EnvSpec, batch: int = 3, length: int = 8,
                seed: int = 0) -> dict[str, np.ndarray]:
    """Random batch ``(B, T, ...)`` valid for ``spec`` (model keys, reserved keys, action)."""
    rng = np.random.default_rng(seed)
    data = {}
    for key in [*spec.model_keys, *spec.action]:
        space = {**spec.observation, **spec.action}[key]
        values = [np.asarray(space.sample(rng)) for _ in range(batch * length)]
        data[key] = np.stack(values).reshape(batch, length, *space.shape).astype(space.dtype)
    for key in ("is_first", "is_last", "is_terminal"):
        data[key] = np.zeros((batch, length), bool)
    data["reward"] = rng.normal(size=(batch, length)).astype(np.float32)
    return data


@pytest.fixture
def make_spec() -> Callable[..., EnvSpec]:
    return build_spec


@pytest.fixture
def make_batch() -> Callable[..., dict[str, np.ndarray]]:
    return build_batch
