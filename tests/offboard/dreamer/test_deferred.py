"""Tests of offboard.dreamer.deferred: deferred weight gradients equal per-step autograd."""

from __future__ import annotations

import torch
from torch.nn import functional

import offboard.dreamer.rssm as rssm_module
from offboard.agent import Agent
from offboard.dreamer.config import DreamerConfig
from offboard.dreamer.deferred import DeferredWeights


def _recurrence(weight: torch.Tensor, bias: torch.Tensor | None, deferred: bool) -> torch.Tensor:
    state, outputs = torch.ones(3, 4, dtype=weight.dtype), []
    shared = DeferredWeights(weight, bias) if deferred else None
    for step in range(5):
        x = torch.tanh(state + step)
        state = shared.linear(x) if shared else functional.linear(x, weight, bias)
        outputs.append(state)
    return torch.stack(outputs).square().sum()


def test_deferred_linear_gradients_match_autograd_in_a_recurrence() -> None:
    for with_bias in (True, False):
        grads = []
        for deferred in (True, False):
            torch.manual_seed(0)
            weight = (0.5 * torch.randn(4, 4, dtype=torch.float64)).requires_grad_()
            bias = torch.randn(4, dtype=torch.float64, requires_grad=True) if with_bias else None
            _recurrence(weight, bias, deferred).backward()
            grads.append([weight.grad] + ([bias.grad] if with_bias else []))
        for a, b in zip(*grads, strict=True):
            assert torch.allclose(a, b, atol=1e-10)


def test_world_model_gradients_equal_with_and_without_deferral(make_spec, make_batch,
                                                               monkeypatch) -> None:
    spec = make_spec("vector", "continuous")
    config = DreamerConfig(preset="debug", batch_size=3, batch_length=8,
                           compute_dtype="float32")
    agent = Agent(spec, config)
    data = agent.prepare(make_batch(spec))
    obs = {k: data[k] for k in agent.obs_keys}
    results, outputs = [], []
    for layers, blocks in ((rssm_module.DEFERRED, rssm_module.DEFERRED_BLOCKS), ((), ())):
        # deferred: the block-diagonal GRU layers as dense products with gate-ordered rows;
        # not deferred: the grouped products and per-step autograd
        monkeypatch.setattr(rssm_module, "DEFERRED", layers)
        monkeypatch.setattr(rssm_module, "DEFERRED_BLOCKS", blocks)
        torch.manual_seed(1)
        losses, _ = agent.world_model.loss(obs, data["prev_action"], data["is_first"],
                                           data["reward"], data["is_terminal"])
        outputs.append({k: v.detach() for k, v in losses.items()})
        agent.world_model.zero_grad(set_to_none=True)
        sum(losses[k].mean() for k in ("rec", "rew", "con", "dyn", "rep")).backward()
        results.append({n: p.grad.clone() for n, p in agent.world_model.named_parameters()
                        if p.grad is not None})
    assert results[0].keys() == results[1].keys()
    assert "rssm.post_logits.weight" in results[0] and "rssm.gru_gates.weight" in results[0]
    for key in ("rec", "rew", "con", "dyn", "rep"):
        assert torch.allclose(outputs[0][key], outputs[1][key], rtol=1e-5, atol=1e-6), key
    for name in results[0]:
        assert torch.allclose(results[0][name], results[1][name], rtol=1e-4, atol=1e-6), name
