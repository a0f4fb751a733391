"""The DreamerV3 agent: one object that trains on batches, acts in-process and checkpoints.

Batch layout (see :mod:`offboard.dreamer` for the vocabulary): a dict of arrays ``(B, T, ...)``
with every model key of the spec, ``reward``, ``is_first``, ``is_last``, ``is_terminal`` and the
action key. ``batch[action_key][:, t]`` is the action chosen after seeing the observation at
``t``, so step ``t`` of the world model is fed ``action[:, t - 1]``. Each sequence starts from the
zero state: ``is_first[:, 0]`` is treated as set (no carry between batches).
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Mapping
from contextlib import nullcontext
from typing import Any

import numpy as np
import torch

from offboard.dreamer.acting import ActingStep
from offboard.dreamer.behavior import ActorCritic
from offboard.dreamer.config import DreamerConfig
from offboard.dreamer.distributions import one_hot
from offboard.dreamer.errors import BatchError, LearnerError
from offboard.dreamer.optim import LaProp
from offboard.dreamer.runtime import resolve_device, tune_allocator
from offboard.dreamer.world_model import WorldModel
from shared.spec import EnvSpec, Space

logger = logging.getLogger(__name__)

Carry = dict[str, torch.Tensor]
#: loss terms that belong to the world model (the rest train the actor-critic).
WORLD_MODEL_TERMS = ("rec", "rew", "con", "dyn", "rep")


def action_space_of(env_spec: EnvSpec) -> tuple[str, Space]:
    """The single action key and its space; raises :class:`LearnerError` otherwise."""
    if len(env_spec.action) != 1:
        raise LearnerError(f"the learner needs exactly one action key, got {list(env_spec.action)}")
    key, space = next(iter(env_spec.action.items()))
    if space.discrete:
        return key, space
    bounded = np.all(space.low == -1.0) and np.all(space.high == 1.0)
    if space.dtype.kind != "f" or len(space.shape) != 1 or not bounded:
        raise LearnerError(f"action {key!r} must be a discrete int scalar or a float vector in "
                           f"[-1, 1], got {space}")
    return key, space


class Agent:
    """World model + actor-critic + optimizer for one environment spec."""

    def __init__(self, env_spec: EnvSpec, config: DreamerConfig | None = None) -> None:
        self.env_spec, self.config = env_spec, config or DreamerConfig()
        if self.config.tune_allocator:
            tune_allocator()
        self.obs_keys = env_spec.model_keys
        if not self.obs_keys:
            raise LearnerError("the observation spec has no model keys")
        self.action_key, self.action_space = action_space_of(env_spec)
        self.discrete = self.action_space.discrete
        self.action_dim = (self.action_space.classes if self.discrete
                           else self.action_space.shape[0])
        self.action_low = int(self.action_space.low) if self.discrete else 0
        spaces = {k: env_spec.observation[k] for k in self.obs_keys}
        self.device = resolve_device(self.config.device)
        self.world_model = WorldModel(spaces, self.action_dim, self.config).to(self.device)
        self.actor_critic = ActorCritic(self.world_model.rssm.feat_dim, self.action_dim,
                                        self.discrete, self.config).to(self.device)
        params = [p for module in (self.world_model, self.actor_critic)
                  for p in module.parameters() if p.requires_grad]
        self.optimizer = LaProp(params, self.config.optimizer)
        self.updates = 0
        self._acting = {mode: ActingStep(self.world_model, self.actor_critic.policy,
                                         self.obs_keys, self.action_low, sample=not mode)
                        for mode in (False, True)}

    # ----------------------------------------------------------------------------- training
    def _autocast(self) -> Any:
        if self.config.compute_dtype == "bfloat16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return nullcontext()

    def prepare(self, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        """Validate and convert a batch to tensors on the agent's device (through pinned
        memory on CUDA); adds ``prev_action`` (B, T, A)."""
        needed = [*self.obs_keys, "reward", "is_first", "is_last", "is_terminal", self.action_key]
        missing = [k for k in needed if k not in batch]
        if missing:
            raise BatchError(f"batch misses keys {missing}; has {sorted(batch)}")
        data = {k: torch.as_tensor(np.asarray(batch[k])) for k in needed}
        lead = tuple(data["reward"].shape)
        for key in needed:
            shape = (self.env_spec.observation[key].shape if key in self.env_spec.observation
                     else self.action_space.shape)
            if tuple(data[key].shape) != (*lead, *shape) or len(lead) != 2:
                raise BatchError(f"batch[{key!r}] has shape {tuple(data[key].shape)}, expected "
                                 f"(B, T) + {shape} with (B, T) = {lead}")
        data = {k: self._to_device(v) for k, v in data.items()}
        for key in ("is_first", "is_last", "is_terminal"):
            data[key] = data[key].bool()
        data["is_first"] = data["is_first"].clone()
        data["is_first"][:, 0] = True
        action = self.action_features(data[self.action_key])
        data["prev_action"] = torch.cat([torch.zeros_like(action[:, :1]), action[:, :-1]], 1)
        return data

    def _to_device(self, tensor: torch.Tensor) -> torch.Tensor:
        if self.device.type == "cuda":
            return tensor.pin_memory().to(self.device, non_blocking=True)
        return tensor.to(self.device)

    def action_features(self, action: torch.Tensor) -> torch.Tensor:
        """Env actions (..., A) or (...) int -> model features (..., A) (one-hot if discrete)."""
        if self.discrete:
            return one_hot(action.long() - self.action_low, self.action_dim)
        return action.float()

    def train_step(self, batch: Mapping[str, Any]) -> dict[str, float]:
        """One update of all modules on ``batch``; returns float metrics (losses are the
        means of the terms before scaling, times are wall seconds of each phase)."""
        self.world_model.train()
        data = self.prepare(batch)
        times = {"start": time.perf_counter()}
        with self._autocast():
            terms, metrics = self._loss_terms(data, times)
        scales = self.config.loss_scales
        means = {k: v.float().mean() for k, v in terms.items()}
        total = sum(getattr(scales, k) * v for k, v in means.items())
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        opt_metrics = self.optimizer.step()
        self.actor_critic.update_slow()
        self.updates += 1
        times["backward"] = time.perf_counter()
        metrics.update({f"loss/{k}": float(v.detach()) for k, v in means.items()})
        metrics.update({f"opt/{k}": v for k, v in opt_metrics.items()})
        metrics["loss/world_model"] = sum(float(getattr(scales, k) * means[k].detach())
                                          for k in WORLD_MODEL_TERMS)
        metrics.update(self._timings(times))
        metrics["updates"] = float(self.updates)
        return metrics

    def _loss_terms(self, data: dict[str, torch.Tensor], times: dict[str, float],
                    ) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
        """Unscaled loss terms ``{name: (B, T) or (N, H)}`` and metrics; records phase times."""
        obs = {k: data[k] for k in self.obs_keys}
        wm_losses, states = self.world_model.loss(
            obs, data["prev_action"], data["is_first"], data["reward"], data["is_terminal"])
        times["world_model"] = time.perf_counter()
        starts = {k: states[k].detach().flatten(0, 1) for k in ("deter", "stoch")}
        imagined = self.actor_critic.imagine(self.world_model, starts["deter"], starts["stoch"])
        times["imagine"] = time.perf_counter()
        ac_losses, returns, metrics = self.actor_critic.imagination_loss(
            self.world_model, imagined["feat"], imagined["action"], imagined["policy"])
        boot = returns[:, 0].detach().reshape(data["reward"].shape)
        repval = self.actor_critic.replay_value_loss(
            states["feat"], data["reward"], data["is_last"], data["is_terminal"], boot)
        times["actor_critic"] = time.perf_counter()
        metrics.update({f"loss/{k}": float(v.mean()) for k, v in wm_losses.items() if "/" in k})
        terms = {**{k: wm_losses[k] for k in WORLD_MODEL_TERMS}, **ac_losses, "repval": repval}
        return terms, metrics

    @staticmethod
    def _timings(times: dict[str, float]) -> dict[str, float]:
        names = list(times)
        return {f"time/{b}": times[b] - times[a] for a, b in itertools.pairwise(names)}

    # ------------------------------------------------------------------------------ acting
    def initial_carry(self, batch: int = 1) -> Carry:
        """Zero carry: ``deter`` (N, D), ``stoch`` (N, S, C), ``prev_action`` (N, A)."""
        return {**self.world_model.rssm.initial(batch, self.device),
                "prev_action": torch.zeros(batch, self.action_dim, device=self.device)}

    @torch.no_grad()
    def policy(self, carry: Carry, obs: Mapping[str, Any], mode: bool = False,
               generator: torch.Generator | None = None) -> tuple[Carry, np.ndarray]:
        """Act in-process (float32): ``obs`` holds model keys (N, *shape) and ``is_first`` (N,).

        Returns the new carry (on the agent's device) and the env action (N, A) float32 or
        (N,) int64.
        """
        missing = [k for k in (*self.obs_keys, "is_first") if k not in obs]
        if missing:
            raise BatchError(f"observation misses keys {missing}; has {sorted(obs)}")
        self.world_model.eval()
        inputs = [torch.as_tensor(np.asarray(obs[k])).to(self.device) for k in self.obs_keys]
        is_first = torch.as_tensor(np.asarray(obs["is_first"])).float().reshape(-1)
        noises = [] if mode else self.noise(is_first.shape[0], generator)
        is_first, noises = is_first.to(self.device), [n.to(self.device) for n in noises]
        action, features, deter, stoch = self._acting[mode](
            *inputs, carry["deter"], carry["stoch"], carry["prev_action"], is_first, *noises)
        carry = {"deter": deter, "stoch": stoch, "prev_action": features}
        return carry, action.cpu().numpy()

    def noise(self, batch: int, generator: torch.Generator | None = None) -> list[torch.Tensor]:
        """Noise inputs of the sampling step (on the CPU, like ``generator``): uniform
        (N, S, C) and uniform (N, K) or normal (N, A)."""
        rssm = self.world_model.rssm
        stoch = torch.rand(batch, rssm.stoch, rssm.classes, generator=generator)
        if self.discrete:
            return [stoch, torch.rand(batch, self.action_dim, generator=generator)]
        return [stoch, torch.randn(batch, self.action_dim, generator=generator)]

    def acting_step(self, mode: bool) -> ActingStep:
        """The float32 acting module (sampling when ``mode`` is False), on the agent's device;
        it shares the agent's parameters."""
        return self._acting[mode]

    # --------------------------------------------------------------------------- checkpoint
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume: weights, slow critic, return norm, optimizer, counters.

        Loadable with ``torch.load(..., weights_only=True)``; every tensor is a CPU copy, so
        a checkpoint does not depend on the device it was written from.
        """
        return _to_cpu({"world_model": self.world_model.state_dict(),
                        "actor_critic": self.actor_critic.state_dict(),
                        "optimizer": self.optimizer.state_dict(),
                        "updates": self.updates, "preset": self.config.preset,
                        "spec_hash": self.env_spec.hash})

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Inverse of :meth:`state_dict` (tensors move to the agent's device); refuses a
        checkpoint of another spec or preset."""
        same_spec = state.get("spec_hash") == self.env_spec.hash
        if not same_spec or state.get("preset") != self.config.preset:
            raise LearnerError(
                f"checkpoint is for spec {str(state.get('spec_hash'))[:16]} preset "
                f"{state.get('preset')!r}; this agent has spec {self.env_spec.hash[:16]} preset "
                f"{self.config.preset!r}")
        self.world_model.load_state_dict(state["world_model"])
        self.actor_critic.load_state_dict(state["actor_critic"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.updates = int(state["updates"])


def _to_cpu(tree: Any) -> Any:
    """``tree`` (nested dicts/lists of tensors and plain values) with tensors copied to CPU."""
    if isinstance(tree, torch.Tensor):
        return tree.detach().cpu()
    if isinstance(tree, dict):
        return {key: _to_cpu(value) for key, value in tree.items()}
    if isinstance(tree, list | tuple):
        return type(tree)(_to_cpu(value) for value in tree)
    return tree
