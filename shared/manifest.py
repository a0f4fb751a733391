"""Signed policy manifests: what the trainer signs and the robot checks before running a policy.

A manifest describes one exported acting step::

    {"format": "daydreamer-policy/1", "sha256": <hex of the ONNX bytes>, "size": <bytes>,
     "version": <int, strictly increasing per trainer run>, "spec_hash": <EnvSpec.hash>,
     "training_step": <int>, "preset": <str>, "variant": "sample" | "mode",
     "run_id": <str>, "created": <unix seconds, float>}

The signature is Ed25519 over the manifest's canonical bytes: JSON with sorted keys, separators
``,``/``:``, ASCII. The robot recomputes those bytes from the decoded manifest, so any change of any
field (or of the ONNX bytes, through ``sha256``) breaks verification.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass
from typing import Any

from shared.errors import DaydreamerError

MANIFEST_FORMAT = "daydreamer-policy/1"
VARIANTS = ("sample", "mode")


class PolicyRejectedError(DaydreamerError):
    """A policy failed verification; the message says which check and shows the values."""


@dataclass(frozen=True)
class PolicyManifest:
    """Description of one exported policy; see the module docstring for the fields."""

    sha256: str
    size: int
    version: int
    spec_hash: str
    training_step: int
    preset: str
    variant: str
    run_id: str
    created: float
    format: str = MANIFEST_FORMAT

    @classmethod
    def describe(cls, onnx_bytes: bytes, *, version: int, spec_hash: str, training_step: int,
                 preset: str, variant: str, run_id: str) -> PolicyManifest:
        """Manifest for ``onnx_bytes`` created now."""
        return cls(hashlib.sha256(onnx_bytes).hexdigest(), len(onnx_bytes), version, spec_hash,
                   training_step, preset, variant, run_id, time.time())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> PolicyManifest:
        """Strictly parse a decoded manifest; raise :class:`PolicyRejectedError` when malformed."""
        if not isinstance(data, dict):
            raise PolicyRejectedError(f"manifest must be a map, got {type(data).__name__}")
        expected = {"sha256": str, "size": int, "version": int, "spec_hash": str,
                    "training_step": int, "preset": str, "variant": str, "run_id": str,
                    "created": float, "format": str}
        if set(data) != set(expected):
            raise PolicyRejectedError(
                f"manifest fields {sorted(data)} differ from expected {sorted(expected)}")
        for key, kind in expected.items():
            value = data[key]
            ok = isinstance(value, int | float) and not isinstance(value, bool) \
                if kind is float else isinstance(value, kind) and not isinstance(value, bool)
            if not ok:
                raise PolicyRejectedError(f"manifest field {key!r} must be {kind.__name__}, "
                                          f"got {value!r:.80}")
        if data["format"] != MANIFEST_FORMAT:
            raise PolicyRejectedError(f"manifest format {data['format']!r}, "
                                      f"this runtime reads {MANIFEST_FORMAT!r}")
        if data["variant"] not in VARIANTS:
            raise PolicyRejectedError(f"manifest variant {data['variant']!r} not in {VARIANTS}")
        if not math.isfinite(float(data["created"])):
            raise PolicyRejectedError("manifest 'created' is not finite")
        return cls(**{**data, "created": float(data["created"])})

    def canonical_bytes(self) -> bytes:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"),
                          ensure_ascii=True).encode("ascii")


def sign_manifest(manifest: PolicyManifest, signing_key: Any) -> bytes:
    """Ed25519 signature (64 bytes) of the manifest with a ``nacl.signing.SigningKey``."""
    return bytes(signing_key.sign(manifest.canonical_bytes()).signature)


def verify_policy(onnx_bytes: bytes, manifest_data: Any, signature: bytes, verify_key: Any, *,
                  spec_hash: str, current_version: int | None) -> PolicyManifest:
    """Check a received policy; return its manifest or raise :class:`PolicyRejectedError`.

    Checks, in order: manifest well-formed, signature (``nacl.signing.VerifyKey``), size and
    sha256 of the ONNX bytes, spec hash equal to ours, version strictly newer than the running one.
    The model's input/output signature is checked separately by the policy loader.
    """
    from nacl.exceptions import BadSignatureError

    manifest = PolicyManifest.from_dict(manifest_data)
    try:
        verify_key.verify(manifest.canonical_bytes(), bytes(signature))
    except (BadSignatureError, ValueError, TypeError) as error:
        raise PolicyRejectedError(
            f"signature check failed for policy version {manifest.version}: {error}") from error
    if len(onnx_bytes) != manifest.size:
        raise PolicyRejectedError(f"policy is {len(onnx_bytes)} bytes, manifest says "
                                  f"{manifest.size}")
    digest = hashlib.sha256(onnx_bytes).hexdigest()
    if digest != manifest.sha256:
        raise PolicyRejectedError(f"policy sha256 {digest[:16]} differs from manifest "
                                  f"{manifest.sha256[:16]}")
    if manifest.spec_hash != spec_hash:
        raise PolicyRejectedError(f"policy spec hash {manifest.spec_hash[:16]} differs from the "
                                  f"robot's {spec_hash[:16]}")
    if current_version is not None and manifest.version <= current_version:
        raise PolicyRejectedError(f"policy version {manifest.version} is not newer than the "
                                  f"running version {current_version} (replayed or stale)")
    return manifest
