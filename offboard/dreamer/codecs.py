"""Observation encoder and decoder for vector, image and mixed dict observations.

Keys are split by their space: ``uint8`` spaces of shape ``(H, W, C)`` are images, everything
else is a vector (flattened). Vectors are concatenated, ``symlog``-ed and fed to an MLP; images
are concatenated along channels, scaled to ``x / 255 - 0.5`` and fed to a CNN of 4x4/stride-2
convolutions (depth doubling per stage, RMSNorm over channels, SiLU) down to 4x4 (DreamerV3 uses
stride-1 convolutions followed by max-pooling; strided convolutions are much cheaper on a CPU).
The decoder mirrors this from ``feat``: symlog-MSE for vectors, MSE on ``x / 255 - 0.5`` for
images, both summed over the elements of a key.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from offboard.dreamer.distributions import symexp, symlog
from offboard.dreamer.errors import LearnerError
from offboard.dreamer.layers import MLP, RMSNorm, init_weight_, linear
from shared.spec import Space


def is_image(space: Space) -> bool:
    """True for a ``uint8`` space of shape ``(H, W, C)``."""
    return space.dtype == np.uint8 and len(space.shape) == 3


def split_keys(spaces: Mapping[str, Space]) -> tuple[list[str], list[str]]:
    """Sorted (vector keys, image keys); raises :class:`LearnerError` for unusable images."""
    vectors = sorted(k for k, s in spaces.items() if not is_image(s))
    images = sorted(k for k, s in spaces.items() if is_image(s))
    sizes = {spaces[k].shape[:2] for k in images}
    if len(sizes) > 1:
        raise LearnerError(f"image keys {images} have different sizes {sorted(sizes)}")
    for key in images:
        height, width, _ = spaces[key].shape
        if height != width or height < 8 or height & (height - 1):
            raise LearnerError(f"image {key!r} must be square with a power-of-two side >= 8, "
                               f"got {spaces[key].shape}")
    return vectors, images


class ChannelNorm(nn.Module):
    """RMSNorm over the channel axis of ``(N, C, H, W)``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = RMSNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (N, C, H, W) -> same shape."""
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


def conv(in_channels: int, out_channels: int, transpose: bool = False) -> nn.Module:
    """4x4 stride-2 (transposed) convolution with fan-in initialisation."""
    cls = nn.ConvTranspose2d if transpose else nn.Conv2d
    layer = cls(in_channels, out_channels, 4, 2, 1)
    init_weight_(layer.weight, in_channels * 16)
    nn.init.zeros_(layer.bias)
    return layer


class Encoder(nn.Module):
    """Observation dict (B, T, ...) -> embedding (B, T, E)."""

    def __init__(self, spaces: Mapping[str, Space], units: int, layers: int, depth: int) -> None:
        super().__init__()
        self.vector_keys, self.image_keys = split_keys(spaces)
        self.out_features = 0
        if self.vector_keys:
            width = sum(spaces[k].size for k in self.vector_keys)
            self.mlp = MLP(width, units, layers)
            self.out_features += self.mlp.out_features
        if self.image_keys:
            side = spaces[self.image_keys[0]].shape[0]
            channels = sum(spaces[k].shape[2] for k in self.image_keys)
            stages = int(math.log2(side // 4))
            widths = [channels] + [depth * 2**i for i in range(stages)]
            self.cnn = nn.Sequential(*[
                nn.Sequential(conv(a, b), ChannelNorm(b), nn.SiLU())
                for a, b in itertools.pairwise(widths)])
            self.out_features += widths[-1] * 16

    def forward(self, obs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """``obs[key]`` (B, T, *shape) -> (B, T, E)."""
        outputs = []
        if self.vector_keys:
            lead = obs[self.vector_keys[0]].shape[:2]
            x = torch.cat([obs[k].reshape(*lead, -1).float() for k in self.vector_keys], -1)
            outputs.append(self.mlp(symlog(x)))
        if self.image_keys:
            x = torch.cat([obs[k] for k in self.image_keys], -1)
            lead = x.shape[:2]
            x = x.reshape(-1, *x.shape[2:]).permute(0, 3, 1, 2).float() / 255.0 - 0.5
            outputs.append(self.cnn(x).reshape(*lead, -1))
        return torch.cat(outputs, -1) if len(outputs) > 1 else outputs[0]


class Decoder(nn.Module):
    """``feat`` (B, T, F) -> per-key reconstruction losses (B, T)."""

    def __init__(self, spaces: Mapping[str, Space], feat_dim: int, units: int, layers: int,
                 depth: int) -> None:
        super().__init__()
        self.spaces = dict(spaces)
        self.vector_keys, self.image_keys = split_keys(spaces)
        if self.vector_keys:
            self.mlp = MLP(feat_dim, units, layers)
            self.vector_out = nn.ModuleDict({
                k: linear(self.mlp.out_features, spaces[k].size) for k in self.vector_keys})
        if self.image_keys:
            side = spaces[self.image_keys[0]].shape[0]
            self.channels = [spaces[k].shape[2] for k in self.image_keys]
            stages = int(math.log2(side // 4))
            widths = [depth * 2**i for i in reversed(range(stages))] + [sum(self.channels)]
            self.image_in = linear(feat_dim, widths[0] * 16)
            blocks = []
            for index, (a, b) in enumerate(itertools.pairwise(widths)):
                last = index == len(widths) - 2
                blocks.append(conv(a, b, transpose=True) if last else nn.Sequential(
                    conv(a, b, transpose=True), ChannelNorm(b), nn.SiLU()))
            self.deconv = nn.Sequential(*blocks)
            self.first_width = widths[0]

    def forward(self, feat: torch.Tensor,
                obs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Reconstruction losses ``{key: (B, T)}`` of ``obs[key]`` (B, T, *shape) from ``feat``."""
        lead = feat.shape[:2]
        losses = {}
        if self.vector_keys:
            hidden = self.mlp(feat)
            for key in self.vector_keys:
                target = symlog(obs[key].reshape(*lead, -1).float())
                pred = self.vector_out[key](hidden).float()
                losses[key] = (pred - target).square().sum(-1)
        if self.image_keys:
            x = self.image_in(feat.reshape(-1, feat.shape[-1]))
            x = self.deconv(x.reshape(-1, self.first_width, 4, 4)).float()
            preds = torch.split(x.permute(0, 2, 3, 1), self.channels, -1)
            for key, pred in zip(self.image_keys, preds, strict=True):
                target = obs[key].reshape(-1, *obs[key].shape[2:]).float() / 255.0 - 0.5
                losses[key] = (pred - target).square().sum((1, 2, 3)).reshape(lead)
        return losses

    @torch.no_grad()
    def predict(self, feat: torch.Tensor) -> dict[str, torch.Tensor]:
        """Decoded observations ``{key: (B, T, *shape)}`` from ``feat`` (B, T, F): vectors in
        observation units (symexp of the prediction), images as uint8."""
        lead = feat.shape[:2]
        out = {}
        if self.vector_keys:
            hidden = self.mlp(feat)
            for key in self.vector_keys:
                pred = symexp(self.vector_out[key](hidden).float())
                out[key] = pred.reshape(*lead, *self.spaces[key].shape)
        if self.image_keys:
            x = self.image_in(feat.reshape(-1, feat.shape[-1]))
            x = self.deconv(x.reshape(-1, self.first_width, 4, 4)).float()
            preds = torch.split(x.permute(0, 2, 3, 1), self.channels, -1)
            for key, pred in zip(self.image_keys, preds, strict=True):
                image = ((pred + 0.5) * 255.0).clamp(0, 255).to(torch.uint8)
                out[key] = image.reshape(*lead, *image.shape[1:])
        return out
