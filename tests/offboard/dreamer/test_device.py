"""Tests of the learner's device handling: resolution, CPU placement, device-free checkpoints."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch

from offboard.agent import Agent
from offboard.dreamer.config import DreamerConfig
from offboard.dreamer.errors import LearnerError
from offboard.dreamer.export import export_onnx, input_names
from offboard.dreamer.runtime import resolve_device

DEBUG = DreamerConfig(preset="debug", batch_size=3, batch_length=8)


def test_auto_resolves_to_cuda_only_when_available(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal without a GPU")
def test_unusable_cuda_device_is_refused_with_its_name() -> None:
    with pytest.raises(LearnerError, match="cuda:3"):
        resolve_device("cuda:3")


@pytest.mark.parametrize("name", ["gpu", "cuda:", "CPU", "cuda:x"])
def test_config_refuses_unknown_device_names(name: str) -> None:
    with pytest.raises(LearnerError, match="device"):
        DreamerConfig(device=name)


def test_cpu_agent_trains_acts_exports_and_checkpoints_on_cpu(make_spec, make_batch) -> None:
    spec = make_spec("vector", "continuous")
    agent = Agent(spec, DEBUG)
    if not torch.cuda.is_available():
        assert agent.device == torch.device("cpu")
    assert all(p.device == agent.device for p in agent.world_model.parameters())
    agent.train_step(make_batch(spec))
    carry = agent.initial_carry(2)
    obs = {k: np.zeros((2, *spec.observation[k].shape), np.float32) for k in agent.obs_keys}
    carry, action = agent.policy(carry, {**obs, "is_first": np.ones(2, bool)})
    assert action.shape == (2, 3) and carry["deter"].device == agent.device
    state = agent.state_dict()
    tensors = [*state["world_model"].values(), *state["actor_critic"].values()]
    tensors += [v for entry in state["optimizer"]["state"].values() for v in entry.values()]
    assert tensors and all(t.device == torch.device("cpu") for t in tensors)
    model = onnx.load_model_from_string(export_onnx(agent, mode=True))
    assert [i.name for i in model.graph.input] == input_names(agent, True)
