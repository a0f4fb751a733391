"""The batcher stacks checked steps into ``(T, ...)`` arrays of the spec's dtypes."""

from __future__ import annotations

import numpy as np

from onboard.batcher import Batcher
from tests.onboard.link_fakes import make_step
from tests.onboard.onnx_fakes import SPEC


def test_stacks_steps_with_spec_dtypes_and_shapes() -> None:
    batcher = Batcher(SPEC, max_steps=4, max_age=1.0)
    for index in range(3):
        step = make_step(index)
        step["joints"] = np.full(3, index, np.float64)  # cast to the spec's float32
        assert batcher.add(step, now=10.0)
    assert not batcher.due(10.5) and batcher.due(11.0)  # by age
    batch = batcher.take()
    assert len(batcher) == 0
    assert batch["joints"].shape == (3, 3) and batch["joints"].dtype == np.float32
    assert batch["reward"].tolist() == [0.0, 1.0, 2.0] and batch["is_first"].dtype == bool
    assert batch["policy_version"].dtype == np.int64 and batch["action"].shape == (3, 2)
    assert batcher.step_bytes == 3 * 4 + 2 * 4 + 4 + 3 + 8


def test_due_when_full_and_bad_steps_counted() -> None:
    batcher = Batcher(SPEC, max_steps=2, max_age=60.0)
    assert not batcher.add({"joints": np.zeros(3)}, 0.0)
    assert not batcher.add({**make_step(0), "action": np.zeros(3, np.float32)}, 0.0)
    assert not batcher.add({**make_step(0), "extra": np.zeros(1)}, 0.0)
    assert batcher.bad_steps == 3 and len(batcher) == 0 and not batcher.due(100.0)
    batcher.add(make_step(0), 0.0)
    batcher.add(make_step(1), 0.0)
    assert batcher.due(0.0)
