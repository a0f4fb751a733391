"""Runtime -> Link -> Ingest -> Replay, and a signed policy back into the running runtime."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from offboard.ingest import Ingest, IngestConfig
from onboard.link import Link
from onboard.policy_updates import PolicyUpdater
from onboard.robot import EnvRobot
from onboard.runtime import Runtime, RuntimeConfig
from onboard.safety import SafetyConfig
from shared.keys import generate_deployment, load_signing_key, load_verify_key
from shared.manifest import PolicyManifest, sign_manifest
from shared.protocol import Policy
from tests.onboard.fakes import CountingEnv, FakeClock
from tests.onboard.link_fakes import link_config, open_replay, wait_for
from tests.onboard.onnx_fakes import SPEC, counting_policy


def test_runtime_steps_stored_and_policy_swapped_in(tmp_path: Path) -> None:
    keys = generate_deployment(tmp_path / "keys", ["a1"])
    replay = open_replay(tmp_path / "replay")
    server = Ingest(IngestConfig(bind="tcp://127.0.0.1:0", keys_dir=str(keys["trainer"]),
                                 heartbeat_interval=0.1, peer_timeout=1.0), SPEC, replay).start()
    runtime_config = RuntimeConfig(hz=50.0, mode="mode",
                                   safety=SafetyConfig(max_delta=2.0, watchdog_s=0.1))
    runtime = Runtime(EnvRobot(CountingEnv(length=9)), runtime_config, clock=FakeClock())
    updater = PolicyUpdater(SPEC, runtime.offer_policy,
                            load_verify_key(keys["a1"] / "policy_signing.pub")).start()
    link = Link(link_config(server.endpoint, tmp_path / "spool", keys_dir=str(keys["a1"])),
                SPEC, updater.submit, updater.running).start()
    runtime.sink = link.record
    try:
        wait_for(lambda: link.status().connected, 5, "WELCOME")
        runtime.run(max_ticks=40)  # random actions: no policy yet
        onnx = counting_policy(version=3)
        manifest = PolicyManifest.describe(onnx, version=3, spec_hash=SPEC.hash,
                                           training_step=1, preset="t", variant="mode",
                                           run_id="r")
        signer = load_signing_key(keys["trainer"] / "policy_signing.secret")
        server.publish_policy(Policy(3, onnx, manifest.to_dict(), sign_manifest(manifest, signer)))
        wait_for(lambda: updater.version == 3, 5, "policy accepted")
        link.report(runtime.summary())
        runtime.run(max_ticks=40)  # swaps at the next episode start
        assert runtime.stats.policy_swaps == 1
        wait_for(lambda: link.status().acked_seq == 79, 10, "every step acknowledged")
        steps = replay.read(link.stream, 0, 80)
        versions = steps["policy_version"]
        assert set(versions[:40].tolist()) == {0} and versions[-1] == 3
        swap = int(np.argmax(versions == 3))
        assert steps["is_first"][swap] and (versions[swap:] == 3).all()
        wait_for(lambda: "steps" in server.robots["a1"].stats, 5, "runtime figures in STATS")
        assert server.robots["a1"].stats["policy_swaps"] == 0  # reported before the swap
        assert server.robots["a1"].stats["safety/estops"] == 0
    finally:
        link.stop(1.0)
        updater.stop()
        server.stop()
        replay.close()
