"""Tests of offboard.dreamer.layers: the fused RMSNorm -> SiLU against plain autograd."""

from __future__ import annotations

import torch
from torch.nn import functional

from offboard.dreamer.layers import norm_silu, rms_norm


def test_fused_norm_silu_passes_gradcheck_in_float64() -> None:
    x = torch.randn(5, 3, 8, dtype=torch.float64, requires_grad=True)
    scale = (1.0 + 0.3 * torch.randn(8, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: norm_silu(a, b, 1e-4), (x, scale))


def test_fused_norm_silu_matches_autograd_in_bfloat16() -> None:
    x0 = torch.randn(64, 32).bfloat16()
    scale0 = 1.0 + 0.3 * torch.randn(32)
    upstream = torch.randn(64, 32).bfloat16()
    results = []
    for fused in (True, False):
        x, scale = x0.clone().requires_grad_(), scale0.clone().requires_grad_()
        out = (norm_silu(x, scale, 1e-4) if fused
               else functional.silu(rms_norm(x, scale, 1e-4)))
        out.backward(upstream)
        assert out.dtype == torch.bfloat16 and x.grad.dtype == torch.bfloat16
        assert scale.grad.dtype == torch.float32
        results.append((out.detach().float(), x.grad.float(), scale.grad))
    for fused, plain in zip(*results, strict=True):
        assert torch.allclose(fused, plain, rtol=0.03, atol=0.03 * float(plain.abs().max()))


def test_norm_silu_without_gradients_uses_plain_ops() -> None:
    x, scale = torch.randn(4, 16), torch.ones(16)
    with torch.no_grad():
        out = norm_silu(x, scale, 1e-4)
    assert out.grad_fn is None
    assert torch.allclose(out, functional.silu(rms_norm(x, scale, 1e-4)))
