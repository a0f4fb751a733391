"""Policy loading and running: validation of the signature, carry ownership, modes."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto

from onboard.policy import PolicyLoadError, PolicyRunner, load_policy
from shared.spec import EnvSpec, Space
from tests.onboard.onnx_fakes import SPEC, counting_policy


def obs(first: bool = False, joints: float = 0.0) -> dict[str, np.ndarray]:
    return {"joints": np.full(3, joints, np.float32), "reward": np.float32(0),
            "is_first": np.bool_(first), "is_last": np.bool_(False),
            "is_terminal": np.bool_(False)}


def steps_seen(action: np.ndarray) -> float:
    """Invert the fake's action = tanh(0.01 * count)."""
    return float(np.arctanh(action[0]) / 0.01)


def test_runner_carries_state_and_resets_on_is_first_and_swap() -> None:
    runner = PolicyRunner(SPEC, mode="mode")
    runner.swap(load_policy(counting_policy(), SPEC))
    counts = []
    for step in range(6):
        action = runner.act(obs(first=step in (0, 4)))
        runner.sent(action)
        counts.append(round(steps_seen(action)))
    assert counts == [1, 2, 3, 4, 1, 2]
    runner.swap(load_policy(counting_policy(version=2), SPEC))
    assert round(steps_seen(runner.act(obs()))) == 1  # carry zeroed on swap
    assert runner.version == 2 and runner.swaps == 2


def test_sample_mode_feeds_noise_and_random_mode_ignores_policy() -> None:
    runner = PolicyRunner(SPEC, mode="sample", seed=1)
    runner.swap(load_policy(counting_policy(variant="sample"), SPEC))
    actions = np.array([runner.act(obs(first=True)) for _ in range(200)])
    assert actions.std() > 0.005  # noise reached the graph
    random = PolicyRunner(SPEC, mode="random", seed=1)
    random.swap(load_policy(counting_policy(variant="sample"), SPEC))
    samples = np.array([random.act(obs()) for _ in range(500)])
    assert samples.min() < -0.8 and samples.max() > 0.8 and random.version == -1


def test_mode_mismatch_refused() -> None:
    runner = PolicyRunner(SPEC, mode="mode")
    with pytest.raises(PolicyLoadError, match="'mode' mode got a 'sample' policy"):
        runner.swap(load_policy(counting_policy(variant="sample"), SPEC))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"spec_hash": "0" * 64}, "spec hash"),
    ({"joints_dtype": TensorProto.DOUBLE}, "policy input 'joints'"),
    ({"extra_input": True}, "differ from expected"),
])
def test_bad_policies_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(PolicyLoadError, match=message):
        load_policy(counting_policy(**kwargs), SPEC)


def test_garbage_bytes_refused() -> None:
    with pytest.raises(PolicyLoadError, match="cannot load"):
        load_policy(b"\x00not an onnx model", SPEC)


def test_wrong_action_width_refused() -> None:
    spec = EnvSpec.create({"joints": Space(np.float32, (3,), -10.0, 10.0)},
                          {"action": Space(np.float32, (3,), -1.0, 1.0)})
    with pytest.raises(PolicyLoadError, match=r"action output is tensor\(float\) \(1, 2\)"):
        load_policy(counting_policy(spec=spec), spec)
