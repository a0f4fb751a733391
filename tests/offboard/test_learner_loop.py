"""The learner loop: prefill and ratio gating, scheduled exports with crash-proof versions,
checkpoints that restore the agent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from offboard.agent import Agent
from offboard.checkpoint import CheckpointConfig, CheckpointManager
from offboard.dreamer.config import DreamerConfig
from offboard.dreamer.errors import LearnerError
from offboard.learner_loop import ExportedPolicy, LearnerLoop, ScheduleConfig, VersionCounter
from offboard.replay.config import ReplayConfig
from offboard.replay.limiter import LimiterConfig, TrainRatioLimiter
from offboard.replay.store import Replay
from tests.offboard.dreamer.conftest import build_spec

CONFIG = DreamerConfig(preset="debug", batch_size=2, batch_length=8)
SPEC = build_spec()


def steps(count: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    data = {key: np.stack([space.sample(rng) for _ in range(count)])
            for key, space in {**SPEC.observation, **SPEC.action}.items()}
    data["is_first"][:] = False
    data["is_first"][0] = True
    data["is_last"][:] = False
    data["is_terminal"][:] = False
    data["policy_version"] = np.zeros(count, np.int64)
    return data


def make_loop(tmp_path: Path, limiter: LimiterConfig, schedule: ScheduleConfig,
              published: list[ExportedPolicy]) -> LearnerLoop:
    torch.set_num_threads(1)
    replay = Replay(ReplayConfig(directory=str(tmp_path / "replay"), sequence_length=8),
                    SPEC.hash)
    limiter_ = TrainRatioLimiter(limiter, CONFIG.batch_size * CONFIG.batch_length)
    checkpoints = CheckpointManager(CheckpointConfig(directory=str(tmp_path / "ckpt")))
    return LearnerLoop(Agent(SPEC, CONFIG), replay, limiter_, schedule, tmp_path,
                       published.append, checkpoints)


def test_prefill_ratio_export_and_restart(tmp_path: Path) -> None:
    published: list[ExportedPolicy] = []
    schedule = ScheduleConfig(export_every_s=0, export_every_updates=8, checkpoint_every_s=1e9)
    limiter = LimiterConfig(train_ratio=32, min_inserted=40)
    loop = make_loop(tmp_path, limiter, schedule, published)
    stream = ("robot", "run")
    loop.replay.add(stream, 0, steps(30))
    loop.replay.flush()
    assert not any(loop.step() for _ in range(5))  # prefill not reached
    loop.replay.add(stream, 30, steps(20, seed=1))
    loop.replay.flush()
    # 10 steps past the prefill at ratio 32 allow 320 replayed steps = 20 updates of 2x8
    updates = sum(loop.step() for _ in range(40))
    assert updates == 20 and loop.agent.updates == 20
    assert [p.version for p in published] == [1, 2]
    model = onnx.load_from_string(published[-1].onnx)
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["policy_version"] == "2" and meta["training_step"] == "16"
    assert meta["spec_hash"] == SPEC.hash and meta["variant"] == "sample"
    path = loop.checkpoint_now()
    assert path is not None and path.exists()
    loop.replay.close()
    # a restarted learner continues the versions and restores the agent
    again = make_loop(tmp_path, limiter, schedule, published)
    assert again.versions.value == 2
    assert not again.step()  # the replayed data counts as trained on: nothing new, no update
    loaded = again.checkpoints.load_latest()
    assert loaded is not None and loaded.state["policy_version"] == 2
    again.agent.load_state_dict(loaded.state["agent"])
    assert again.agent.updates == 20
    again.updates_here = 1
    assert again.export_now().version == 3
    again.replay.close()


def test_no_export_before_the_first_update(tmp_path: Path) -> None:
    published: list[ExportedPolicy] = []
    loop = make_loop(tmp_path, LimiterConfig(unlimited=True, min_inserted=1000),
                     ScheduleConfig(export_every_s=1e-9), published)
    loop.step()
    assert published == [] and loop.agent.updates == 0
    loop.replay.close()


def test_corrupt_version_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "policy_version").write_text("garbage")
    with pytest.raises(LearnerError, match="policy version file"):
        VersionCounter(tmp_path / "policy_version")
