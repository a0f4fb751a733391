"""Configuration of the trainer (network service and in-process mode) and its run folder.

A run folder holds everything a trainer writes::

    <run_dir>/config.toml        the resolved configuration
    <run_dir>/spec.json          the robots' spec (canonical JSON; fixed for the run)
    <run_dir>/replay/            persistent replay chunks
    <run_dir>/checkpoints/       atomic checkpoints
    <run_dir>/policies/          every exported policy: policy-<version>.onnx + .manifest.json
    <run_dir>/policy_version     the last published policy version
    <run_dir>/tensorboard/       TensorBoard event files
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from offboard.checkpoint import CheckpointConfig
from offboard.dreamer.config import DreamerConfig
from offboard.learner_loop import ScheduleConfig
from offboard.replay.config import ReplayConfig
from offboard.replay.limiter import LimiterConfig


@dataclass(frozen=True)
class TrainerConfig:
    """Everything the learner side needs.

    Attributes:
        run_dir: the run folder (see the module docstring).
        seed: seed of torch and the replay sampler.
        threads: torch intra-op threads (set deliberately: 2 threads on 2 busy cores collapse).
        learner: DreamerV3 hyper-parameters and size preset.
        replay: replay options; an empty ``directory`` means ``<run_dir>/replay``.
        limiter: train ratio (replayed steps per inserted step), or unlimited.
        schedule: export and checkpoint schedule.
        checkpoint: checkpoint options; an empty ``directory`` means ``<run_dir>/checkpoints``.
    """

    run_dir: str = "runs/trainer"
    seed: int = 0
    threads: int = 1
    learner: DreamerConfig = field(default_factory=lambda: DreamerConfig(preset="size12m"))
    replay: ReplayConfig = field(default_factory=lambda: ReplayConfig(directory=""))
    limiter: LimiterConfig = field(default_factory=LimiterConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    checkpoint: CheckpointConfig = field(
        default_factory=lambda: CheckpointConfig(directory=""))

    def resolved(self) -> TrainerConfig:
        """The config with derived folders filled in and the replay's window length equal to
        the learner's batch length."""
        run = Path(self.run_dir)
        replay = dataclasses.replace(
            self.replay, directory=self.replay.directory or str(run / "replay"),
            sequence_length=self.learner.batch_length, seed=self.seed)
        checkpoint = dataclasses.replace(
            self.checkpoint, directory=self.checkpoint.directory or str(run / "checkpoints"))
        return dataclasses.replace(self, replay=replay, checkpoint=checkpoint)
