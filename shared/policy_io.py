"""The signature of an exported acting step: the names both the exporter and the runtime use.

The ONNX graph is stateless; the runtime owns the recurrent state (the *carry*). Batch size is 1.

Inputs
    ``<key>``        one per model observation key (``EnvSpec.model_keys``), the spec's dtype and
                     shape with a leading batch dim of 1 (images stay uint8 ``(1, H, W, C)``).
    ``deter``        float32 ``(1, D)``: deterministic RSSM state.
    ``stoch``        float32 ``(1, S, C)``: one-hot categorical state (S latents of C classes).
    ``prev_action``  float32 ``(1, A)``: the action actually sent at the previous tick, in the
                     model's action encoding (continuous in [-1, 1]; discrete as one-hot).
    ``is_first``     bool ``(1,)``: True at the first step of an episode; the graph zeroes the
                     carry and ``prev_action`` itself when it is set.
    ``noise_uniform_*``  float32, uniform in (0, 1) (Gumbel-max sampling of categoricals);
    ``noise_normal_*``   float32, standard normal (sampling of continuous actions).
                     Noise inputs exist only in the ``sample`` variant.

Outputs
    ``action``       float32 ``(1, A)``: continuous in [-1, 1], or one-hot for a discrete space.
    ``deter_out``, ``stoch_out``: the new carry, same shapes as ``deter`` and ``stoch``
                     (ONNX forbids one name being both a graph input and a graph output).

``metadata_props`` carry ``spec_hash``, ``policy_version``, ``training_step``, ``preset`` and
``variant`` (``sample`` or ``mode``).

Continuous action spaces of a robot spec must be bounded by [-1, 1] (robots normalise their
commands, as DayDreamer's do); discrete spaces are integer scalars (``Space.discrete``).
"""

from __future__ import annotations

import numpy as np

from shared.errors import SpecError
from shared.spec import EnvSpec

CARRY_INPUTS = ("deter", "stoch", "prev_action", "is_first")
OUTPUTS = ("action", "deter_out", "stoch_out")
#: which output feeds which carry input at the next tick.
CARRY_OUTPUTS = {"deter_out": "deter", "stoch_out": "stoch"}
NOISE_UNIFORM_PREFIX = "noise_uniform"
NOISE_NORMAL_PREFIX = "noise_normal"
METADATA_KEYS = ("spec_hash", "policy_version", "training_step", "preset", "variant")


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
    clash = set(spec.model_keys) & {*CARRY_INPUTS, *OUTPUTS}
    if clash or any(k.startswith("noise_") for k in spec.model_keys):
        raise SpecError(f"observation keys {sorted(clash)} clash with policy input names")


def encode_action(spec: EnvSpec, value: np.ndarray) -> np.ndarray:
    """Robot action -> model encoding ``(A,)`` float32 (one-hot for discrete)."""
    space = spec.action[action_key(spec)]
    if space.discrete:
        onehot = np.zeros(space.classes, np.float32)
        onehot[int(value) - int(space.low)] = 1.0
        return onehot
    return np.asarray(value, np.float32).reshape(-1)


def decode_action(spec: EnvSpec, encoded: np.ndarray) -> np.ndarray:
    """Model encoding ``(A,)`` -> robot action of the spec's dtype and shape."""
    space = spec.action[action_key(spec)]
    if space.discrete:
        return np.asarray(int(np.argmax(encoded)) + int(space.low), space.dtype)
    return np.asarray(encoded, space.dtype).reshape(space.shape)
