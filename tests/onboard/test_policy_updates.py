"""Policies from the trainer reach the runtime only when signed, intact, newer and matching."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from offboard.ingest import Ingest, IngestConfig
from onboard.link import Link
from onboard.policy import LoadedPolicy
from onboard.policy_updates import PolicyUpdater
from shared.keys import generate_deployment, load_signing_key, load_verify_key
from shared.manifest import PolicyManifest, sign_manifest
from shared.protocol import Policy
from tests.onboard.link_fakes import link_config, open_replay, wait_for
from tests.onboard.onnx_fakes import SPEC, counting_policy


class FakeRuntime:
    """Records every policy offered to it."""

    def __init__(self) -> None:
        self.offered: list[LoadedPolicy] = []

    def offer_policy(self, policy: LoadedPolicy) -> None:
        self.offered.append(policy)


def _policy(signing_key, version: int, *, spec_hash: str | None = None,
            onnx: bytes | None = None, signature: bytes | None = None) -> Policy:
    onnx = counting_policy(version=version) if onnx is None else onnx
    manifest = PolicyManifest.describe(
        onnx, version=version, spec_hash=spec_hash or SPEC.hash, training_step=100 * version,
        preset="test", variant="mode", run_id="run")
    signed = sign_manifest(manifest, signing_key) if signature is None else signature
    return Policy(version, onnx, manifest.to_dict(), signed)


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path]:
    return generate_deployment(tmp_path / "keys", ["a1"])


def _updater(keys, runtime: FakeRuntime, **options) -> PolicyUpdater:
    verify = load_verify_key(keys["a1"] / "policy_signing.pub")
    return PolicyUpdater(SPEC, runtime.offer_policy, verify, **options).start()


def _settle(updater: PolicyUpdater, submitted: int) -> None:
    wait_for(lambda: updater.accepted + sum(updater.rejected.values()) >= submitted, 10,
             "every policy checked")


def test_verifier_accepts_good_and_refuses_bad_policies(keys) -> None:
    signer = load_signing_key(keys["trainer"] / "policy_signing.secret")
    runtime = FakeRuntime()
    updater = _updater(keys, runtime)
    try:
        updater.submit(_policy(signer, 2))
        _settle(updater, 1)
        assert [p.version for p in runtime.offered] == [2] and updater.version == 2
        good = _policy(signer, 3)
        tampered = dataclasses.replace(good, onnx=good.onnx[:-1] + bytes([good.onnx[-1] ^ 1]))
        other_key = generate_deployment(keys["trainer"].parent.parent / "other", ["x"])
        foreign = _policy(load_signing_key(other_key["trainer"] / "policy_signing.secret"), 3)
        bad = [tampered, foreign, _policy(signer, 2), _policy(signer, 1),
               _policy(signer, 3, spec_hash="0" * 64),
               _policy(signer, 3, signature=b""), _policy(signer, 3, onnx=b"not onnx")]
        for policy in bad:
            updater.submit(policy)
            _settle(updater, 1 + bad.index(policy) + 1)
        assert dict(updater.rejected) == {"digest": 1, "signature": 1, "stale": 2,
                                          "spec_hash": 1, "unsigned": 1, "model": 1}
        assert [p.version for p in runtime.offered] == [2] and updater.version == 2
        updater.submit(good)
        _settle(updater, 9)
        assert [p.version for p in runtime.offered] == [2, 3]
        version, created = updater.running()
        assert version == 3 and created is not None
    finally:
        updater.stop()


def test_unsigned_policies_need_the_explicit_flag() -> None:
    runtime = FakeRuntime()
    unsigned = _policy(None, 1, signature=b"")
    strict = PolicyUpdater(SPEC, runtime.offer_policy).start()
    strict.submit(unsigned)
    _settle(strict, 1)
    strict.stop()
    assert strict.rejected == {"unsigned": 1} and runtime.offered == []
    relaxed = PolicyUpdater(SPEC, runtime.offer_policy, allow_unsigned=True).start()
    relaxed.submit(unsigned)
    relaxed.submit(dataclasses.replace(unsigned, onnx=counting_policy(version=1)[:-3] + b"abc"))
    _settle(relaxed, 2)
    relaxed.stop()
    assert [p.version for p in runtime.offered] == [1] and relaxed.rejected == {"digest": 1}


def test_policy_travels_from_publish_to_the_runtime(keys, tmp_path: Path) -> None:
    signer = load_signing_key(keys["trainer"] / "policy_signing.secret")
    replay = open_replay(tmp_path / "replay")
    config = IngestConfig(bind="tcp://127.0.0.1:0", keys_dir=str(keys["trainer"]),
                          heartbeat_interval=0.1, peer_timeout=1.0)
    server = Ingest(config, SPEC, replay).start()
    runtime = FakeRuntime()
    updater = _updater(keys, runtime)
    link_settings = link_config(server.endpoint, tmp_path / "spool", keys_dir=str(keys["a1"]))
    link = Link(link_settings, SPEC, updater.submit, updater.running).start()
    late = None
    try:
        wait_for(lambda: link.status().connected, 5, "WELCOME")
        server.publish_policy(_policy(signer, 1))
        wait_for(lambda: len(runtime.offered) == 1, 5, "policy v1 in the runtime")
        server.publish_policy(_policy(signer, 2))
        wait_for(lambda: len(runtime.offered) == 2, 5, "policy v2 in the runtime")
        assert link.status().policy_version == 2 and link.status().policy_age < 5
        wait_for(lambda: server.robots["a1"].policy_version == 2, 5, "trainer's record")
        # a robot that connects later, running an older policy, gets the latest one
        late_runtime = FakeRuntime()
        late_updater = _updater(keys, late_runtime)
        late = Link(link_config(server.endpoint, tmp_path / "late", keys_dir=str(keys["a1"])),
                    SPEC, late_updater.submit, late_updater.running).start()
        wait_for(lambda: len(late_runtime.offered) == 1, 5, "latest policy for the late robot")
        assert late_runtime.offered[0].version == 2
        late_updater.stop()
    finally:
        for each in (link, late):
            if each is not None:
                each.stop(0.2)
        updater.stop()
        server.stop()
        replay.close()


def test_wrong_variant_refused_off_the_control_thread() -> None:
    offered: list[LoadedPolicy] = []
    updater = PolicyUpdater(SPEC, offered.append, allow_unsigned=True, variant="mode").start()
    try:
        onnx = counting_policy(variant="sample", version=4)
        manifest = PolicyManifest.describe(onnx, version=4, spec_hash=SPEC.hash, training_step=1,
                                           preset="t", variant="sample", run_id="r")
        updater.submit(Policy(4, onnx, manifest.to_dict(), b""))
        wait_for(lambda: bool(updater.rejected), 10, "refusal")
        assert updater.rejected == {"variant": 1} and offered == [] and updater.version == 0
    finally:
        updater.stop()
