"""Recurrent state-space model (DreamerV3 RSSM with a block-diagonal GRU).

Core step (``img_step``), given ``deter`` (N, D), ``stoch`` (N, S, C), ``action`` (N, A):

1. ``action / max(1, |action|)``; three projections ``Dense(deter)``, ``Dense(stoch.flat)``,
   ``Dense(action)`` of width ``hidden`` each, concatenated to ``x`` (N, 3 * hidden);
2. every GRU block sees its slice of ``deter`` plus all of ``x``: ``BlockLinear`` to D, RMSNorm,
   SiLU, then ``BlockLinear`` to 3 D split per block into reset, candidate and update gates;
3. ``cand = tanh(sigmoid(reset) * cand)``, ``update = sigmoid(update - 1)``,
   ``deter' = update * cand + (1 - update) * deter``.

The block input ``[deter_g, x]`` is computed as ``W_g deter_g + W_x x`` so that ``x`` is not
copied once per block (the same parameters and result as DreamerV3's repeat-and-concatenate).
Prior logits come from ``deter`` alone, posterior logits from ``deter`` and the embedding; both
are mixed with 1 % uniform. Samples are straight-through one-hots. ``observe`` zero-masks
``deter``, ``stoch`` and the action wherever ``is_first`` is set.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from offboard.dreamer.deferred import DeferredWeights
from offboard.dreamer.distributions import (
    categorical_kl,
    gumbel_argmax,
    inverse_cdf_index,
    one_hot,
    straight_through,
    unimix_logits,
    unimix_probs,
)
from offboard.dreamer.layers import MLP, BlockLinear, Dense, RMSNorm, linear
from offboard.dreamer.onehot import OneHotFeat

#: linear layers of the filter step whose weight gradients are deferred (see
#: :mod:`offboard.dreamer.deferred`): one product over all steps instead of one per step.
DEFERRED = ("in_deter", "in_stoch", "gru_hidden_input", "post_deter", "post_logits")
#: block-diagonal layers that the filter step runs as one dense deferred product with the blocks
#: laid on the diagonal (built once per sequence): on B rows per step the extra zeros cost
#: nothing and one call replaces the eight of the grouped product. Imagination (B * T rows)
#: keeps the grouped product.
DEFERRED_BLOCKS = ("gru_hidden_deter", "gru_gates")


class RSSM(nn.Module):
    """The world model's latent dynamics (see module docstring)."""

    def __init__(self, deter: int, hidden: int, stoch: int, classes: int, action_dim: int,
                 embed_dim: int, blocks: int = 8, prior_layers: int = 2,
                 unimix: float = 0.01) -> None:
        super().__init__()
        self.deter, self.stoch, self.classes, self.blocks = deter, stoch, classes, blocks
        self.unimix = unimix
        self.in_deter = Dense(deter, hidden)
        self.in_stoch = Dense(stoch * classes, hidden)
        self.in_action = Dense(action_dim, hidden)
        self.gru_hidden_deter = BlockLinear(deter, deter, blocks)
        self.gru_hidden_input = linear(3 * hidden, deter, bias=False)
        self.gru_hidden_norm = RMSNorm(deter)
        self.gru_gates = BlockLinear(deter, 3 * deter, blocks)
        self.prior_net = MLP(deter, hidden, prior_layers)
        self.prior_logits = linear(hidden, stoch * classes)
        self.post_deter = linear(deter, hidden)
        self.post_embed = linear(embed_dim, hidden, bias=False)
        self.post_norm = RMSNorm(hidden)
        self.post_logits = linear(hidden, stoch * classes)
        self._deferred: dict[str, DeferredWeights] | None = None

    @property
    def feat_dim(self) -> int:
        """Width of ``feat = concat(deter, stoch.flat)``."""
        return self.deter + self.stoch * self.classes

    def initial(self, batch: int, device: torch.device | None = None) -> dict[str, torch.Tensor]:
        """Zero state: ``deter`` (batch, D), ``stoch`` (batch, S, C)."""
        return {"deter": torch.zeros(batch, self.deter, device=device),
                "stoch": torch.zeros(batch, self.stoch, self.classes, device=device)}

    def action_input(self, action: torch.Tensor) -> torch.Tensor:
        """Projected action (..., hidden) after ``a / max(1, |a|)``."""
        action = action / torch.clamp(torch.abs(action), min=1.0).detach()
        return self.in_action(action)

    def core(self, deter: torch.Tensor, stoch: torch.Tensor | OneHotFeat,
             action_hidden: torch.Tensor) -> torch.Tensor:
        """GRU step: ``deter`` (N, D), ``stoch`` (N, S, C) (or its indices as a
        :class:`OneHotFeat` with empty ``dense``), projected action (N, hidden) -> new
        ``deter`` (N, D)."""
        stoch_input = stoch if isinstance(stoch, OneHotFeat) else stoch.flatten(1)
        x = torch.cat([self._dense("in_deter", deter), self._dense("in_stoch", stoch_input),
                       action_hidden], -1)
        hidden = self._linear("gru_hidden_deter", deter) + self._linear("gru_hidden_input", x)
        hidden = self.gru_hidden_norm.silu(hidden)  # flat over all blocks
        reset, cand, update = self._gates(hidden).chunk(3, -1)
        cand = torch.tanh(torch.sigmoid(reset) * cand)
        update = torch.sigmoid(update - 1.0)
        return torch.lerp(deter.to(cand.dtype), cand, update)  # update*cand + (1-update)*deter

    def _gates(self, hidden: torch.Tensor) -> torch.Tensor:
        """Gate pre-activations (N, 3 D) as ``[reset | candidate | update]``, each (N, D) block
        after block (``gru_gates`` lays them out per block: three per block)."""
        deferred = self._deferred.get("gru_gates") if self._deferred else None
        if deferred is not None:  # its rows were put in this order when it was built
            return deferred.linear(hidden)
        gates = self.gru_gates(hidden).reshape(hidden.shape[0], self.blocks, 3, -1)
        return gates.transpose(1, 2).reshape(hidden.shape[0], -1)

    def prior(self, deter: torch.Tensor) -> torch.Tensor:
        """Prior log-probabilities (..., S, C) (uniform-mixed) from ``deter`` (..., D)."""
        return torch.log(self.prior_probs(deter))

    def prior_probs(self, deter: torch.Tensor) -> torch.Tensor:
        """Prior probabilities (..., S, C) (uniform-mixed) from ``deter`` (..., D)."""
        logits = self.prior_logits(self.prior_net(deter))
        return unimix_probs(logits.unflatten(-1, (self.stoch, self.classes)), self.unimix)

    def imagine_step(self, deter: torch.Tensor, index: torch.Tensor,
                     action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One prior step without gradients: ``deter`` (N, D), ``stoch`` as class indices
        ``index`` (N, S) and ``action`` (N, A) -> next ``deter`` and ``index`` (sampled by
        inverse CDF)."""
        stoch = OneHotFeat(deter[:, :0], index, self.classes)
        deter = self.core(deter, stoch, self.action_input(action))
        return deter, inverse_cdf_index(self.prior_probs(deter))

    def posterior(self, deter: torch.Tensor, embed_hidden: torch.Tensor) -> torch.Tensor:
        """Posterior log-probabilities (N, S, C) from ``deter`` (N, D) and the projected
        embedding (N, hidden) (see :meth:`embed_input`)."""
        x = self.post_norm.silu(self._linear("post_deter", deter) + embed_hidden)
        logits = self._linear("post_logits", x).unflatten(-1, (self.stoch, self.classes))
        return unimix_logits(logits, self.unimix)

    def embed_input(self, embed: torch.Tensor) -> torch.Tensor:
        """Embedding part of the posterior's first layer, (..., E) -> (..., hidden)."""
        return self.post_embed(embed)

    def sample(self, log_probs: torch.Tensor, uniform: torch.Tensor | None = None,
               gumbel: torch.Tensor | None = None) -> torch.Tensor:
        """Straight-through one-hot sample (..., S, C) by Gumbel-max: ``gumbel`` noise if given,
        else from ``uniform`` (drawn here if not given)."""
        if gumbel is not None:
            index = torch.argmax(log_probs.detach() + gumbel, -1)
        else:
            uniform = torch.rand_like(log_probs) if uniform is None else uniform
            index = gumbel_argmax(log_probs.detach(), uniform)
        sample = one_hot(index, self.classes)
        return straight_through(sample, log_probs) if log_probs.requires_grad else sample

    def observe(self, embed: torch.Tensor, prev_action: torch.Tensor, is_first: torch.Tensor,
                state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Filter a sequence.

        Args:
            embed: encoder output (B, T, E).
            prev_action: action fed into each step (B, T, A) (the action chosen at ``t - 1``).
            is_first: (B, T) bool; resets state and action to zero where set.
            state: start ``deter`` (B, D) and ``stoch`` (B, S, C).

        Returns:
            ``deter`` (B, T, D), ``stoch`` (B, T, S, C) and ``post`` log-probs (B, T, S, C).
        """
        keep = (~is_first).to(embed.dtype)
        action_hidden = self.action_input(prev_action * keep.unsqueeze(-1))
        embed_hidden = self.embed_input(embed)
        return self._filter(embed_hidden, action_hidden, keep, state["deter"], state["stoch"])

    def _linear(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """Linear layer ``name`` on ``x``, with deferred weight gradients inside the filter."""
        deferred = self._deferred.get(name) if self._deferred else None
        return deferred.linear(x) if deferred is not None else getattr(self, name)(x)

    def _dense(self, name: str, x: torch.Tensor | OneHotFeat) -> torch.Tensor:
        """Dense layer ``name`` (linear, RMSNorm, SiLU) on ``x``, like :meth:`_linear`."""
        layer = getattr(self, name)
        deferred = self._deferred.get(name) if self._deferred else None
        if deferred is not None and isinstance(x, torch.Tensor):
            return layer.norm.silu(deferred.linear(x))
        return layer(x)

    @contextlib.contextmanager
    def _deferring(self) -> Iterator[None]:
        """Within: the step layers of :data:`DEFERRED` use :class:`DeferredWeights`."""
        if not torch.is_grad_enabled():
            yield
            return
        layers = {name: getattr(self, name) for name in DEFERRED}
        layers = {name: getattr(layer, "linear", layer) for name, layer in layers.items()}
        self._deferred = {name: DeferredWeights(layer.weight, layer.bias)
                          for name, layer in layers.items()}
        for name in DEFERRED_BLOCKS:
            layer = getattr(self, name)
            weight, bias = layer.dense_weight(), layer.bias
            if name == "gru_gates":  # rows reordered per gate, see _gates
                order = torch.arange(bias.shape[0], device=bias.device)
                order = order.view(self.blocks, 3, -1).transpose(0, 1).reshape(-1)
                weight, bias = weight[order], bias[order]
            self._deferred[name] = DeferredWeights(weight, bias)
        try:
            yield
        finally:
            self._deferred = None

    def _filter(self, embed_hidden: torch.Tensor, action_hidden: torch.Tensor,
                keep: torch.Tensor, deter: torch.Tensor,
                stoch: torch.Tensor) -> dict[str, torch.Tensor]:
        """The sequential part of :meth:`observe` (measured: running it in float32 instead of
        the compute dtype made no difference in speed)."""
        with self._deferring():
            return self._filter_loop(embed_hidden, action_hidden, keep, deter, stoch)

    def _filter_loop(self, embed_hidden: torch.Tensor, action_hidden: torch.Tensor,
                     keep: torch.Tensor, deter: torch.Tensor,
                     stoch: torch.Tensor) -> dict[str, torch.Tensor]:
        deters, stochs, posts = [], [], []
        batch, length = keep.shape
        # the Gumbel noise of all steps at once (fewer small ops in the sequential loop)
        uniform = torch.rand(batch, length, self.stoch, self.classes, device=keep.device)
        gumbel = -torch.log(-torch.log(uniform.clamp(torch.finfo(torch.float32).tiny,
                                                      1.0 - 1e-7)))
        # unbind once: indexing [:, t] per step would make the backward allocate and fill a
        # full (B, T, ...) gradient for every step
        steps = zip(embed_hidden.unbind(1), action_hidden.unbind(1),
                    keep.unsqueeze(-1).unbind(1), gumbel.unbind(1), strict=True)
        for embed_t, action_t, mask, gumbel_t in steps:
            deter, stoch, post = self.filter_step(deter, stoch, action_t, embed_t, mask,
                                                  gumbel_t)
            deters.append(deter)
            stochs.append(stoch)
            posts.append(post)
        return {"deter": torch.stack(deters, 1), "stoch": torch.stack(stochs, 1),
                "post": torch.stack(posts, 1)}

    def filter_step(self, deter: torch.Tensor, stoch: torch.Tensor, action_hidden: torch.Tensor,
                    embed_hidden: torch.Tensor, mask: torch.Tensor,
                    gumbel: torch.Tensor | None = None,
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One posterior step: masked core step, posterior, straight-through sample.

        Args: ``deter`` (N, D), ``stoch`` (N, S, C), projected action and embedding
        (N, hidden), ``mask`` (N, 1) (0 where ``is_first``), optional Gumbel noise (N, S, C)
        for the sample (drawn here if not given).
        Returns new ``deter`` (N, D), ``stoch`` (N, S, C), posterior log-probs (N, S, C).
        """
        deter = self.core(deter * mask, stoch * mask.unsqueeze(-1), action_hidden)
        post = self.posterior(deter, embed_hidden)
        return deter, self.sample(post, gumbel=gumbel), post

    def kl_losses(self, post: torch.Tensor, prior: torch.Tensor,
                  free_nats: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Dynamics and representation losses (B, T) from log-probs (B, T, S, C), each clipped
        below at ``free_nats``: ``KL(sg(post) || prior)`` and ``KL(post || sg(prior))``."""
        dyn = categorical_kl(post.detach(), prior)
        rep = categorical_kl(post, prior.detach())
        return torch.clamp(dyn, min=free_nats), torch.clamp(rep, min=free_nats)
