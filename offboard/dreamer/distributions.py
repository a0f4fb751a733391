"""Output distributions written as plain tensor functions (exportable, no torch.distributions).

- symlog / symexp squashing,
- symexp two-hot over ``bins`` evenly spaced in symlog space [-20, 20] (reward and value),
- categoricals with a uniform mixture (latents, discrete actions), straight-through samples
  drawn by Gumbel-max from given uniform noise,
- the bounded normal policy (mean ``tanh``, std in ``[min_std, max_std]``),
- the Bernoulli continue head.
All reductions are in float32.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch.nn import functional


def symlog(x: torch.Tensor) -> torch.Tensor:
    """``sign(x) * log(1 + |x|)``, elementwise."""
    return torch.sign(x) * torch.log1p(torch.abs(x))


def symexp(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`symlog`: ``sign(x) * (exp(|x|) - 1)``."""
    return torch.sign(x) * torch.expm1(torch.abs(x))


class TwoHot:
    """Symexp two-hot distribution over logits ``(..., bins)`` (any float dtype; the
    softmax and the losses are computed in float32)."""

    def __init__(self, logits: torch.Tensor, low: float = -20.0, high: float = 20.0) -> None:
        self.logits = logits
        self.bins = symmetric_bins(low, high, logits.shape[-1], logits.device)
        self.symmetric = low == -high

    def pred(self) -> torch.Tensor:
        """Expected value ``(...)``, summed symmetrically so uniform logits give exactly 0."""
        probs = torch.softmax(self.logits, -1, dtype=torch.float32)
        half, bins = (probs.shape[-1] - 1) // 2, self.bins
        with torch.autocast(probs.device.type, enabled=False):  # float32 products
            if not self.symmetric:
                return symexp(probs @ bins)
            # antisymmetric bins: upper bins times (p_upper - p_lower mirrored), exactly 0
            # for uniform logits (a plain sum accumulates rounding errors left to right)
            paired = probs[..., -half:] - probs[..., :half].flip(-1)
            total = paired @ bins[-half:] + probs[..., half:-half] @ bins[half:-half]
        return symexp(total)

    def loss(self, target: torch.Tensor) -> torch.Tensor:
        """Cross-entropy ``(...)`` against the two-hot encoding of ``symlog(target)``."""
        return self.mixed_loss((target,), (1.0,))

    def mixed_loss(self, targets: Sequence[torch.Tensor],
                   scales: Sequence[float]) -> torch.Tensor:
        """``sum_i scales[i] * loss(targets[i])`` ``(...)`` in one pass over the logits; the
        targets (...) are constants (no gradient flows into them).

        Gathers the two neighbouring bins of every target instead of materialising the
        (..., bins) encodings; the backward is ``total * softmax - scattered weights``.
        """
        bins, indices, weights = self.bins, [], []
        for target, scale in zip(targets, scales, strict=True):
            x = symlog(target.detach().float()).clamp(bins[0], bins[-1]).contiguous()
            upper = torch.searchsorted(bins, x, right=True).clamp(1, len(bins) - 1)
            lower = upper - 1
            weight_upper = ((x - bins[lower]) / (bins[upper] - bins[lower])).clamp(0.0, 1.0)
            indices += [lower, upper]
            weights += [scale * (1.0 - weight_upper), scale * weight_upper]
        return _TwoHotCrossEntropy.apply(self.logits, torch.stack(indices, -1),
                                         torch.stack(weights, -1))


class _TwoHotCrossEntropy(torch.autograd.Function):
    """``loss = sum(w) * logsumexp(x) - sum_j w_j x[i_j]`` over the last axis of logits ``x``
    (..., K), indices ``i`` and weights ``w`` (..., J); float32 result (...)."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, logits: torch.Tensor,
                index: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        log_probs = torch.log_softmax(logits, -1, dtype=torch.float32)
        ctx.save_for_backward(log_probs, index, weight)
        ctx.logits_dtype = logits.dtype
        return -(log_probs.gather(-1, index) * weight).sum(-1)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx,
                 grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        log_probs, index, weight = ctx.saved_tensors
        grad = grad.unsqueeze(-1)
        grad_logits = torch.exp(log_probs).mul_(grad * weight.sum(-1, keepdim=True))
        grad_logits.scatter_add_(-1, index, -(grad * weight))
        return grad_logits.to(ctx.logits_dtype), None, None


def symmetric_bins(low: float, high: float, count: int,
                   device: torch.device | None = None) -> torch.Tensor:
    """``count`` evenly spaced bins (count,); exactly antisymmetric when ``low == -high``."""
    bins = torch.linspace(low, high, count, device=device)
    return (bins - bins.flip(0)) / 2.0 if low == -high else bins


def two_hot(x: torch.Tensor, bins: torch.Tensor) -> torch.Tensor:
    """Two-hot encoding ``(..., K)`` of values ``x`` (...) on sorted ``bins`` (K,), clipped."""
    x = x.clamp(bins[0], bins[-1])
    upper = torch.searchsorted(bins, x.contiguous(), right=True).clamp(1, len(bins) - 1)
    lower = upper - 1
    width = bins[upper] - bins[lower]
    weight_upper = ((x - bins[lower]) / width).clamp(0.0, 1.0)
    encoding = torch.zeros(*x.shape, len(bins), device=x.device)
    encoding.scatter_(-1, lower.unsqueeze(-1), (1.0 - weight_upper).unsqueeze(-1))
    encoding.scatter_add_(-1, upper.unsqueeze(-1), weight_upper.unsqueeze(-1))
    return encoding


def unimix_probs(logits: torch.Tensor, unimix: float) -> torch.Tensor:
    """Probabilities ``(..., C)``: ``(1 - unimix) * softmax(logits) + unimix / C``."""
    probs = torch.softmax(logits, -1, dtype=torch.float32)
    if unimix > 0.0:
        probs = probs.mul(1.0 - unimix).add_(unimix / probs.shape[-1])
    return probs


def unimix_logits(logits: torch.Tensor, unimix: float) -> torch.Tensor:
    """Log-probabilities ``(..., C)`` of :func:`unimix_probs`."""
    return torch.log(unimix_probs(logits, unimix))


def inverse_cdf_index(probs: torch.Tensor) -> torch.Tensor:
    """Class indices ``(...)`` (int64) sampled by inverse CDF from probabilities ``(..., C)``
    (one uniform per categorical).

    Several times cheaper than Gumbel-max on a CPU (no logarithms, C times fewer random
    numbers); used where no noise input has to be shared with an exported graph.
    """
    classes = probs.shape[-1]
    cdf = torch.cumsum(probs.float(), -1)  # float32 (a matmul would run in bfloat16 under autocast)
    uniform = torch.rand(*probs.shape[:-1], 1, device=probs.device) * cdf[..., -1:]
    return (cdf < uniform).sum(-1).clamp(max=classes - 1)


def gumbel_argmax(log_probs: torch.Tensor, uniform: torch.Tensor) -> torch.Tensor:
    """Categorical sample indices ``(...)`` by Gumbel-max from uniform noise ``(..., C)``."""
    tiny = torch.finfo(torch.float32).tiny
    gumbel = -torch.log(-torch.log(uniform.clamp(tiny, 1.0 - 1e-7)))
    return torch.argmax(log_probs + gumbel, -1)


def one_hot(index: torch.Tensor, classes: int,
            dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """One-hot ``(..., classes)`` built by comparison with an arange (exportable)."""
    arange = torch.arange(classes, device=index.device)
    return (index.unsqueeze(-1) == arange).to(dtype)


class _StraightThrough(torch.autograd.Function):
    """``sample`` forward; the gradient goes to ``log_probs`` as through ``exp(log_probs)``."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, sample: torch.Tensor,
                log_probs: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(log_probs)
        return sample.clone()

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx,
                 grad: torch.Tensor) -> tuple[None, torch.Tensor]:
        (log_probs,) = ctx.saved_tensors
        return None, (grad * torch.exp(log_probs)).to(log_probs.dtype)


def straight_through(sample: torch.Tensor, log_probs: torch.Tensor) -> torch.Tensor:
    """One-hot ``sample`` whose gradient flows into the probabilities (straight-through):
    the value and gradient of ``sample + probs - sg(probs)`` with ``probs = exp(log_probs)``,
    in one call (the value is ``sample`` exactly, not up to rounding)."""
    return _StraightThrough.apply(sample, log_probs)


def categorical_kl(log_p: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """KL(p || q) ``(...)`` of log-probabilities ``(..., S, C)``, summed over latents S."""
    return (torch.exp(log_p) * (log_p - log_q)).sum((-2, -1))


def categorical_entropy(log_p: torch.Tensor) -> torch.Tensor:
    """Entropy ``(...)`` of log-probabilities ``(..., C)``."""
    return -(torch.exp(log_p) * log_p).sum(-1)


def bounded_normal(mean_raw: torch.Tensor, std_raw: torch.Tensor, min_std: float,
                   max_std: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean ``tanh(mean_raw)`` and std ``(max - min) * sigmoid(std_raw + 2) + min``."""
    std = (max_std - min_std) * torch.sigmoid(std_raw.float() + 2.0) + min_std
    return torch.tanh(mean_raw.float()), std


def normal_log_prob(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """Log-density ``(...)`` of a diagonal normal at ``x`` (..., A), summed over A."""
    z = (x - mean) / std
    return (-0.5 * z.square() - torch.log(std) - 0.5 * math.log(2 * math.pi)).sum(-1)


def normal_entropy(std: torch.Tensor) -> torch.Tensor:
    """Entropy ``(...)`` of a diagonal normal with std (..., A), summed over A."""
    return (torch.log(std) + 0.5 * math.log(2 * math.pi * math.e)).sum(-1)


def bernoulli_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Negative log-likelihood ``(...)`` of (possibly soft) targets under Bernoulli logits."""
    return functional.binary_cross_entropy_with_logits(logits.float(), target.float(),
                                                       reduction="none")
