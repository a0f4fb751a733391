"""Weight gradients of a layer applied at every step of a sequential loop, computed once.

In the RSSM filter the same small layers run at each of ``T`` steps on only ``B`` rows. Plain
autograd computes each layer's weight gradient per step (``T`` tiny products with inner size
``B``) and accumulates them one by one. :class:`DeferredWeights` instead records each step's
input and output gradient during the backward pass and computes the weight gradient as one
product over all steps when the backward reaches the weights, as cuDNN's RNNs do. Same sums,
in another order.

Usage: ``shared = DeferredWeights(layer.weight, layer.bias)`` before the loop (casts the
weights to the autocast dtype once), ``shared.linear(x)`` inside it.
"""

from __future__ import annotations

import torch


class _Record:
    """Inputs and output gradients recorded by the per-step backward passes."""

    def __init__(self) -> None:
        self.inputs: list[torch.Tensor] = []
        self.grads: list[torch.Tensor] = []


class _Weights(torch.autograd.Function):
    """Identity on (weight, bias) whose backward adds the recorded steps' weight gradient."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, weight: torch.Tensor,
                bias: torch.Tensor, record: _Record, dtype: torch.dtype,
                ) -> tuple[torch.Tensor, torch.Tensor]:
        ctx.record, ctx.dtypes = record, (weight.dtype, bias.dtype)
        return weight.to(dtype, copy=True), bias.to(dtype, copy=True)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad_weight: torch.Tensor,
                 grad_bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, None, None]:
        record = ctx.record
        grads = torch.cat(record.grads)
        inputs = torch.cat(record.inputs)
        weight = grads.t() @ inputs.to(grads.dtype)
        bias = grads.sum(0, dtype=torch.float32)
        record.inputs.clear()
        record.grads.clear()
        return ((weight.float() + grad_weight.float()).to(ctx.dtypes[0]),
                (bias + grad_bias.float()).to(ctx.dtypes[1]), None, None)


class _Linear(torch.autograd.Function):
    """``x @ weight.T + bias`` whose backward records (x, grad) instead of the weight grads."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: torch.Tensor,
                weight: torch.Tensor, weight_t: torch.Tensor, bias: torch.Tensor,
                record: _Record) -> torch.Tensor:
        ctx.x_dtype = x.dtype
        x = x.to(weight.dtype)
        ctx.save_for_backward(x, weight)
        ctx.record = record
        return torch.addmm(bias, x, weight_t)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx,
                 grad: torch.Tensor) -> tuple[torch.Tensor, None, None, None, None]:
        x, weight = ctx.saved_tensors
        ctx.record.inputs.append(x)
        ctx.record.grads.append(grad)
        return (grad @ weight).to(ctx.x_dtype), None, None, None, None


class DeferredWeights:
    """One linear layer's weight and bias prepared for use at every step of a loop."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
        device = weight.device.type
        if bias is None:  # a constant zero bias: its gradient is ignored
            bias = weight.new_zeros(weight.shape[0])
        dtype = (torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device)
                 else weight.dtype)
        self.record = _Record()
        self.weight, self.bias = _Weights.apply(weight, bias, self.record, dtype)
        self.weight_t = self.weight.t()  # once, not a transpose call per step

    def linear(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (N, in) -> (N, out) in the compute dtype."""
        return _Linear.apply(x, self.weight, self.weight_t, self.bias, self.record)
