"""The signature of an exported acting step: the names both the exporter and the runtime use.

The ONNX graph is stateless; the runtime owns the recurrent state (the *carry*). Batch size is 1.

Inputs
    ``<key>``        one per model observation key (``EnvSpec.model_keys``), the spec's dtype and
                     shape with a leading batch dim of 1 (images stay uint8 ``(1, H, W, C)``).
    ``deter``        float32 ``(1, D)``: deterministic RSSM state.
    ``stoch``        float32 ``(1, S, C)``: one-hot categorical state (S latents of C classes).
    ``prev_action``  float32 ``(1, A)``: the action actually sent at the previous tick, in the
                     model's action encoding (continuous in [-1, 1]; discrete as one-hot).
    ``is_first``     float32 ``(1,)``: 1.0 at the first step of an episode; the graph zeroes the
                     carry and ``prev_action`` itself when it is set.
    ``stoch_noise``  float32 ``(1, S, C)`` uniform in (0, 1): Gumbel-max sampling of ``stoch``.
    ``action_noise`` float32, uniform in (0, 1) ``(1, K)`` for a discrete action (Gumbel-max) or
                     standard normal ``(1, A)`` for a continuous one.
                     The two noise inputs exist only in the ``sample`` variant.

Outputs (ONNX forbids one name being both a graph input and a graph output, hence ``next_``)
    ``action``           float32 ``(1, A)`` in [-1, 1], or int64 ``(1,)`` holding the robot's
                         discrete action value.
    ``action_features``  float32 ``(1, A)``: the model encoding of ``action`` (the runtime feeds
                         back the encoding of the action actually *sent* instead).
    ``next_deter``, ``next_stoch``: the new carry, same shapes as ``deter`` and ``stoch``.

``metadata_props`` carry ``spec_hash``, ``policy_version``, ``training_step``, ``preset``,
``variant`` (``sample`` or ``mode``) and ``action_kind`` (``discrete`` or ``continuous``).

Continuous action spaces of a robot spec must be bounded by [-1, 1] (robots normalise their
commands, as DayDreamer's do); discrete spaces are integer scalars (``Space.discrete``).
"""

from __future__ import annotations

import numpy as np

from shared.errors import SpecError
from shared.spec import EnvSpec

CARRY_INPUTS = ("deter", "stoch", "prev_action", "is_first")
OUTPUTS = ("action", "action_features", "next_deter", "next_stoch")
#: which output feeds which carry input at the next tick.
CARRY_OUTPUTS = {"next_deter": "deter", "next_stoch": "stoch"}
NOISE_INPUTS = ("stoch_noise", "action_noise")
METADATA_KEYS = ("spec_hash", "policy_version", "training_step", "preset", "variant",
                 "action_kind")


def action_key(spec: EnvSpec) -> str:
    """The single action key of a spec the learner supports."""
    if len(spec.action) != 1:
        raise SpecError(f"the learner supports one action key, spec has {sorted(spec.action)}")
    return next(iter(spec.action))


def action_size(spec: EnvSpec) -> int:
    """Width ``A`` of the model's action encoding."""
    space = spec.action[action_key(spec)]
    return space.classes if space.discrete else space.size


def check_learnable(spec: EnvSpec) -> None:
    """Raise :class:`SpecError` unless the learner and exporter can handle ``spec``."""
    key = action_key(spec)
    space = spec.action[key]
    if not space.discrete:
        if space.dtype.kind != "f":
            raise SpecError(f"action {key!r}: continuous actions must be float, got {space}")
        if not (np.all(space.low == -1.0) and np.all(space.high == 1.0)):
            raise SpecError(f"action {key!r}: continuous actions must be bounded by [-1, 1] "
                            f"(normalise on the robot side), got {space}")
    clash = set(spec.model_keys) & {*CARRY_INPUTS, *OUTPUTS, *NOISE_INPUTS}
    if clash:
        raise SpecError(f"observation keys {sorted(clash)} clash with policy input names")


def noise_kind(spec: EnvSpec, name: str) -> str:
    """``uniform`` or ``normal``: the distribution a sampling policy expects on noise input."""
    if name == "stoch_noise":
        return "uniform"
    if name == "action_noise":
        return "uniform" if spec.action[action_key(spec)].discrete else "normal"
    raise SpecError(f"{name!r} is not a noise input; those are {NOISE_INPUTS}")


def encode_action(spec: EnvSpec, value: np.ndarray) -> np.ndarray:
    """Robot action -> model encoding ``(A,)`` float32 (one-hot for discrete)."""
    space = spec.action[action_key(spec)]
    if space.discrete:
        onehot = np.zeros(space.classes, np.float32)
        onehot[int(value) - int(space.low)] = 1.0
        return onehot
    return np.asarray(value, np.float32).reshape(-1)


def decode_action(spec: EnvSpec, output: np.ndarray) -> np.ndarray:
    """The graph's ``action`` output without its batch dim -> robot action (spec dtype/shape)."""
    space = spec.action[action_key(spec)]
    if space.discrete:
        return np.asarray(int(np.reshape(output, -1)[0]), space.dtype)
    return np.asarray(output, space.dtype).reshape(space.shape)
