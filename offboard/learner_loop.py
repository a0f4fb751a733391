"""The learner thread's loop: train when the limiter allows, export and checkpoint on schedule.

Each :meth:`LearnerLoop.step`:

1. if the replay holds enough data and the train-ratio limiter allows it, sample a batch
   ``(B, T, ...)`` and run one :meth:`Agent.train_step`;
2. when the export schedule is due (seconds or updates, whichever comes first), export the
   sampling acting step to ONNX, give it the next policy version and hand it to ``publish``
   (the trainer signs it and pushes it to the robots);
3. when the checkpoint schedule is due, save the agent atomically.

Policy versions must only grow, even across a trainer crash: robots refuse a version that is not
newer than the one they run. The counter is therefore written (atomically) to
``<run_dir>/policy_version`` *before* a policy is published, independently of checkpoints.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from offboard.agent import Agent
from offboard.checkpoint import CheckpointManager
from offboard.dreamer.errors import LearnerError
from offboard.dreamer.export import export_onnx
from offboard.replay.errors import ReplayEmptyError
from offboard.replay.limiter import TrainRatioLimiter
from offboard.replay.store import Replay
from shared.atomic import atomic_write

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScheduleConfig:
    """How often the learner exports and checkpoints.

    Attributes:
        export_every_s: seconds between policy exports (0 disables the time trigger).
        export_every_updates: updates between policy exports (0 disables this trigger).
        checkpoint_every_s: seconds between checkpoints.
        idle_sleep_s: sleep when there is nothing to train on (prefill, ratio reached).
    """

    export_every_s: float = 30.0
    export_every_updates: int = 0
    checkpoint_every_s: float = 300.0
    idle_sleep_s: float = 0.01


@dataclass(frozen=True)
class ExportedPolicy:
    """One exported acting step ready to be signed and shipped."""

    version: int
    onnx: bytes
    training_step: int
    variant: str


class VersionCounter:
    """A policy version counter that survives crashes (one small file, replaced atomically)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.value = int(path.read_text().strip())
        except FileNotFoundError:
            self.value = 0
        except ValueError as error:
            raise LearnerError(f"policy version file {path} is unreadable "
                               f"({path.read_text()[:40]!r}); write the last published version "
                               "into it (robots refuse versions they have already seen)") from error

    def next(self) -> int:
        """Reserve and persist the next version; returns it."""
        self.value += 1
        atomic_write(self.path, f"{self.value}\n")
        return self.value


class LearnerLoop:
    """Trains ``agent`` from ``replay``; see the module docstring.

    Args:
        agent: the DreamerV3 agent.
        replay: the persistent replay (shared with the ingest thread; it is thread-safe).
        limiter: the train-ratio limiter.
        schedule: export/checkpoint schedule.
        run_dir: folder of the policy version file.
        publish: receives each export (called on the learner thread).
        checkpoints: checkpoint manager, or None to never checkpoint.
        metrics: receives ``(metrics, update)`` after each update (TensorBoard, status line).
        extra_state: returns more state to checkpoint (e.g. ingest counters).
    """

    def __init__(self, agent: Agent, replay: Replay, limiter: TrainRatioLimiter,
                 schedule: ScheduleConfig, run_dir: Path,
                 publish: Callable[[ExportedPolicy], None],
                 checkpoints: CheckpointManager | None = None,
                 metrics: Callable[[dict[str, float], int], None] | None = None,
                 extra_state: Callable[[], dict[str, Any]] | None = None) -> None:
        self.agent, self.replay, self.limiter = agent, replay, limiter
        self.schedule = schedule
        self.publish, self.checkpoints = publish, checkpoints
        self.metrics, self.extra_state = metrics, extra_state
        self.versions = VersionCounter(Path(run_dir) / "policy_version")
        self.batch_steps = agent.config.batch_size * agent.config.batch_length
        # after a restart the data already in the replay counts as trained on
        self._inserted_base = replay.stats()["stored_steps"]
        self._replayed_base = int(self._inserted_base * (
            0 if limiter.config.unlimited else limiter.config.train_ratio))
        self.updates_here = 0
        now = time.monotonic()
        self._last_export, self._last_checkpoint = now, now
        self._updates_at_export = 0
        self.last_metrics: dict[str, float] = {}
        self.last_export: ExportedPolicy | None = None

    @property
    def inserted(self) -> int:
        """Steps in the replay at start plus steps accepted since."""
        return self._inserted_base + self.replay.counters.inserted

    @property
    def replayed(self) -> int:
        return self._replayed_base + self.updates_here * self.batch_steps

    def step(self) -> bool:
        """One iteration; True when an update ran."""
        trained = False
        batch = None
        if self.replay.stats()["stored_steps"] >= self.agent.config.batch_length and \
                self.limiter.want_update(self.inserted, self.replayed):
            try:
                batch = self.replay.sample(self.agent.config.batch_size)
            except ReplayEmptyError:  # steps inserted, not yet durable (a burst before a flush)
                log.debug("no durable window yet; waiting for the next flush")
        if batch is not None:
            self.last_metrics = self.agent.train_step(batch)
            self.updates_here += 1
            trained = True
            if self.metrics is not None:
                self.metrics(self.last_metrics, self.agent.updates)
        now = time.monotonic()
        if self._export_due(now):
            self.export_now()
        if self.checkpoints is not None and \
                now - self._last_checkpoint >= self.schedule.checkpoint_every_s:
            self.checkpoint_now()
        return trained

    def _export_due(self, now: float) -> bool:
        if self.updates_here == 0:
            return False  # nothing learned yet: robots keep acting randomly (prefill)
        by_time = self.schedule.export_every_s > 0 and \
            now - self._last_export >= self.schedule.export_every_s
        every = self.schedule.export_every_updates
        by_updates = every > 0 and self.updates_here - self._updates_at_export >= every
        return by_time or by_updates

    def export_now(self) -> ExportedPolicy:
        """Export the sampling policy with the next version and publish it."""
        version = self.versions.next()
        onnx_bytes = export_onnx(self.agent, mode=False, policy_version=version)
        exported = ExportedPolicy(version, onnx_bytes, self.agent.updates, "sample")
        self._last_export = time.monotonic()
        self._updates_at_export = self.updates_here
        self.last_export = exported
        self.publish(exported)
        log.info("exported policy version %d at update %d (%d bytes)", version,
                 self.agent.updates, len(onnx_bytes))
        return exported

    def checkpoint_now(self) -> Path | None:
        """Save the agent (and extra state) atomically."""
        if self.checkpoints is None:
            return None
        state = {"agent": self.agent.state_dict(), "policy_version": self.versions.value}
        if self.extra_state is not None:
            state["extra"] = self.extra_state()
        path = self.checkpoints.save(state, self.agent.updates)
        self._last_checkpoint = time.monotonic()
        log.info("checkpoint %s", path.name)
        return path

    def run(self, stop: threading.Event) -> None:
        """Loop until ``stop`` is set; sleeps briefly whenever it cannot train."""
        while not stop.is_set():
            if not self.step():
                stop.wait(self.schedule.idle_sleep_s)
