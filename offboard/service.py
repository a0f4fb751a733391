"""``daydreamer-trainer serve``: robots stream in, the learner trains, signed policies go out.

Threads of the trainer process:

- **ingest** (:class:`offboard.ingest.Ingest`): owns the ROUTER socket; HELLO checks, steps into
  the replay, flush, ACK, policies out, heartbeats;
- **learner** (:class:`offboard.learner_loop.LearnerLoop` via :class:`offboard.trainer.Trainer`):
  samples the replay, trains, exports and signs on schedule, checkpoints;
- **main**: the status line and signal handling. SIGINT/SIGTERM stop the learner, let ingest
  make everything durable and ACK it, checkpoint, and exit 0.

torch releases the GIL inside its kernels, so the ingest thread keeps receiving while the learner
computes (``bench/transport.py --learner`` measures it).
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from offboard.ingest import Ingest
from offboard.ingest_config import IngestConfig
from offboard.trainer import SignedPolicy, Trainer, load_run_spec
from offboard.trainer_config import TrainerConfig
from shared.config import write_resolved
from shared.errors import ConfigError
from shared.keys import load_signing_key
from shared.protocol import Policy
from shared.spec import EnvSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServeConfig:
    """The network trainer.

    Attributes:
        spec: JSON file with the robots' spec (``daydreamer-onboard --print-spec``); empty
            means the spec pinned in ``<run_dir>/spec.json`` by an earlier start.
        status_every_s: seconds between status lines.
        max_seconds: stop by itself after this long (0: run until a signal).
        trainer: learner side.
        ingest: network side; its ``keys_dir`` (the ``trainer`` folder of
            ``daydreamer-keygen``) also holds ``policy_signing.secret``.
    """

    spec: str = ""
    status_every_s: float = 5.0
    max_seconds: float = 0.0
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)


def resolve_spec(config: ServeConfig) -> EnvSpec:
    """The spec from ``config.spec`` or the run folder; a clear error when neither exists."""
    if config.spec:
        try:
            return EnvSpec.from_canonical(json.loads(Path(config.spec).read_text()))
        except FileNotFoundError as error:
            raise ConfigError(f"spec file {config.spec} does not exist") from error
        except json.JSONDecodeError as error:
            raise ConfigError(f"spec file {config.spec} is not JSON: {error}") from error
    spec = load_run_spec(Path(config.trainer.run_dir))
    if spec is None:
        raise ConfigError(f"no spec: pass --set spec=FILE (written by daydreamer-onboard "
                          f"--print-spec) or use a run_dir that has one "
                          f"({config.trainer.run_dir}/spec.json is missing)")
    return spec


def to_message(signed: SignedPolicy) -> Policy:
    """The POLICY message of a signed export."""
    return Policy(signed.exported.version, signed.exported.onnx, signed.manifest.to_dict(),
                  signed.signature)


def latest_policy_on_disk(run_dir: Path) -> Policy | None:
    """The newest exported policy of a run (after a restart, robots that connect get it)."""
    for path in sorted((run_dir / "policies").glob("policy-*.onnx"), reverse=True):
        manifest_path = path.with_suffix(".manifest.json")
        if not manifest_path.exists():  # the trainer died between the two writes
            log.warning("policy %s has no manifest; skipped", path.name)
            continue
        record = json.loads(manifest_path.read_text())
        manifest = record["manifest"]
        return Policy(int(manifest["version"]), path.read_bytes(), manifest,
                      bytes.fromhex(record["signature"]))
    return None


class Service:
    """Composes trainer and ingest; :meth:`run` blocks until stopped."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        spec = resolve_spec(config)
        keys = Path(config.ingest.keys_dir) if config.ingest.keys_dir else None
        signing = load_signing_key(keys / "policy_signing.secret") if keys else None
        if signing is None:
            log.warning("no keys_dir: the link is not encrypted and policies are unsigned "
                        "(robots must run with allow_unsigned)")
        self.stop_event = threading.Event()
        self.learner_failed = False
        self.ingest: Ingest | None = None
        self.trainer = Trainer(config.trainer, spec, signing, self._publish,
                               run_id=f"trainer-{uuid.uuid4().hex[:8]}")
        write_resolved(config, self.trainer.run_dir, "serve.toml")
        self.ingest = Ingest(config.ingest, spec, self.trainer.replay)
        existing = latest_policy_on_disk(self.trainer.run_dir)
        if existing is not None:
            self.ingest.publish_policy(existing)
        self._learner = threading.Thread(target=self._learn, name="learner", daemon=True)
        self._started = time.monotonic()

    def _publish(self, signed: SignedPolicy) -> None:
        if self.ingest is not None:
            self.ingest.publish_policy(to_message(signed))

    def _learn(self) -> None:
        try:
            self.trainer.run_learner(self.stop_event)
        except Exception:
            log.exception("learner thread failed; stopping the trainer")
            self.learner_failed = True
            self.stop_event.set()

    def install_signal_handlers(self) -> None:
        """SIGINT and SIGTERM stop the service cleanly (main thread only)."""
        def handler(signum: int, frame: Any) -> None:
            log.info("signal %d: stopping", signum)
            self.stop_event.set()

        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)

    def status(self) -> dict[str, Any]:
        """Figures for the status line and tests."""
        loop = self.trainer.loop
        latest = self.trainer.latest
        return {
            "updates": self.trainer.agent.updates,
            "stored_steps": self.trainer.replay.stats()["stored_steps"],
            "policy_version": self.trainer.policy_version,
            "policy_age_s": (time.time() - latest.manifest.created) if latest else None,
            "wm_loss": loop.last_metrics.get("loss/world_model"),
            "robots": self.ingest.status() if self.ingest else {},
            "learner_failed": self.learner_failed,
        }

    def _status_line(self, last: dict[str, Any], elapsed: float) -> tuple[str, dict[str, Any]]:
        now = self.status()
        rate = (now["updates"] - last.get("updates", now["updates"])) / max(elapsed, 1e-9)
        age = now["policy_age_s"]
        returns = [r["stats"]["mean_return_10"] for r in now["robots"].values()
                   if r["stats"].get("episodes")]
        parts = [f"updates {now['updates']} ({rate:.2f}/s)", f"replay {now['stored_steps']}",
                 f"policy v{now['policy_version']}" + (f" ({age:.0f} s old)" if age else ""),
                 f"wm loss {now['wm_loss']:.3f}" if now["wm_loss"] is not None else "",
                 f"return (mean of 10) {', '.join(f'{r:.1f}' for r in returns)}" if returns
                 else "",
                 self.ingest.status_line() if self.ingest else ""]
        return " | ".join(p for p in parts if p), now

    def run(self) -> dict[str, Any]:
        """Run until a signal (or ``max_seconds``); returns the final status."""
        assert self.ingest is not None
        self.ingest.start()
        log.info("trainer listening on %s, run folder %s", self.ingest.endpoint,
                 self.trainer.run_dir)
        self._learner.start()
        last, last_time = self.status(), time.monotonic()
        try:
            while not self.stop_event.wait(self.config.status_every_s):
                now_time = time.monotonic()
                line, last = self._status_line(last, now_time - last_time)
                last_time = now_time
                log.info("%s", line)
                limit = self.config.max_seconds
                if limit and now_time - self._started >= limit:
                    break
        finally:
            self.close()
        return self.status()

    def close(self) -> None:
        """Stop learner and ingest, make everything durable, checkpoint."""
        self.stop_event.set()
        if self._learner.is_alive():
            self._learner.join()
        if self.ingest is not None:
            self.ingest.stop()
        self.trainer.close()
        log.info("trainer stopped cleanly")
