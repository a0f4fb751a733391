"""Imagined actor-critic (DreamerV3 ``imag_loss`` and ``repl_loss``).

From every posterior state of the batch (N = B * T starts) the policy is rolled out through the
prior for ``H`` steps without gradients (DreamerV3 trains the actor with REINFORCE and stops
gradients into the world model), giving ``H + 1`` states. Rewards, continue probabilities and
values are predicted on them; lambda-returns use ``disc = 1`` because the discount
``1 - 1/333`` is folded into the continue head. The advantage is divided by
``max(1, EMA(P95) - EMA(P5))`` of the returns. The critic is a two-hot value head trained on the
lambda-returns plus a cross-entropy towards a slow EMA copy of itself, and additionally on
lambda-returns of the replayed posterior trajectory (bootstrapped with the imagined returns).
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn import functional

from offboard.dreamer.config import DreamerConfig
from offboard.dreamer.distributions import TwoHot
from offboard.dreamer.heads import Head, Policy
from offboard.dreamer.onehot import OneHotFeat
from offboard.dreamer.world_model import WorldModel


class ReturnNormalizer(nn.Module):
    """EMA of the 5th and 95th percentile of returns; scale ``max(limit, hi - lo)``."""

    def __init__(self, rate: float, limit: float, low: float = 5.0, high: float = 95.0) -> None:
        super().__init__()
        self.rate, self.limit = rate, limit
        self.quantiles = (low / 100.0, high / 100.0)
        self.register_buffer("low", torch.zeros(()))
        self.register_buffer("high", torch.zeros(()))

    @torch.no_grad()
    def update(self, returns: torch.Tensor) -> None:
        """Fold the percentiles of ``returns`` (any shape) into the EMAs."""
        flat = returns.detach().float().flatten()
        low, high = torch.quantile(flat, torch.tensor(self.quantiles, device=flat.device))
        self.low.mul_(1.0 - self.rate).add_(self.rate * low)
        self.high.mul_(1.0 - self.rate).add_(self.rate * high)

    def scale(self) -> torch.Tensor:
        """Current scale ``max(limit, hi - lo)`` (scalar tensor)."""
        return torch.clamp(self.high - self.low, min=self.limit)


def lambda_return(last: torch.Tensor, term: torch.Tensor, reward: torch.Tensor,
                  value: torch.Tensor, boot: torch.Tensor, disc: float,
                  lam: float) -> torch.Tensor:
    """DreamerV3 lambda-returns.

    Args: all (N, T+1): ``last``/``term`` as floats, ``reward[:, t]`` received on entering
    step ``t``, ``value`` (unused beyond its shape, as in DreamerV3) and ``boot`` bootstrap values.
    Returns: (N, T) returns for steps ``0 .. T-1``.
    """
    live = (1.0 - term[:, 1:]) * disc
    cont = (1.0 - last[:, 1:]) * lam
    interm = reward[:, 1:] + (1.0 - cont) * live * boot[:, 1:]
    returns = torch.empty_like(interm)
    running = boot[:, -1]
    for t in reversed(range(interm.shape[1])):
        running = interm[:, t] + live[:, t] * cont[:, t] * running
        returns[:, t] = running
    return returns


class ActorCritic(nn.Module):
    """Policy, value head, slow value copy and return normaliser."""

    def __init__(self, feat_dim: int, action_dim: int, discrete: bool,
                 config: DreamerConfig) -> None:
        super().__init__()
        size = config.size
        self.config = config
        self.policy = Policy(feat_dim, size.units, size.policy_layers, action_dim, discrete,
                             config.unimix, config.min_std, config.max_std)
        self.value = Head(feat_dim, size.units, size.value_layers, config.bins, 0.0)
        self.slow_value = copy.deepcopy(self.value).requires_grad_(False)
        self.return_norm = ReturnNormalizer(config.return_norm_rate, config.return_norm_limit)

    @torch.no_grad()
    def update_slow(self) -> None:
        """``slow <- (1 - rate) * slow + rate * value`` for every parameter."""
        rate = self.config.slow_rate
        for slow, fast in zip(self.slow_value.parameters(), self.value.parameters(),
                              strict=True):
            slow.lerp_(fast, rate)

    def imagine(self, world_model: WorldModel, deter: torch.Tensor,
                stoch: torch.Tensor) -> dict[str, OneHotFeat | torch.Tensor | tuple]:
        """Roll out the policy from starts ``deter`` (N, D), ``stoch`` (N, S, C) (one-hot
        posterior samples).

        The world model runs without gradients; the policy's distribution parameters keep
        theirs so that the actor loss reuses them instead of evaluating the policy again (the
        same numbers: the parameters do not change between rollout and loss). Latents are
        carried as class indices (see :mod:`offboard.dreamer.onehot`).

        Returns ``feat`` (N, H+1, F) as a :class:`OneHotFeat`, ``action`` (N, H, A) (the
        action taken in each of the first H states; the last state's action enters no loss)
        and ``policy`` parameters, each (N, H, ...).
        """
        rssm, horizon = world_model.rssm, self.config.imag_horizon
        index = stoch.detach().argmax(-1)
        deters, indices, actions, params = [deter], [index], [], []
        for _ in range(horizon):
            step_params = self.policy(OneHotFeat(deter, index, rssm.classes))
            with torch.no_grad():
                action = self.policy.sample(tuple(p.detach() for p in step_params))
                deter, index = rssm.imagine_step(deter, index, action.to(deter.dtype))
            deters.append(deter)
            indices.append(index)
            actions.append(action)
            params.append(step_params)
        feat = OneHotFeat(torch.stack(deters, 1), torch.stack(indices, 1), rssm.classes)
        stacked = tuple(torch.stack(group, 1) for group in zip(*params, strict=True))
        return {"feat": feat, "action": torch.stack(actions, 1), "policy": stacked}

    def imagination_loss(self, world_model: WorldModel, feat: OneHotFeat,
                         action: torch.Tensor, params: tuple[torch.Tensor, ...],
                         ) -> tuple[dict[str, torch.Tensor], torch.Tensor, dict[str, float]]:
        """Policy and value losses (N, H) on imagined ``feat`` (N, H+1, F), ``action``
        (N, H, A) and policy parameters (N, H, ...) (see :meth:`imagine`); also returns the
        lambda-returns (N, H) and metrics."""
        config, horizon = self.config, feat.shape[1] - 1
        with torch.no_grad():  # rewards enter on steps 1..H; the start state's is unused
            reward = functional.pad(world_model.reward(feat.map(lambda t: t[:, 1:])), (1, 0))
            cont = world_model.cont(feat)
            slow_feat = feat if config.slow_target else feat.map(lambda t: t[:, :-1])
            slow_pred = TwoHot(self.slow_value(slow_feat)).pred()
        value_logits = self.value(feat)
        with torch.no_grad():
            value = TwoHot(value_logits).pred()
        target_value = slow_pred if config.slow_target else value
        weight = torch.cumprod(cont, 1)
        returns = lambda_return(torch.zeros_like(cont), 1.0 - cont, reward, target_value,
                                target_value, 1.0, config.lam)
        self.return_norm.update(returns)
        scale = self.return_norm.scale()
        advantage = (returns - target_value[:, :-1]) / scale
        log_prob = self.policy.log_prob(params, action)
        entropy = self.policy.entropy(params)
        policy_loss = -weight[:, :-1] * (log_prob * advantage.detach() +
                                         config.actor_entropy * entropy)
        # the loss on all H + 1 logits, the last step dropped afterwards: same numbers, and no
        # backward through a slice of the (N, H + 1, bins) logits
        slow_targets = functional.pad(slow_pred, (0, horizon + 1 - slow_pred.shape[1]))
        value_loss = weight[:, :-1] * TwoHot(value_logits).mixed_loss(
            (functional.pad(returns, (0, 1)), slow_targets),
            (1.0, config.slow_regularizer))[:, :-1]
        metrics = {
            "imag/return_mean": float(returns.mean()), "imag/return_scale": float(scale),
            "imag/reward_mean": float(reward.mean()), "imag/cont_mean": float(cont.mean()),
            "imag/entropy": float(entropy.detach().mean()),
            "imag/advantage_abs": float(advantage.abs().mean()),
        }
        return {"policy": policy_loss, "value": value_loss}, returns, metrics

    def replay_value_loss(self, feat: torch.Tensor, reward: torch.Tensor, is_last: torch.Tensor,
                          is_terminal: torch.Tensor, boot: torch.Tensor) -> torch.Tensor:
        """Critic loss (B, T-1) on the replayed trajectory.

        Args: ``feat`` (B, T, F) posterior features (not detached: as with DreamerV3's
        ``repval_grad``, this loss also trains the world model), ``reward``,
        ``is_last``, ``is_terminal`` (B, T), ``boot`` (B, T) imagined returns from each state.
        """
        config = self.config
        value_logits = self.value(feat)
        with torch.no_grad():
            slow_pred = TwoHot(self.slow_value(feat)).pred()
            value = TwoHot(value_logits).pred()
        target_value = slow_pred if config.slow_target else value
        last, term = is_last.float(), is_terminal.float()
        disc = 1.0 - 1.0 / config.return_horizon
        returns = lambda_return(last, term, reward.float(), target_value, boot, disc, config.lam)
        weight = 1.0 - last[:, :-1]
        losses = TwoHot(value_logits).mixed_loss((functional.pad(returns, (0, 1)), slow_pred),
                                                 (1.0, config.slow_regularizer))
        return weight * losses[:, :-1]
