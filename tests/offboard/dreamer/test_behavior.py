"""Tests of offboard.dreamer.behavior: lambda-returns, return normalisation, imagination."""

from __future__ import annotations

import pytest
import torch

from offboard.dreamer.behavior import ActorCritic, ReturnNormalizer, lambda_return
from offboard.dreamer.config import DreamerConfig
from offboard.dreamer.world_model import WorldModel
from shared.spec import Space


def reference_lambda_return(reward, value, cont, disc, lam):
    """Textbook recursion R_t = r_{t+1} + g c_{t+1} ((1 - lam) v_{t+1} + lam R_{t+1})."""
    steps = reward.shape[1] - 1
    returns = [value[:, -1]]
    for t in reversed(range(steps)):
        g = disc * cont[:, t + 1]
        nxt = returns[0]
        returns.insert(0, reward[:, t + 1] + g * ((1 - lam) * value[:, t + 1] + lam * nxt))
    return torch.stack(returns[:-1], 1)


def test_lambda_return_matches_textbook_recursion() -> None:
    torch.manual_seed(0)
    reward, value = torch.randn(3, 6), torch.randn(3, 6)
    cont = (torch.rand(3, 6) > 0.2).float()
    ours = lambda_return(torch.zeros(3, 6), 1 - cont, reward, value, value, 0.99, 0.95)
    assert torch.allclose(ours, reference_lambda_return(reward, value, cont, 0.99, 0.95),
                          atol=1e-5)
    # lam = 0: one-step TD targets
    td = lambda_return(torch.zeros(3, 6), 1 - cont, reward, value, value, 0.9, 0.0)
    assert torch.allclose(td, reward[:, 1:] + 0.9 * cont[:, 1:] * value[:, 1:], atol=1e-6)


def test_lambda_return_is_last_cuts_the_trace_and_bootstraps() -> None:
    reward = torch.tensor([[0.0, 1.0, 1.0, 1.0]])
    boot = torch.tensor([[0.0, 10.0, 20.0, 30.0]])
    last = torch.tensor([[0.0, 1.0, 0.0, 0.0]])
    returns = lambda_return(last, torch.zeros(1, 4), reward, boot, boot, 1.0, 0.95)
    assert returns[0, 0] == pytest.approx(1.0 + 10.0)  # ends at step 1: reward + bootstrap


def test_return_normalizer_tracks_percentile_range_with_floor() -> None:
    norm = ReturnNormalizer(rate=0.5, limit=1.0)
    assert float(norm.scale()) == 1.0
    returns = torch.linspace(0, 100, 10001)
    for _ in range(30):
        norm.update(returns)
    assert float(norm.low) == pytest.approx(5.0, rel=1e-3)
    assert float(norm.high) == pytest.approx(95.0, rel=1e-3)
    assert float(norm.scale()) == pytest.approx(90.0, rel=1e-3)
    small = ReturnNormalizer(rate=1.0, limit=1.0)
    small.update(torch.linspace(0, 0.1, 100))
    assert float(small.scale()) == 1.0


def test_imagination_shapes_and_losses_are_finite() -> None:
    config = DreamerConfig(preset="debug", imag_horizon=4, compute_dtype="float32")
    world_model = WorldModel({"x": Space("float32", (3,))}, 2, config)
    behavior = ActorCritic(world_model.rssm.feat_dim, 2, False, config)
    start = world_model.rssm.initial(5)
    imagined = behavior.imagine(world_model, start["deter"], start["stoch"])
    assert imagined["feat"].shape == (5, 5, world_model.rssm.feat_dim)
    assert imagined["action"].shape == (5, 4, 2)
    assert [p.shape for p in imagined["policy"]] == [(5, 4, 2), (5, 4, 2)]
    losses, returns, _metrics = behavior.imagination_loss(
        world_model, imagined["feat"], imagined["action"], imagined["policy"])
    assert losses["policy"].shape == (5, 4) and losses["value"].shape == (5, 4)
    assert returns.shape == (5, 4)
    assert all(torch.isfinite(v).all() for v in losses.values())
    losses["policy"].mean().backward()
    assert behavior.policy.mean.weight.grad is not None


def test_slow_value_moves_towards_value_by_rate() -> None:
    config = DreamerConfig(preset="debug", slow_rate=0.02)
    behavior = ActorCritic(20, 2, True, config)
    with torch.no_grad():
        behavior.value.out.weight.fill_(1.0)
    behavior.update_slow()
    assert torch.allclose(behavior.slow_value.out.weight, torch.full_like(
        behavior.slow_value.out.weight, 0.02))
