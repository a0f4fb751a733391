"""Tiny hand-built ONNX acting steps with the policy signature, for runtime tests (no torch).

The fake step counts: ``next_deter = deter * (1 - is_first) + 1`` and
``action = tanh(0.01 * (deter_out[:, :A] + sum(joints) + noise))``, so a test can read from the
action how many steps the carry has seen since the last reset.
"""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper

from shared.spec import EnvSpec, Space

SPEC = EnvSpec.create({"joints": Space(np.float32, (3,), -10.0, 10.0)},
                      {"action": Space(np.float32, (2,), -1.0, 1.0)})


def counting_policy(spec: EnvSpec = SPEC, variant: str = "mode", version: int = 1,
                    spec_hash: str | None = None, deter: int = 4, joints_dtype: int = 1,
                    extra_input: bool = False) -> bytes:
    """ONNX bytes of the counting step described in the module docstring."""
    width = 2
    inputs = [
        helper.make_tensor_value_info("joints", joints_dtype, [1, 3]),
        helper.make_tensor_value_info("deter", TensorProto.FLOAT, [1, deter]),
        helper.make_tensor_value_info("stoch", TensorProto.FLOAT, [1, 2, 3]),
        helper.make_tensor_value_info("prev_action", TensorProto.FLOAT, [1, width]),
        helper.make_tensor_value_info("is_first", TensorProto.FLOAT, [1]),
    ]
    if variant == "sample":
        inputs.append(helper.make_tensor_value_info("stoch_noise", TensorProto.FLOAT, [1, 2, 3]))
        inputs.append(helper.make_tensor_value_info("action_noise", TensorProto.FLOAT,
                                                    [1, width]))
    if extra_input:
        inputs.append(helper.make_tensor_value_info("surprise", TensorProto.FLOAT, [1]))
    outputs = [
        helper.make_tensor_value_info("action", TensorProto.FLOAT, [1, width]),
        helper.make_tensor_value_info("action_features", TensorProto.FLOAT, [1, width]),
        helper.make_tensor_value_info("next_deter", TensorProto.FLOAT, [1, deter]),
        helper.make_tensor_value_info("next_stoch", TensorProto.FLOAT, [1, 2, 3]),
    ]
    const = [
        helper.make_tensor("one", TensorProto.FLOAT, [], [1.0]),
        helper.make_tensor("scale", TensorProto.FLOAT, [], [0.01]),
        helper.make_tensor("axis1", TensorProto.INT64, [1], [1]),
        helper.make_tensor("start", TensorProto.INT64, [1], [0]),
        helper.make_tensor("stop", TensorProto.INT64, [1], [width]),
    ]
    joints = "joints"
    nodes = []
    if joints_dtype != TensorProto.FLOAT:
        nodes.append(helper.make_node("Cast", ["joints"], ["joints_f"], to=TensorProto.FLOAT))
        joints = "joints_f"
    nodes += [
        helper.make_node("Sub", ["one", "is_first"], ["keep"]),
        helper.make_node("Unsqueeze", ["keep", "axis1"], ["keep2"]),
        helper.make_node("Mul", ["deter", "keep2"], ["masked"]),
        helper.make_node("Add", ["masked", "one"], ["next_deter"]),
        helper.make_node("Identity", ["stoch"], ["next_stoch"]),
        helper.make_node("ReduceSum", [joints, "axis1"], ["jsum"], keepdims=1),
        helper.make_node("Slice", ["next_deter", "start", "stop", "axis1"], ["head"]),
        helper.make_node("Add", ["head", "jsum"], ["pre"]),
    ]
    last = "pre"
    if variant == "sample":
        nodes.append(helper.make_node("Add", ["pre", "action_noise"], ["noisy"]))
        last = "noisy"
    nodes += [helper.make_node("Mul", [last, "scale"], ["scaled"]),
              helper.make_node("Tanh", ["scaled"], ["action"]),
              helper.make_node("Identity", ["action"], ["action_features"])]
    graph = helper.make_graph(nodes, "counting", inputs, outputs, initializer=const)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    meta = {"spec_hash": spec_hash or spec.hash, "policy_version": str(version),
            "training_step": "0", "preset": "fake", "variant": variant,
            "action_kind": "continuous"}
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    return model.SerializeToString()
