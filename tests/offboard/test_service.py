"""The network trainer end to end in-process: a runtime streams to it, it learns, exports a signed
policy that the runtime swaps in; stopping makes every step durable and checkpoints."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from offboard.dreamer.config import DreamerConfig
from offboard.ingest_config import IngestConfig
from offboard.learner_loop import ScheduleConfig
from offboard.replay.limiter import LimiterConfig
from offboard.service import ServeConfig, Service, latest_policy_on_disk
from offboard.trainer_config import TrainerConfig
from onboard.link import Link
from onboard.policy_updates import PolicyUpdater
from onboard.robot import EnvRobot
from onboard.runtime import Runtime, RuntimeConfig
from shared.errors import ConfigError
from shared.keys import generate_deployment, load_verify_key
from tests.onboard.fakes import CountingEnv
from tests.onboard.link_fakes import link_config, wait_for
from tests.onboard.onnx_fakes import SPEC


def serve_config(tmp_path: Path, keys: Path) -> ServeConfig:
    (tmp_path / "spec.json").write_bytes(SPEC.canonical_bytes())
    trainer = TrainerConfig(
        run_dir=str(tmp_path / "run"),
        learner=DreamerConfig(preset="debug", batch_size=2, batch_length=8),
        limiter=LimiterConfig(unlimited=True, min_inserted=64),
        schedule=ScheduleConfig(export_every_s=0, export_every_updates=20,
                                checkpoint_every_s=1e9))
    ingest = IngestConfig(bind="tcp://127.0.0.1:0", keys_dir=str(keys),
                          heartbeat_interval=0.2, peer_timeout=2.0)
    return ServeConfig(spec=str(tmp_path / "spec.json"), status_every_s=0.5, trainer=trainer,
                       ingest=ingest)


def test_robot_to_trainer_and_back(tmp_path: Path) -> None:
    keys = generate_deployment(tmp_path / "keys", ["a1"])
    service = Service(serve_config(tmp_path, keys["trainer"]))
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    runtime = Runtime(EnvRobot(CountingEnv(length=20)), RuntimeConfig(hz=200.0, mode="sample"))
    updater = PolicyUpdater(SPEC, runtime.offer_policy,
                            load_verify_key(keys["a1"] / "policy_signing.pub")).start()
    assert service.ingest is not None
    link = Link(link_config(service.ingest.endpoint, tmp_path / "spool",
                            keys_dir=str(keys["a1"])), SPEC, updater.submit,
                updater.running).start()
    runtime.sink = link.record
    try:
        wait_for(lambda: link.status().connected, 10, "WELCOME")
        for _ in range(60):  # up to ~30 s: stream until a trained policy is swapped in
            runtime.run(max_ticks=100)
            if runtime.stats.policy_swaps:
                break
        assert runtime.stats.policy_swaps >= 1 and updater.version >= 1
        runtime.run(max_ticks=60)
        link.report(runtime.summary())
        recorded = runtime.stats.steps
        wait_for(lambda: link.status().acked_seq == recorded - 1, 10, "all steps acked")
    finally:
        link.stop(2.0)
        updater.stop()
        service.stop_event.set()
        thread.join(60)
    assert not thread.is_alive()
    run = tmp_path / "run"
    assert list((run / "checkpoints").glob("*.pt")), "no checkpoint at stop"
    policy = latest_policy_on_disk(run)
    assert policy is not None and policy.version == updater.version
    assert len(policy.signature) == 64
    # a restarted trainer reloads the replay and keeps the stream exactly once
    again = Service(serve_config(tmp_path, keys["trainer"]))
    try:
        sequences = again.trainer.replay.sequences(link.stream)
        np.testing.assert_array_equal(sequences, np.arange(recorded))
        stored = again.trainer.replay.read(link.stream, 0, recorded)
        assert stored["policy_version"][-1] >= 1 and stored["policy_version"][0] == 0
        assert again.trainer.agent.updates == service.trainer.agent.updates
    finally:
        again.close()


def test_missing_spec_is_a_clear_error(tmp_path: Path) -> None:
    config = ServeConfig(trainer=TrainerConfig(run_dir=str(tmp_path / "run")))
    with pytest.raises(ConfigError, match="no spec"):
        Service(config)
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(ConfigError, match="not JSON"):
        Service(ServeConfig(spec=str(bad)))
