"""Configuration of the learner: size presets (a registry) and the hyper-parameters.

Defaults follow DreamerV3 (danijar/dreamerv3, 2024 ``configs.yaml``). The only deliberate
deviations are documented on the fields (``compute_dtype`` default, convolution strides).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from offboard.dreamer.errors import LearnerError


@dataclass(frozen=True)
class SizePreset:
    """Network sizes of one model preset."""

    deter: int
    """Width D of the deterministic GRU state (a multiple of ``blocks``)."""
    hidden: int
    """Width of the RSSM input projections and prior/posterior hidden layers."""
    classes: int
    """Classes C of each of the ``stoch`` categorical latents."""
    units: int
    """Width of the encoder/decoder MLPs and of every head."""
    depth: int
    """Channels of the first CNN stage (doubled at every stage)."""
    stoch: int = 32
    """Number S of categorical latents."""
    blocks: int = 8
    """Blocks of the block-diagonal GRU."""
    codec_layers: int = 3
    """Hidden layers of the vector encoder and decoder MLPs."""
    policy_layers: int = 3
    """Hidden layers of the policy head."""
    value_layers: int = 3
    """Hidden layers of the value head."""
    reward_layers: int = 1
    """Hidden layers of the reward head."""
    cont_layers: int = 1
    """Hidden layers of the continue head."""
    prior_layers: int = 2
    """Hidden layers between ``deter`` and the prior logits (DreamerV3 ``imglayers``)."""


#: The registry of size presets (names as in DreamerV3, plus ``debug`` and ``bench256``).
PRESETS: dict[str, SizePreset] = {
    "debug": SizePreset(deter=64, hidden=32, classes=4, units=32, depth=4, stoch=8, blocks=8,
                        codec_layers=1, policy_layers=1, value_layers=1, prior_layers=1),
    "bench256": SizePreset(deter=256, hidden=256, classes=16, units=256, depth=16,
                           codec_layers=2),
    "size1m": SizePreset(deter=512, hidden=64, classes=4, units=64, depth=4),
    "size12m": SizePreset(deter=2048, hidden=256, classes=16, units=256, depth=16),
    "size25m": SizePreset(deter=3072, hidden=384, classes=24, units=384, depth=24),
    "size50m": SizePreset(deter=4096, hidden=512, classes=32, units=512, depth=32),
    "size100m": SizePreset(deter=6144, hidden=768, classes=48, units=768, depth=48),
    "size200m": SizePreset(deter=8192, hidden=1024, classes=64, units=1024, depth=64),
    "size400m": SizePreset(deter=12288, hidden=1536, classes=96, units=1536, depth=96),
}


@dataclass(frozen=True)
class LossScales:
    """Weights of the loss terms in the single optimised sum."""

    rec: float = 1.0
    """Observation reconstruction (symlog-MSE vectors, MSE images)."""
    rew: float = 1.0
    """Reward two-hot cross-entropy."""
    con: float = 1.0
    """Continue Bernoulli log-loss."""
    dyn: float = 1.0
    """KL(sg(posterior) || prior), clipped below at ``free_nats``."""
    rep: float = 0.1
    """KL(posterior || sg(prior)), clipped below at ``free_nats``."""
    policy: float = 1.0
    """REINFORCE actor loss on imagined trajectories."""
    value: float = 1.0
    """Critic loss on imagined lambda-returns."""
    repval: float = 0.3
    """Critic loss on lambda-returns of the replayed posterior trajectory."""


@dataclass(frozen=True)
class OptimizerConfig:
    """LaProp with adaptive gradient clipping, one instance over all modules."""

    lr: float = 4e-5
    """Peak learning rate."""
    eps: float = 1e-20
    """Added to the RMS denominator."""
    beta1: float = 0.9
    """Momentum rate (applied after RMS normalisation)."""
    beta2: float = 0.999
    """Second-moment rate."""
    agc: float = 0.3
    """Adaptive clipping: per-parameter gradient norm at most ``agc * max(pmin, |param|)``
    (0 disables it)."""
    agc_pmin: float = 1e-3
    """Floor of the parameter norm used by adaptive clipping."""
    warmup: int = 1000
    """Updates of linear learning-rate warm-up (update k uses ``lr * min(1, k / warmup)``)."""


@dataclass(frozen=True)
class DreamerConfig:
    """Everything the learner needs besides the environment spec."""

    preset: str = "size12m"
    """Name of a :data:`PRESETS` entry."""
    batch_size: int = 16
    """Sequences per training batch (B)."""
    batch_length: int = 64
    """Steps per training sequence (T)."""
    imag_horizon: int = 15
    """Imagined steps H from every posterior state (H + 1 states including the start)."""
    return_horizon: int = 333
    """Effective horizon: discount ``1 - 1/333`` folded into the continue target (contdisc)."""
    lam: float = 0.95
    """Lambda of the lambda-returns."""
    actor_entropy: float = 3e-4
    """Entropy bonus scale of the actor."""
    slow_regularizer: float = 1.0
    """Scale of the critic's cross-entropy towards the slow critic's prediction."""
    slow_rate: float = 0.02
    """EMA rate of the slow critic, applied after every update."""
    slow_target: bool = False
    """Bootstrap lambda-returns from the slow critic instead of the online one (DreamerV3: no)."""
    return_norm_rate: float = 0.01
    """EMA rate of the 5th/95th return percentiles."""
    return_norm_limit: float = 1.0
    """Returns are divided by ``max(limit, EMA(P95) - EMA(P5))``."""
    free_nats: float = 1.0
    """Each KL term is clipped below at this value."""
    unimix: float = 0.01
    """Uniform mixture on latent and discrete-action categoricals."""
    bins: int = 255
    """Bins of the symexp two-hot reward and value heads (over symlog in [-20, 20])."""
    min_std: float = 0.1
    """Lower bound of the bounded-normal policy's standard deviation."""
    max_std: float = 1.0
    """Upper bound of the bounded-normal policy's standard deviation."""
    compute_dtype: str = "bfloat16"
    """'bfloat16' (autocast, as DreamerV3 computes) or 'float32'. Parameters stay float32."""
    device: str = "auto"
    """Where modules, optimizer state and batches live: 'auto' (cuda when
    ``torch.cuda.is_available()``, else cpu), 'cpu', 'cuda' or 'cuda:N'."""
    tune_allocator: bool = True
    """Keep freed memory in the heap (see :mod:`offboard.dreamer.runtime`); ~10x faster
    large-tensor ops on VMs with costly page faults. Process-wide."""
    loss_scales: LossScales = field(default_factory=LossScales)
    """Weights of the loss terms."""
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    """Optimizer settings."""

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise LearnerError(f"unknown preset {self.preset!r}; choose one of {sorted(PRESETS)}")
        if self.compute_dtype not in ("bfloat16", "float32"):
            raise LearnerError(f"compute_dtype must be 'bfloat16' or 'float32', "
                               f"got {self.compute_dtype!r}")
        if self.batch_size < 1 or self.batch_length < 2 or self.imag_horizon < 1:
            raise LearnerError(f"need batch_size >= 1, batch_length >= 2, imag_horizon >= 1; got "
                               f"{self.batch_size}, {self.batch_length}, {self.imag_horizon}")
        if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", self.device):
            raise LearnerError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', "
                               f"got {self.device!r}")
        size = PRESETS[self.preset]
        if size.deter % size.blocks:
            raise LearnerError(f"deter {size.deter} is not a multiple of blocks {size.blocks}")

    @property
    def size(self) -> SizePreset:
        """The resolved size preset."""
        return PRESETS[self.preset]
