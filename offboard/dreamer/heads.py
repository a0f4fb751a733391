"""Heads on ``feat``: reward/value (symexp two-hot), continue (Bernoulli) and the policy.

The policy is DreamerV3's: a categorical with 1 % uniform mixture for a discrete action space,
a bounded normal (mean ``tanh``, std in ``[min_std, max_std]``) for a continuous one. Its
parameters are returned as a tuple of tensors so that one code path serves training, in-process
acting and ONNX export.
"""

from __future__ import annotations

import torch
from torch import nn

from offboard.dreamer.distributions import (
    bounded_normal,
    categorical_entropy,
    gumbel_argmax,
    normal_entropy,
    normal_log_prob,
    one_hot,
    unimix_logits,
)
from offboard.dreamer.layers import MLP, linear


class Head(nn.Module):
    """MLP followed by a linear output layer initialised with ``outscale``."""

    def __init__(self, in_features: int, units: int, layers: int, out_features: int,
                 outscale: float) -> None:
        super().__init__()
        self.mlp = MLP(in_features, units, layers)
        self.out = linear(self.mlp.out_features, out_features, outscale=outscale)

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        """``feat`` (..., F) -> (..., out)."""
        return self.out(self.mlp(feat))


PolicyParams = tuple[torch.Tensor, ...]


class Policy(nn.Module):
    """Actor over ``feat``. Actions are model features: one-hot (K,) or continuous (A,)."""

    def __init__(self, feat_dim: int, units: int, layers: int, action_dim: int, discrete: bool,
                 unimix: float, min_std: float, max_std: float) -> None:
        super().__init__()
        self.discrete, self.action_dim, self.unimix = discrete, action_dim, unimix
        self.min_std, self.max_std = min_std, max_std
        self.mlp = MLP(feat_dim, units, layers)
        self.mean = linear(self.mlp.out_features, action_dim, outscale=0.01)
        if not discrete:
            self.std = linear(self.mlp.out_features, action_dim, outscale=0.01)

    def forward(self, feat: torch.Tensor) -> PolicyParams:
        """Distribution parameters: ``(log_probs (..., K),)`` or ``(mean, std)`` each (..., A)."""
        hidden = self.mlp(feat)
        if self.discrete:
            return (unimix_logits(self.mean(hidden), self.unimix),)
        return bounded_normal(self.mean(hidden), self.std(hidden), self.min_std, self.max_std)

    def sample(self, params: PolicyParams, noise: torch.Tensor | None = None) -> torch.Tensor:
        """Sample (..., A). ``noise``: uniform (..., K) for discrete, standard normal (..., A)
        for continuous; drawn here when ``None``."""
        if self.discrete:
            log_probs = params[0]
            noise = torch.rand_like(log_probs) if noise is None else noise
            return one_hot(gumbel_argmax(log_probs, noise), self.action_dim)
        mean, std = params
        noise = torch.randn_like(mean) if noise is None else noise
        return mean + std * noise

    def mode(self, params: PolicyParams) -> torch.Tensor:
        """Most likely action (..., A): one-hot argmax or the mean."""
        if self.discrete:
            return one_hot(torch.argmax(params[0], -1), self.action_dim)
        return params[0]

    def log_prob(self, params: PolicyParams, action: torch.Tensor) -> torch.Tensor:
        """Log-likelihood (...) of ``action`` (..., A)."""
        if self.discrete:
            return (params[0] * action).sum(-1)
        return normal_log_prob(action.float(), *params)

    def entropy(self, params: PolicyParams) -> torch.Tensor:
        """Entropy (...)."""
        if self.discrete:
            return categorical_entropy(params[0])
        return normal_entropy(params[1])
