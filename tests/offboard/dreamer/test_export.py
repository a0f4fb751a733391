"""Export parity: torch acting step vs onnxruntime over a multi-step rollout with a reset."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime
import pytest
import torch

from offboard.agent import Agent
from offboard.dreamer.config import DreamerConfig, OptimizerConfig
from offboard.dreamer.export import export_onnx, input_names, write_onnx

STEPS = 60
RESET_AT = 30


def trained_agent(spec, make_batch) -> Agent:
    """A debug agent after a few large-learning-rate updates (non-trivial weights)."""
    config = DreamerConfig(preset="debug", batch_size=2, batch_length=6,
                           optimizer=OptimizerConfig(lr=3e-3, warmup=0))
    agent = Agent(spec, config)
    for seed in range(3):
        agent.train_step(make_batch(spec, 2, 6, seed))
    return agent


def rollout_parity(agent: Agent, mode: bool) -> dict[str, float]:
    """Step torch and onnxruntime side by side, each fed its own outputs; return max diffs."""
    model = export_onnx(agent, mode=mode, policy_version=7)
    session = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])
    names = input_names(agent, mode)
    assert [i.name for i in session.get_inputs()] == names
    rng = np.random.default_rng(1)
    generator = torch.Generator().manual_seed(2)
    step = agent.acting_step(mode)
    torch_state = [t.numpy() for t in agent.initial_carry(1).values()]
    onnx_state = list(torch_state)
    worst = {"continuous": 0.0, "index_mismatches": 0}
    for t in range(STEPS):
        obs = [np.asarray(agent.env_spec.observation[k].sample(rng))[None] for k in agent.obs_keys]
        is_first = np.array([1.0 if t in (0, RESET_AT) else 0.0], np.float32)
        noise = [] if mode else [n.numpy() for n in agent.noise(1, generator)]
        with torch.no_grad():
            ours = [o.numpy() for o in step(*map(torch.as_tensor, [
                *obs, *torch_state, is_first, *noise]))]
        theirs = session.run(None, dict(zip(names, [*obs, *onnx_state, is_first, *noise],
                                            strict=True)))
        for a, b in zip(ours, theirs, strict=True):
            assert a.shape == b.shape and a.dtype == b.dtype
        worst["continuous"] = max(worst["continuous"], float(np.abs(ours[2] - theirs[2]).max()))
        if agent.discrete:
            worst["index_mismatches"] += int(ours[0][0] != theirs[0][0])
        else:
            worst["continuous"] = max(worst["continuous"], float(np.abs(ours[0] - theirs[0]).max()))
        worst["index_mismatches"] += int(np.any(ours[3].argmax(-1) != theirs[3].argmax(-1)))
        torch_state = [ours[2], ours[3], ours[1]]
        onnx_state = [theirs[2], theirs[3], theirs[1]]
    metadata = {p.key: p.value for p in onnx.load_from_string(model).metadata_props}
    assert metadata["spec_hash"] == agent.env_spec.hash
    assert metadata["policy_version"] == "7"
    assert metadata["training_step"] == str(agent.updates)
    assert metadata["preset"] == "debug"
    assert metadata["variant"] == ("mode" if mode else "sample")
    return worst


@pytest.mark.parametrize(("observation", "action"), [
    ("vector", "continuous"), ("image", "discrete"), ("mixed", "discrete")])
@pytest.mark.parametrize("mode", [False, True], ids=["sample", "mode"])
def test_onnx_matches_torch_over_a_rollout_with_reset(make_spec, make_batch, observation, action,
                                                     mode) -> None:
    agent = trained_agent(make_spec(observation, action), make_batch)
    worst = rollout_parity(agent, mode)
    assert worst["continuous"] <= 1e-4
    assert worst["index_mismatches"] == 0


def test_written_file_is_self_contained(tmp_path, make_spec, make_batch) -> None:
    agent = trained_agent(make_spec("vector", "continuous"), make_batch)
    path = write_onnx(agent, tmp_path / "policy.onnx", mode=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["policy.onnx"]
    model = onnx.load(str(path))
    assert model.opset_import[0].version >= 18
    assert [o.name for o in model.graph.output] == ["action", "action_features", "next_deter",
                                                    "next_stoch"]
