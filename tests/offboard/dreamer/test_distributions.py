"""Tests of offboard.dreamer.distributions: symlog, two-hot, categoricals, bounded normal."""

from __future__ import annotations

import math

import torch

from offboard.dreamer.distributions import (
    TwoHot,
    bounded_normal,
    categorical_kl,
    gumbel_argmax,
    inverse_cdf_index,
    normal_entropy,
    normal_log_prob,
    one_hot,
    symexp,
    symlog,
    two_hot,
    unimix_logits,
)


def test_symlog_symexp_round_trip() -> None:
    x = torch.tensor([-1e6, -20.0, -1.0, -1e-3, 0.0, 1e-3, 0.5, 7.0, 1e6])
    assert torch.allclose(symexp(symlog(x)), x, rtol=1e-5, atol=1e-6)
    assert torch.allclose(symlog(torch.tensor([math.e - 1])), torch.tensor([1.0]))


def test_two_hot_encodes_value_exactly() -> None:
    bins = torch.linspace(-20, 20, 255)
    x = torch.tensor([-3.3, 0.0, 0.01, 5.5, 19.99, 25.0])
    encoding = two_hot(x, bins)
    assert torch.allclose(encoding.sum(-1), torch.ones(6))
    assert (encoding > 0).sum(-1).max() <= 2
    expected = x.clamp(-20, 20)
    assert torch.allclose((encoding * bins).sum(-1), expected, atol=1e-4)


def test_two_hot_prediction_round_trip_and_zero_at_init() -> None:
    assert TwoHot(torch.zeros(4, 255)).pred().abs().max() == 0.0
    targets = torch.tensor([-250.0, -1.5, 0.0, 3.0, 1234.0])
    bins = torch.linspace(-20, 20, 255)
    logits = torch.log(two_hot(symlog(targets), bins) + 1e-12)
    assert torch.allclose(TwoHot(logits).pred(), targets, rtol=1e-3, atol=1e-3)
    # the loss is smallest at the encoded target
    losses = TwoHot(logits).loss(targets)
    shifted = TwoHot(logits).loss(targets + 10.0)
    assert torch.all(losses < shifted)


def test_unimix_floor_and_normalisation() -> None:
    logits = torch.tensor([[100.0, 0.0, 0.0, 0.0]])
    probs = unimix_logits(logits, 0.01).exp()
    assert torch.allclose(probs.sum(-1), torch.ones(1))
    assert torch.allclose(probs[0, 1:], torch.full((3,), 0.01 / 4), rtol=1e-4)


def test_gumbel_argmax_matches_probabilities() -> None:
    generator = torch.Generator().manual_seed(0)
    log_probs = torch.log(torch.tensor([0.1, 0.6, 0.3])).expand(20000, 3)
    index = gumbel_argmax(log_probs, torch.rand(20000, 3, generator=generator))
    freq = one_hot(index, 3).mean(0)
    assert torch.allclose(freq, torch.tensor([0.1, 0.6, 0.3]), atol=0.015)


def test_categorical_kl_zero_for_equal_positive_otherwise() -> None:
    a = unimix_logits(torch.randn(2, 4, 32, 8), 0.01)
    b = unimix_logits(torch.randn(2, 4, 32, 8), 0.01)
    assert categorical_kl(a, a).abs().max() < 1e-5
    assert torch.all(categorical_kl(a, b) > 0)
    assert categorical_kl(a, b).shape == (2, 4)


def test_bounded_normal_ranges_and_density() -> None:
    mean, std = bounded_normal(torch.tensor([-50.0, 0.0, 50.0]), torch.tensor([-50.0, 0.0, 50.0]),
                               0.1, 1.0)
    assert torch.all(mean.abs() <= 1.0) and torch.all(std >= 0.1) and torch.all(std <= 1.0)
    assert math.isclose(float(std[0]), 0.1, rel_tol=1e-4)
    assert math.isclose(float(std[2]), 1.0, rel_tol=1e-4)
    reference = torch.distributions.Normal(mean, std)
    x = torch.tensor([0.3, -0.2, 0.9])
    assert torch.allclose(normal_log_prob(x, mean, std), reference.log_prob(x).sum(), atol=1e-5)
    assert torch.allclose(normal_entropy(std), reference.entropy().sum(), atol=1e-5)


def test_two_hot_mixed_loss_matches_dense_cross_entropy_and_gradient() -> None:
    logits = torch.randn(6, 4, 255, dtype=torch.float64, requires_grad=True)
    first, second = 30.0 * torch.randn(6, 4), 3.0 * torch.randn(6, 4)
    loss = TwoHot(logits).mixed_loss((first, second), (1.0, 0.5))
    (grad,) = torch.autograd.grad((loss * torch.arange(4.0)).sum(), logits)
    dense_logits = logits.detach().clone().requires_grad_()
    bins = torch.linspace(-20, 20, 255)
    log_probs = torch.log_softmax(dense_logits, -1)
    dense = -sum(scale * (two_hot(symlog(target), bins) * log_probs).sum(-1)
                 for target, scale in ((first, 1.0), (second, 0.5)))
    (dense * torch.arange(4.0)).sum().backward()
    assert loss.dtype == torch.float32
    assert torch.allclose(loss.double(), dense, rtol=1e-4, atol=1e-4)
    assert torch.allclose(grad, dense_logits.grad, atol=1e-5)
    assert torch.allclose(TwoHot(logits).loss(first), loss - 0.5 * TwoHot(logits).loss(second))


def test_inverse_cdf_keeps_rare_class_frequencies_under_bfloat16_autocast() -> None:
    probs = torch.tensor([0.499, 0.499, 0.002]).expand(200_000, 3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        index = inverse_cdf_index(probs)
    frequency = float((index == 2).float().mean())
    assert abs(frequency - 0.002) < 0.0005, frequency
