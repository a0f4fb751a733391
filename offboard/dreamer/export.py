"""ONNX export of the acting step (see :mod:`offboard.dreamer.acting` for the computation).

Graph I/O (batch size 1, float32 unless noted):

inputs
    one per observation model key, named as the key, ``(1, *shape)`` in the space's dtype;
    ``deter`` (1, D); ``stoch`` (1, S, C); ``prev_action`` (1, A) (one-hot for discrete spaces);
    ``is_first`` (1,) float (1.0 at the first step of an episode);
    sampling variant only: ``stoch_noise`` (1, S, C) uniform in (0, 1) and ``action_noise``
    (1, K) uniform in (0, 1) for discrete or (1, A) standard normal for continuous actions.
outputs
    ``action`` (1, A) float32 in [-1, 1] or (1,) int64 env value; ``action_features`` (1, A),
    to be fed back as the next ``prev_action``; ``next_deter`` (1, D); ``next_stoch``
    (1, S, C) (an ONNX graph cannot reuse an input name for an output).

``metadata_props``: ``spec_hash``, ``policy_version``, ``training_step``, ``preset``,
``variant`` (``sample``/``mode``), ``action_kind`` (``discrete``/``continuous``), ``inputs``
and ``outputs`` (comma-separated names in order). Opset 18, one file, no external data.
"""

from __future__ import annotations

import copy
import io
import logging
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import onnx
import torch

from offboard.dreamer.errors import LearnerError

if TYPE_CHECKING:
    from offboard.agent import Agent

logger = logging.getLogger(__name__)

OPSET = 18
STATE_INPUTS = ("deter", "stoch", "prev_action", "is_first")
NOISE_INPUTS = ("stoch_noise", "action_noise")
OUTPUTS = ("action", "action_features", "next_deter", "next_stoch")


def input_names(agent: Agent, mode: bool) -> list[str]:
    """Graph input names in order."""
    clash = sorted(set(agent.obs_keys) & {*STATE_INPUTS, *NOISE_INPUTS})
    if clash:
        raise LearnerError(f"observation keys {clash} clash with acting-step input names")
    return [*agent.obs_keys, *STATE_INPUTS, *([] if mode else NOISE_INPUTS)]


def example_inputs(agent: Agent, mode: bool, seed: int = 0) -> list[torch.Tensor]:
    """Valid example inputs (batch 1, CPU) in :func:`input_names` order."""
    rng = np.random.default_rng(seed)
    spaces = agent.env_spec.observation
    obs = [torch.as_tensor(spaces[k].sample(rng)[None]) for k in agent.obs_keys]
    carry = {k: v.cpu() for k, v in agent.initial_carry(1).items()}
    state = [carry["deter"], carry["stoch"], carry["prev_action"], torch.ones(1)]
    noise = [] if mode else agent.noise(1, torch.Generator().manual_seed(seed))
    return [*obs, *state, *noise]


def export_onnx(agent: Agent, mode: bool = False, policy_version: int = 0) -> bytes:
    """Serialized ONNX model of the acting step (``mode``: argmax/mean instead of sampling).

    Exports a float32 CPU copy of the acting step, so the agent may live on any device.
    """
    module = copy.deepcopy(agent.acting_step(mode)).to("cpu", torch.float32).eval()
    names = input_names(agent, mode)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            module, tuple(example_inputs(agent, mode)), dynamo=True, opset_version=OPSET,
            external_data=False, input_names=names, output_names=list(OUTPUTS),
            verbose=False)
    model = program.model_proto
    metadata = {
        "spec_hash": agent.env_spec.hash, "policy_version": str(policy_version),
        "training_step": str(agent.updates), "preset": agent.config.preset,
        "variant": "mode" if mode else "sample",
        "action_kind": "discrete" if agent.discrete else "continuous",
        "inputs": ",".join(names), "outputs": ",".join(o.name for o in model.graph.output),
    }
    onnx.helper.set_model_props(model, metadata)
    onnx.checker.check_model(model)
    buffer = io.BytesIO()
    onnx.save_model(model, buffer)
    return buffer.getvalue()


def write_onnx(agent: Agent, path: str | Path, mode: bool = False,
               policy_version: int = 0) -> Path:
    """Write :func:`export_onnx` to ``path`` (one self-contained file); returns the path."""
    path = Path(path)
    path.write_bytes(export_onnx(agent, mode, policy_version))
    logger.info("exported %s acting step to %s", "mode" if mode else "sample", path)
    return path
