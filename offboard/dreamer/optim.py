"""LaProp with adaptive gradient clipping (DreamerV3's optimizer chain), over all parameters.

Per update ``k`` (from 1) and parameter ``p`` with gradient ``g``:

1. AGC: ``g *= 1 / max(1, |g| / (agc * max(pmin, |p|)))`` (L2 norms of the whole tensor;
   ``agc <= 0`` disables it);
2. RMS: ``nu = beta2 nu + (1 - beta2) g^2``, ``u = g / (sqrt(nu / (1 - beta2^k)) + eps)``;
3. momentum on the normalised step: ``mu = beta1 mu + (1 - beta1) u``,
   ``p -= lr_k * mu / (1 - beta1^k)`` with ``lr_k = lr * min(1, k / warmup)``.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from offboard.dreamer.config import OptimizerConfig


class LaProp(torch.optim.Optimizer):
    """The optimizer described in the module docstring (one parameter group)."""

    def __init__(self, params: Iterable[torch.nn.Parameter], config: OptimizerConfig) -> None:
        super().__init__(list(params), {"lr": config.lr})
        self.config = config
        self.updates = 0

    def learning_rate(self, update: int) -> float:
        """Learning rate of update ``update`` (counted from 1)."""
        warmup = self.config.warmup
        return self.config.lr * (min(1.0, update / warmup) if warmup > 0 else 1.0)

    def _moments(self, params: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        nus, mus = [], []
        for param in params:
            state = self.state[param]
            if not state:
                state["nu"] = torch.zeros_like(param, memory_format=torch.preserve_format)
                state["mu"] = torch.zeros_like(param, memory_format=torch.preserve_format)
            nus.append(state["nu"])
            mus.append(state["mu"])
        return nus, mus

    @torch.no_grad()
    def step(self, closure: None = None) -> dict[str, float]:  # type: ignore[override]
        """Apply one update; returns ``{'grad_norm', 'clip_fraction', 'lr'}``."""
        config = self.config
        params = [p for group in self.param_groups for p in group["params"] if p.grad is not None]
        if not params:
            return {"grad_norm": 0.0, "clip_fraction": 0.0, "lr": 0.0}
        grads = [p.grad for p in params]
        self.updates += 1
        grad_norms = torch.stack(torch._foreach_norm(grads))
        param_norms = torch.stack(torch._foreach_norm(params))
        if config.agc > 0.0:
            upper = config.agc * torch.clamp(param_norms, min=config.agc_pmin)
            factors = 1.0 / torch.clamp(grad_norms / upper, min=1.0)
            torch._foreach_mul_(grads, list(factors.unbind()))
        else:
            factors = torch.ones_like(grad_norms)
        nus, mus = self._moments(params)
        torch._foreach_mul_(nus, config.beta2)
        torch._foreach_addcmul_(nus, grads, grads, value=1.0 - config.beta2)
        bias2 = 1.0 - config.beta2 ** self.updates
        denominators = torch._foreach_div(nus, bias2)
        torch._foreach_sqrt_(denominators)
        torch._foreach_add_(denominators, config.eps)
        steps = torch._foreach_div(grads, denominators)
        torch._foreach_mul_(mus, config.beta1)
        torch._foreach_add_(mus, steps, alpha=1.0 - config.beta1)
        bias1 = 1.0 - config.beta1 ** self.updates
        lr = self.learning_rate(self.updates)
        torch._foreach_add_(params, mus, alpha=-lr / bias1)
        for group in self.param_groups:
            group["lr"] = lr
        return {"grad_norm": float(torch.linalg.vector_norm(grad_norms)),
                "clip_fraction": float((factors < 1.0).float().mean()), "lr": lr}

    def state_dict(self) -> dict:
        """Torch optimizer state plus the update counter."""
        state = super().state_dict()
        state["updates"] = self.updates
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        """Inverse of :meth:`state_dict`."""
        state_dict = dict(state_dict)
        self.updates = int(state_dict.pop("updates"))
        super().load_state_dict(state_dict)
