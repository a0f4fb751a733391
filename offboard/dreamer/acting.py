"""The acting step: one stateless function shared by in-process acting and the ONNX export.

``step(obs, deter, stoch, prev_action, is_first, stoch_noise, action_noise)``:

1. where ``is_first`` is set, ``deter``, ``stoch`` and ``prev_action`` become zero;
2. RSSM core step from (``deter``, ``stoch``, ``prev_action``) gives the new ``deter``;
3. posterior from the new ``deter`` and the observation embedding; ``stoch`` is its Gumbel-max
   sample (``stoch_noise`` uniform (N, S, C)) or, in mode variant, its argmax;
4. the policy on ``feat`` gives the action: discrete spaces by Gumbel-max from ``action_noise``
   (uniform (N, K)) or argmax, continuous ones ``mean + std * action_noise`` (standard normal
   (N, A)) or the mean, clipped to [-1, 1].

Outputs ``action`` (env value: float (N, A), or int64 (N,) = index + low for discrete spaces),
``action_features`` (N, A) — exactly what to pass back as ``prev_action`` (one-hot for discrete) —
and the new ``deter`` (N, D), ``stoch`` (N, S, C).
"""

from __future__ import annotations

import torch
from torch import nn

from offboard.dreamer.distributions import gumbel_argmax, one_hot
from offboard.dreamer.heads import Policy
from offboard.dreamer.world_model import WorldModel


class ActingStep(nn.Module):
    """Encoder -> RSSM posterior update -> actor (see module docstring), always float32."""

    def __init__(self, world_model: WorldModel, policy: Policy, obs_keys: list[str],
                 action_low: int, sample: bool) -> None:
        super().__init__()
        self.world_model, self.policy = world_model, policy
        self.obs_keys, self.action_low, self.sample = list(obs_keys), action_low, sample

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Positional inputs: each observation key (N, *shape) in ``obs_keys`` order, then
        ``deter`` (N, D), ``stoch`` (N, S, C), ``prev_action`` (N, A), ``is_first`` (N,) float,
        and when sampling ``stoch_noise`` (N, S, C), ``action_noise`` (N, K or A).
        Returns ``action``, ``action_features``, ``deter``, ``stoch``."""
        count = len(self.obs_keys)
        obs = {k: x.unsqueeze(1) for k, x in zip(self.obs_keys, inputs[:count], strict=True)}
        deter, stoch, prev_action, is_first = inputs[count:count + 4]
        noises = inputs[count + 4:] if self.sample else (None, None)
        keep = 1.0 - is_first.float().unsqueeze(-1)
        rssm = self.world_model.rssm
        deter = rssm.core(deter * keep, stoch * keep.unsqueeze(-1),
                          rssm.action_input(prev_action * keep))
        embed = self.world_model.encoder(obs).squeeze(1)
        post = rssm.posterior(deter, rssm.embed_input(embed))
        index = gumbel_argmax(post, noises[0]) if self.sample else torch.argmax(post, -1)
        stoch = one_hot(index, rssm.classes)
        params = self.policy(self.world_model.feat(deter, stoch))
        return (*self._action(params, noises[1]), deter, stoch)

    def _action(self, params: tuple[torch.Tensor, ...],
                noise: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        if self.policy.discrete:
            log_probs = params[0]
            index = gumbel_argmax(log_probs, noise) if self.sample else torch.argmax(log_probs, -1)
            return index + self.action_low, one_hot(index, self.policy.action_dim)
        action = self.policy.sample(params, noise) if self.sample else params[0]
        action = torch.clamp(action, -1.0, 1.0)
        return action, action
