"""The learner side of a run, shared by the network service and the in-process mode.

:class:`Trainer` owns the run folder (:mod:`offboard.trainer_config`), the replay, the agent
(resumed from the newest valid checkpoint), the train-ratio limiter, the learner loop and
TensorBoard. Every export is written to ``policies/`` with its manifest, signed when a signing
key is configured, and handed to ``on_policy`` (the service pushes it to the robots).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from offboard.agent import Agent
from offboard.checkpoint import CheckpointManager
from offboard.learner_loop import ExportedPolicy, LearnerLoop
from offboard.replay.limiter import TrainRatioLimiter
from offboard.replay.store import Replay
from offboard.trainer_config import TrainerConfig
from shared.atomic import atomic_write
from shared.config import write_resolved
from shared.errors import SpecMismatchError
from shared.manifest import PolicyManifest, sign_manifest
from shared.spec import EnvSpec, check_same

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SignedPolicy:
    """An exported policy with its manifest and signature (empty when no key is configured)."""

    exported: ExportedPolicy
    manifest: PolicyManifest
    signature: bytes


def load_run_spec(run_dir: Path) -> EnvSpec | None:
    """The spec a run was started with, or None for a new run."""
    path = run_dir / "spec.json"
    return EnvSpec.from_canonical(json.loads(path.read_text())) if path.exists() else None


def save_run_spec(run_dir: Path, spec: EnvSpec) -> None:
    """Pin ``spec`` for the run (a restarted trainer must keep it)."""
    existing = load_run_spec(run_dir)
    if existing is not None:
        check_same(existing, spec.hash, spec, who="new")
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(run_dir / "spec.json", spec.canonical_bytes())


class Trainer:
    """Replay + agent + learner loop for one run folder and one spec.

    Args:
        config: trainer configuration (folders derived with :meth:`TrainerConfig.resolved`).
        spec: the robots' spec; must equal the one the run folder was started with.
        signing_key: a ``nacl.signing.SigningKey`` or None (policies unsigned).
        on_policy: receives every signed export (on the learner thread).
        run_id: names the trainer run in manifests.
    """

    def __init__(self, config: TrainerConfig, spec: EnvSpec, signing_key: Any = None,
                 on_policy: Callable[[SignedPolicy], None] | None = None,
                 run_id: str = "trainer") -> None:
        self.config = config.resolved()
        self.run_dir = Path(self.config.run_dir)
        try:
            save_run_spec(self.run_dir, spec)
        except SpecMismatchError as error:
            raise SpecMismatchError(f"run folder {self.run_dir} holds another spec; use a new "
                                    f"run_dir for a new robot spec.\n{error}") from error
        write_resolved(self.config, self.run_dir)
        torch.set_num_threads(self.config.threads)
        torch.manual_seed(self.config.seed)
        self.spec, self.signing_key, self.on_policy = spec, signing_key, on_policy
        self.run_id = run_id
        self.replay = Replay(self.config.replay, spec.hash)
        self.agent = Agent(spec, self.config.learner)
        self.checkpoints = CheckpointManager(self.config.checkpoint)
        self._resume()
        learner = self.config.learner
        limiter = TrainRatioLimiter(self.config.limiter, learner.batch_size * learner.batch_length)
        self.writer = self._tensorboard()
        self.loop = LearnerLoop(self.agent, self.replay, limiter, self.config.schedule,
                                self.run_dir, self._publish, self.checkpoints, self._metrics)
        self.policy_version = self.loop.versions.value
        self.latest: SignedPolicy | None = None

    def _resume(self) -> None:
        loaded = self.checkpoints.load_latest()
        if loaded is None:
            return
        self.agent.load_state_dict(loaded.state["agent"])
        log.info("resumed from %s (update %d)", loaded.path.name, self.agent.updates)

    def _tensorboard(self) -> Any:
        from torch.utils.tensorboard import SummaryWriter

        return SummaryWriter(str(self.run_dir / "tensorboard"))

    def scalar(self, name: str, value: float, step: int) -> None:
        """Log one scalar to TensorBoard."""
        self.writer.add_scalar(name, value, step)

    def _metrics(self, metrics: dict[str, float], update: int) -> None:
        if update % 10 == 0:
            for key, value in metrics.items():
                self.writer.add_scalar(f"train/{key}", value, update)

    def _publish(self, exported: ExportedPolicy) -> None:
        manifest = PolicyManifest.describe(
            exported.onnx, version=exported.version, spec_hash=self.spec.hash,
            training_step=exported.training_step, preset=self.config.learner.preset,
            variant=exported.variant, run_id=self.run_id)
        signature = b"" if self.signing_key is None else sign_manifest(manifest,
                                                                        self.signing_key)
        folder = self.run_dir / "policies"
        folder.mkdir(exist_ok=True)
        stem = folder / f"policy-{exported.version:06d}"
        atomic_write(stem.with_suffix(".onnx"), exported.onnx)
        # the manifest last: a policy without its manifest is never picked up
        atomic_write(stem.with_suffix(".manifest.json"), json.dumps(
            {"manifest": manifest.to_dict(), "signature": signature.hex()}, indent=1))
        signed = SignedPolicy(exported, manifest, signature)
        self.latest, self.policy_version = signed, exported.version
        if self.on_policy is not None:
            self.on_policy(signed)

    def run_learner(self, stop: threading.Event) -> None:
        """The learner thread's body."""
        self.loop.run(stop)

    def close(self) -> None:
        """Flush the replay, checkpoint, close TensorBoard."""
        self.replay.close()
        if self.agent.updates:
            self.loop.checkpoint_now()
        self.writer.close()
