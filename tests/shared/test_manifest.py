"""Signed policy manifests: every tampering and every stale version is refused."""

from __future__ import annotations

import dataclasses

import pytest
from nacl.signing import SigningKey

from shared.manifest import PolicyManifest, PolicyRejectedError, sign_manifest, verify_policy

ONNX = b"\x08\x09fake-onnx-bytes" * 10
SPEC = "ab" * 32


@pytest.fixture()
def signed() -> tuple[PolicyManifest, bytes, SigningKey]:
    key = SigningKey(bytes(range(32)))
    manifest = PolicyManifest.describe(ONNX, version=3, spec_hash=SPEC, training_step=1000,
                                       preset="debug", variant="sample", run_id="r1")
    return manifest, sign_manifest(manifest, key), key


def test_valid_policy_verifies(signed) -> None:
    manifest, signature, key = signed
    out = verify_policy(ONNX, manifest.to_dict(), signature, key.verify_key, spec_hash=SPEC,
                        current_version=2)
    assert out == manifest
    assert verify_policy(ONNX, manifest.to_dict(), signature, key.verify_key, spec_hash=SPEC,
                         current_version=None).version == 3


@pytest.mark.parametrize(("change", "message"), [
    ({"version": 4}, "signature"),
    ({"spec_hash": "cd" * 32}, "signature"),
    ({"training_step": 5}, "signature"),
])
def test_tampered_manifest_refused(signed, change, message) -> None:
    manifest, signature, key = signed
    tampered = dataclasses.replace(manifest, **change).to_dict()
    with pytest.raises(PolicyRejectedError, match=message):
        verify_policy(ONNX, tampered, signature, key.verify_key, spec_hash=SPEC,
                      current_version=0)


def test_tampered_bytes_wrong_key_stale_and_wrong_spec(signed) -> None:
    manifest, signature, key = signed
    verify = key.verify_key
    flipped = bytearray(ONNX)
    flipped[5] ^= 1
    with pytest.raises(PolicyRejectedError, match="sha256"):
        verify_policy(bytes(flipped), manifest.to_dict(), signature, verify, spec_hash=SPEC,
                      current_version=0)
    with pytest.raises(PolicyRejectedError, match="bytes, manifest says"):
        verify_policy(ONNX + b"x", manifest.to_dict(), signature, verify, spec_hash=SPEC,
                      current_version=0)
    other = SigningKey(bytes(32)).verify_key
    with pytest.raises(PolicyRejectedError, match="signature"):
        verify_policy(ONNX, manifest.to_dict(), signature, other, spec_hash=SPEC,
                      current_version=0)
    with pytest.raises(PolicyRejectedError, match="not newer than the running version 3"):
        verify_policy(ONNX, manifest.to_dict(), signature, verify, spec_hash=SPEC,
                      current_version=3)
    with pytest.raises(PolicyRejectedError, match="spec hash"):
        verify_policy(ONNX, manifest.to_dict(), signature, verify, spec_hash="ef" * 32,
                      current_version=0)
    with pytest.raises(PolicyRejectedError, match="signature"):
        verify_policy(ONNX, manifest.to_dict(), signature[:10], verify, spec_hash=SPEC,
                      current_version=0)


@pytest.mark.parametrize("bad", [
    None, [], {"sha256": "x"},
    {**dict.fromkeys(["sha256", "spec_hash", "preset", "run_id"], "x"), "size": 1, "version": 1,
     "training_step": 1, "variant": "greedy", "created": 1.0, "format": "daydreamer-policy/1"},
    {**dict.fromkeys(["sha256", "spec_hash", "preset", "run_id"], "x"), "size": True,
     "version": 1, "training_step": 1, "variant": "mode", "created": 1.0,
     "format": "daydreamer-policy/1"},
])
def test_malformed_manifest(bad) -> None:
    with pytest.raises(PolicyRejectedError):
        PolicyManifest.from_dict(bad)
