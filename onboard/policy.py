"""Running the exported acting step with onnxruntime; the runtime owns the recurrent carry.

:func:`load_policy` builds and *validates* an onnxruntime session (I/O names, dtypes, shapes,
metadata spec hash and variant, see :mod:`shared.policy_io`) — call it off the control thread.
:class:`PolicyRunner` then computes one action per tick. The carry (``deter``, ``stoch``,
``prev_action``) is zeroed on ``is_first`` (by the graph) and on every swap (here), and
``prev_action`` is always the action *actually sent*, after the safety layer.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np

from shared.errors import DaydreamerError
from shared.policy_io import (
    CARRY_INPUTS,
    CARRY_OUTPUTS,
    NOISE_INPUTS,
    OUTPUTS,
    action_key,
    action_size,
    decode_action,
    encode_action,
    noise_kind,
)
from shared.spec import EnvSpec

log = logging.getLogger(__name__)
Mode = Literal["random", "sample", "mode"]
ORT_TYPES = {"tensor(float)": np.float32, "tensor(bool)": np.bool_, "tensor(uint8)": np.uint8,
             "tensor(double)": np.float64, "tensor(int32)": np.int32, "tensor(int64)": np.int64,
             "tensor(float16)": np.float16}


class PolicyLoadError(DaydreamerError):
    """An ONNX policy does not match the robot's spec or the policy signature."""


@dataclass(frozen=True)
class LoadedPolicy:
    """A validated onnxruntime session and what the runner needs to feed it.

    Attributes:
        session: the onnxruntime InferenceSession.
        version: policy version (from the manifest or metadata).
        variant: ``sample`` or ``mode``.
        input_shapes: static shape of every input.
        input_dtypes: numpy dtype of every input.
        noise: names of noise inputs with their kind (``uniform`` or ``normal``).
    """

    session: object
    version: int
    variant: str
    input_shapes: Mapping[str, tuple[int, ...]]
    input_dtypes: Mapping[str, np.dtype]
    noise: Mapping[str, str]


def _static_shape(arg: object, name: str) -> tuple[int, ...]:
    shape = getattr(arg, "shape", None)
    if shape is None or not all(isinstance(d, int) for d in shape):
        raise PolicyLoadError(f"policy input/output {name!r} has a dynamic shape {shape}")
    return tuple(shape)


def load_policy(onnx_bytes: bytes, spec: EnvSpec, version: int | None = None,
                threads: int = 1) -> LoadedPolicy:
    """Build an onnxruntime session and check it against the spec and the policy signature."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    try:
        session = ort.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own untyped errors for bad models
        raise PolicyLoadError(f"onnxruntime cannot load the policy: {error}") from error
    meta = dict(session.get_modelmeta().custom_metadata_map)
    if meta.get("spec_hash") != spec.hash:
        raise PolicyLoadError(f"policy spec hash {str(meta.get('spec_hash'))[:16]} differs from "
                              f"the robot's {spec.hash[:16]}")
    variant = meta.get("variant", "")
    inputs = {arg.name: arg for arg in session.get_inputs()}
    outputs = {arg.name: arg for arg in session.get_outputs()}
    noise = {name: noise_kind(spec, name) for name in NOISE_INPUTS if name in inputs}
    expected = {*spec.model_keys, *CARRY_INPUTS, *noise}
    if set(inputs) != expected or set(outputs) != set(OUTPUTS):
        raise PolicyLoadError(
            f"policy inputs {sorted(inputs)} / outputs {sorted(outputs)} differ from expected "
            f"{sorted(expected)} / {sorted(OUTPUTS)}")
    if variant not in ("sample", "mode") or (variant == "mode") != (not noise):
        raise PolicyLoadError(f"policy variant {variant!r} with noise inputs {sorted(noise)}")
    shapes = {name: _static_shape(arg, name) for name, arg in inputs.items()}
    dtypes = {}
    for name, arg in inputs.items():
        if arg.type not in ORT_TYPES:
            raise PolicyLoadError(f"policy input {name!r} has unsupported type {arg.type}")
        dtypes[name] = np.dtype(ORT_TYPES[arg.type])
    for key in spec.model_keys:
        space = spec.observation[key]
        if shapes[key] != (1, *space.shape) or dtypes[key] != space.dtype:
            raise PolicyLoadError(f"policy input {key!r} is {dtypes[key]} {shapes[key]}, the "
                                  f"spec says {space.dtype} {(1, *space.shape)}")
    _check_action_io(spec, shapes, outputs)
    for output, name in CARRY_OUTPUTS.items():
        if _static_shape(outputs[output], output) != shapes[name]:
            raise PolicyLoadError(f"policy output {output!r} shape differs from input {name!r}")
    meta_version = int(meta.get("policy_version", -1))
    return LoadedPolicy(session, meta_version if version is None else version, variant, shapes,
                        dtypes, noise)


def _check_action_io(spec: EnvSpec, shapes: Mapping[str, tuple[int, ...]],
                     outputs: Mapping[str, object]) -> None:
    width = action_size(spec)
    discrete = spec.action[action_key(spec)].discrete
    action_shape = _static_shape(outputs["action"], "action")
    action_type = getattr(outputs["action"], "type", "")
    expected = ((1,), "tensor(int64)") if discrete else ((1, width), "tensor(float)")
    if (action_shape, action_type) != expected:
        raise PolicyLoadError(f"policy action output is {action_type} {action_shape}, the spec "
                              f"needs {expected[1]} {expected[0]}")
    for name in ("prev_action",):
        if shapes[name] != (1, width):
            raise PolicyLoadError(f"policy {name} shape {shapes[name]}, the spec needs "
                                  f"(1, {width})")
    if _static_shape(outputs["action_features"], "action_features") != (1, width):
        raise PolicyLoadError(f"policy action_features output is not (1, {width})")


class PolicyRunner:
    """One action per tick from the current policy (or uniformly random before the first one).

    Args:
        spec: the robot's spec.
        mode: ``random`` (prefill), ``sample`` (training) or ``mode`` (evaluation); ``sample``
            and ``mode`` need a policy of that variant, until then the runner acts randomly.
        seed: seed of the noise and random-action generator.
    """

    def __init__(self, spec: EnvSpec, mode: Mode = "sample", seed: int = 0) -> None:
        self.spec = spec
        self.mode = mode
        self.key = action_key(spec)
        self.rng = np.random.default_rng(seed)
        self.policy: LoadedPolicy | None = None
        self.carry: dict[str, np.ndarray] = {}
        self.swaps = 0

    @property
    def version(self) -> int:
        """Version of the running policy; -1 while acting randomly."""
        return self.policy.version if self.policy is not None and self.mode != "random" else -1

    def swap(self, policy: LoadedPolicy) -> None:
        """Use ``policy`` from the next tick on; the carry starts from zero."""
        if self.mode != "random" and policy.variant != self.mode:
            raise PolicyLoadError(f"runner in {self.mode!r} mode got a {policy.variant!r} policy")
        self.policy = policy
        self.carry = {name: np.zeros(policy.input_shapes[name], policy.input_dtypes[name])
                      for name in ("deter", "stoch", "prev_action")}
        self.swaps += 1

    def act(self, obs: Mapping[str, np.ndarray]) -> np.ndarray:
        """Action for this tick, in the robot's action space (before the safety layer)."""
        policy = self.policy
        if policy is None or self.mode == "random":
            return self.spec.action[self.key].sample(self.rng)
        feed = {key: np.asarray(obs[key], policy.input_dtypes[key])[None]
                for key in self.spec.model_keys}
        feed.update(self.carry)
        feed["is_first"] = np.asarray([bool(obs["is_first"])], policy.input_dtypes["is_first"])
        for name, kind in policy.noise.items():
            shape = policy.input_shapes[name]
            sample = (self.rng.uniform(1e-6, 1.0 - 1e-6, shape) if kind == "uniform"
                      else self.rng.standard_normal(shape))
            feed[name] = sample.astype(policy.input_dtypes[name])
        outputs = policy.session.run(list(OUTPUTS), feed)  # type: ignore[attr-defined]
        named = dict(zip(OUTPUTS, outputs, strict=True))
        for output, carry in CARRY_OUTPUTS.items():
            self.carry[carry] = named[output]
        action = named["action"]
        return decode_action(self.spec, action[0])

    def sent(self, action: np.ndarray) -> None:
        """Record the action actually sent (after safety) as next tick's ``prev_action``."""
        if self.policy is not None and "prev_action" in self.carry:
            encoded = encode_action(self.spec, action)
            self.carry["prev_action"] = encoded[None].astype(self.carry["prev_action"].dtype)
