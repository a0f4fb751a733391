"""World model: encoder, RSSM, decoder, reward and continue heads, and their losses.

Losses per step (B, T): reconstruction per observation key, reward two-hot cross-entropy,
continue log-loss against ``(1 - is_terminal) * (1 - 1 / return_horizon)`` (DreamerV3
``contdisc``), and the two KL terms clipped at the free nats.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from offboard.dreamer.codecs import Decoder, Encoder
from offboard.dreamer.config import DreamerConfig
from offboard.dreamer.distributions import TwoHot, bernoulli_loss
from offboard.dreamer.heads import Head
from offboard.dreamer.rssm import RSSM
from shared.spec import Space


class WorldModel(nn.Module):
    """Everything trained by the world-model losses."""

    def __init__(self, obs_spaces: Mapping[str, Space], action_dim: int,
                 config: DreamerConfig) -> None:
        super().__init__()
        size = config.size
        self.config = config
        self.encoder = Encoder(obs_spaces, size.units, size.codec_layers, size.depth)
        self.rssm = RSSM(size.deter, size.hidden, size.stoch, size.classes, action_dim,
                         self.encoder.out_features, size.blocks, size.prior_layers,
                         config.unimix)
        feat_dim = self.rssm.feat_dim
        self.decoder = Decoder(obs_spaces, feat_dim, size.units, size.codec_layers, size.depth)
        self.reward_head = Head(feat_dim, size.units, size.reward_layers, config.bins, 0.0)
        self.cont_head = Head(feat_dim, size.units, size.cont_layers, 1, 1.0)

    @staticmethod
    def feat(deter: torch.Tensor, stoch: torch.Tensor) -> torch.Tensor:
        """``concat(deter (..., D), stoch (..., S, C) flattened)`` -> (..., D + S * C)."""
        return torch.cat([deter, stoch.flatten(-2).to(deter.dtype)], -1)

    def reward(self, feat: torch.Tensor) -> torch.Tensor:
        """Predicted reward (...) from ``feat`` (..., F)."""
        return TwoHot(self.reward_head(feat)).pred()

    def cont(self, feat: torch.Tensor) -> torch.Tensor:
        """Predicted continue probability (...) from ``feat`` (..., F)."""
        return torch.sigmoid(self.cont_head(feat).squeeze(-1).float())

    def loss(self, obs: Mapping[str, torch.Tensor], prev_action: torch.Tensor,
             is_first: torch.Tensor, reward: torch.Tensor, is_terminal: torch.Tensor,
             ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """World-model losses.

        Args:
            obs: model observations ``{key: (B, T, *shape)}``.
            prev_action: action fed into each step (B, T, A).
            is_first, is_terminal: (B, T) bool. reward: (B, T) float.

        Returns:
            ``losses`` ``{name: (B, T)}`` (``rec`` summed over keys, ``rew``, ``con``, ``dyn``,
            ``rep``) and ``states`` with posterior ``deter`` (B, T, D), ``stoch`` (B, T, S, C),
            ``feat`` (B, T, F).
        """
        batch = is_first.shape[0]
        embed = self.encoder(obs)
        states = self.rssm.observe(embed, prev_action, is_first,
                                   self.rssm.initial(batch, embed.device))
        feat = self.feat(states["deter"], states["stoch"])
        prior = self.rssm.prior(states["deter"])
        dyn, rep = self.rssm.kl_losses(states["post"], prior, self.config.free_nats)
        recs = self.decoder(feat, obs)
        cont_target = (~is_terminal).float() * (1.0 - 1.0 / self.config.return_horizon)
        losses = {
            "rec": sum(recs.values()),
            "rew": TwoHot(self.reward_head(feat)).loss(reward),
            "con": bernoulli_loss(self.cont_head(feat).squeeze(-1), cont_target),
            "dyn": dyn,
            "rep": rep,
        }
        losses.update({f"rec/{key}": value.detach() for key, value in recs.items()})
        states["feat"] = feat
        return losses, states
