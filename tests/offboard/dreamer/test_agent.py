"""Tests of offboard.agent: batches of every observation/action kind, errors, checkpoints."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch

from offboard.agent import Agent
from offboard.dreamer.config import DreamerConfig
from offboard.dreamer.errors import BatchError, LearnerError
from shared.spec import EnvSpec, Space

DEBUG = DreamerConfig(preset="debug", batch_size=3, batch_length=8)


@pytest.mark.parametrize(("observation", "action"), [
    ("vector", "continuous"), ("image", "discrete"), ("mixed", "continuous")])
def test_train_step_runs_and_reports_finite_metrics(make_spec, make_batch, observation,
                                                    action) -> None:
    spec = make_spec(observation, action)
    agent = Agent(spec, DEBUG)
    assert agent.obs_keys == [k for k in ("camera", "position") if k in spec.observation]
    metrics = agent.train_step(make_batch(spec))
    for key in ("loss/rec", "loss/rew", "loss/con", "loss/dyn", "loss/rep", "loss/policy",
                "loss/value", "loss/repval", "opt/grad_norm"):
        assert math.isfinite(metrics[key]), key
    assert metrics["loss/dyn"] >= 1.0 and metrics["loss/rep"] >= 1.0  # free nats
    assert metrics["updates"] == 1.0
    assert all(isinstance(v, float) for v in metrics.values())


def test_policy_acts_in_process_for_both_action_kinds(make_spec) -> None:
    for action in ("continuous", "discrete"):
        spec = make_spec("mixed", action)
        agent = Agent(spec, DEBUG)
        rng = np.random.default_rng(0)
        obs = {k: spec.observation[k].sample(rng)[None] for k in agent.obs_keys}
        carry = agent.initial_carry(1)
        for step in range(3):
            carry, act = agent.policy(carry, {**obs, "is_first": np.array([step == 0])})
            if action == "discrete":
                assert act.shape == (1,) and 1 <= int(act[0]) <= 4
                assert carry["prev_action"].sum() == 1.0
            else:
                assert act.shape == (1, 3) and np.all(np.abs(act) <= 1.0)
        assert carry["deter"].shape == (1, 64) and carry["stoch"].shape == (1, 8, 4)
        with pytest.raises(BatchError, match="is_first"):
            agent.policy(carry, obs)


def test_batch_errors_name_the_key(make_spec, make_batch) -> None:
    spec = make_spec("vector", "continuous")
    agent = Agent(spec, DEBUG)
    batch = make_batch(spec)
    del batch["is_terminal"]
    with pytest.raises(BatchError, match="is_terminal"):
        agent.train_step(batch)
    batch = make_batch(spec)
    batch["position"] = batch["position"][:, :, :4]
    with pytest.raises(BatchError, match="position"):
        agent.train_step(batch)


def test_unsupported_action_spaces_are_refused() -> None:
    observation = {"x": Space(np.float32, (2,))}
    with pytest.raises(LearnerError, match="exactly one action key"):
        Agent(EnvSpec.create(observation, {"a": Space(np.float32, (1,), -1, 1),
                                           "b": Space(np.float32, (1,), -1, 1)}), DEBUG)
    with pytest.raises(LearnerError, match=r"\[-1, 1\]"):
        Agent(EnvSpec.create(observation, {"a": Space(np.float32, (1,), -2, 2)}), DEBUG)


def test_state_dict_round_trips_through_weights_only_load(make_spec, make_batch) -> None:
    spec = make_spec("vector", "discrete")
    agent = Agent(spec, DEBUG)
    batch = make_batch(spec)
    agent.train_step(batch)
    agent.train_step(batch)
    buffer = io.BytesIO()
    torch.save(agent.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    clone = Agent(spec, DEBUG)
    clone.load_state_dict(state)
    assert clone.updates == 2 and clone.optimizer.updates == 2
    assert float(clone.actor_critic.return_norm.high) == float(agent.actor_critic.return_norm.high)
    for a, b in zip(agent.actor_critic.slow_value.parameters(),
                    clone.actor_critic.slow_value.parameters(), strict=True):
        assert torch.equal(a, b)
    torch.manual_seed(5)
    first = agent.train_step(batch)
    torch.manual_seed(5)
    second = clone.train_step(batch)
    assert first["loss/world_model"] == pytest.approx(second["loss/world_model"], rel=1e-5)
    other = Agent(make_spec("vector", "continuous"), DEBUG)
    with pytest.raises(LearnerError, match="checkpoint is for spec"):
        other.load_state_dict(state)


def test_prepare_shifts_actions_and_starts_every_sequence_fresh(make_spec, make_batch) -> None:
    spec = make_spec("vector", "discrete")
    agent = Agent(spec, DEBUG)
    batch = make_batch(spec)
    batch["is_first"][:, 5] = True
    data = agent.prepare(batch)
    assert data["is_first"][:, 0].all() and data["is_first"][:, 5].all()
    assert not data["is_first"][:, 1:5].any()
    assert data["prev_action"].shape == (3, 8, 4)
    assert torch.all(data["prev_action"][:, 0] == 0)
    expected = torch.as_tensor(batch["action"][:, :-1]).long() - 1  # low = 1
    assert torch.equal(data["prev_action"][:, 1:].argmax(-1), expected)
    assert not batch["is_first"][:, 0].any()  # the caller's arrays are untouched
