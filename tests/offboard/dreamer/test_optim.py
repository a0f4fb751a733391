"""Tests of offboard.dreamer.optim: LaProp steps, AGC clipping and warm-up."""

from __future__ import annotations

import pytest
import torch

from offboard.dreamer.config import OptimizerConfig
from offboard.dreamer.optim import LaProp


def make(param: torch.Tensor, **overrides: float) -> tuple[torch.nn.Parameter, LaProp]:
    parameter = torch.nn.Parameter(param.clone())
    return parameter, LaProp([parameter], OptimizerConfig(**overrides))


def test_first_step_is_lr_times_sign_after_warmup_factor() -> None:
    parameter, optimizer = make(torch.ones(4), lr=0.1, warmup=10, agc=0.0)
    parameter.grad = torch.tensor([3.0, -0.001, 50.0, -7.0])
    metrics = optimizer.step()
    # u = g / |g| per element (bias-corrected RMS), momentum debiased -> lr_1 * sign(g)
    assert metrics["lr"] == pytest.approx(0.1 * 1 / 10)
    expected = torch.ones(4) - 0.01 * torch.sign(torch.tensor([3.0, -0.001, 50.0, -7.0]))
    assert torch.allclose(parameter.detach(), expected, atol=1e-6)


def test_agc_clips_relative_to_parameter_norm() -> None:
    parameter, optimizer = make(torch.full((4,), 0.5), agc=0.3, warmup=0, lr=0.0)
    parameter.grad = torch.full((4,), 10.0)  # |g| = 20, |p| = 1 -> limit 0.3
    metrics = optimizer.step()
    assert metrics["clip_fraction"] == 1.0
    assert metrics["grad_norm"] == pytest.approx(20.0)
    assert float(parameter.grad.norm()) == pytest.approx(0.3, rel=1e-5)


def test_agc_uses_pmin_for_zero_parameters_and_leaves_small_gradients() -> None:
    parameter, optimizer = make(torch.zeros(3), agc=0.3, agc_pmin=1e-3, warmup=0, lr=0.0)
    parameter.grad = torch.ones(3)
    optimizer.step()
    assert float(parameter.grad.norm()) == pytest.approx(0.3e-3, rel=1e-5)
    parameter2, optimizer2 = make(torch.full((4,), 10.0), agc=0.3, warmup=0, lr=0.0)
    parameter2.grad = torch.full((4,), 0.1)
    assert optimizer2.step()["clip_fraction"] == 0.0
    assert torch.allclose(parameter2.grad, torch.full((4,), 0.1))


def test_warmup_is_linear_then_constant() -> None:
    _, optimizer = make(torch.ones(1), lr=4e-5, warmup=1000)
    assert optimizer.learning_rate(1) == pytest.approx(4e-8)
    assert optimizer.learning_rate(500) == pytest.approx(2e-5)
    assert optimizer.learning_rate(5000) == pytest.approx(4e-5)


def test_minimises_a_quadratic_and_state_round_trips() -> None:
    parameter, optimizer = make(torch.tensor([3.0, -2.0]), lr=0.05, warmup=0, agc=0.0)
    for _ in range(300):
        optimizer.zero_grad()
        (parameter**2).sum().backward()
        optimizer.step()
    assert float(parameter.detach().abs().max()) < 0.1
    state = optimizer.state_dict()
    _, other = make(torch.tensor([3.0, -2.0]))
    other.load_state_dict(state)
    assert other.updates == 300
