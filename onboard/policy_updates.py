"""Background verification of policies received over the link, then hand-over to the runtime.

:meth:`PolicyUpdater.submit` (called by the link's network thread, never blocks) queues a POLICY
message. The verifier thread checks, in order:

1. the manifest and its Ed25519 signature with the robot's verify key
   (:func:`shared.manifest.verify_policy`: signature, size and sha256 of the ONNX bytes, spec
   hash, version strictly newer than the last accepted one); the POLICY's ``version`` must equal
   the manifest's;
2. the model itself (:func:`onboard.policy.load_policy`: I/O names, dtypes, shapes, metadata);

and only then calls ``offer`` (e.g. :meth:`onboard.runtime.Runtime.offer_policy`). A refused
policy is counted by reason and logged; the robot keeps the policy it has. Unsigned policies are
refused when a verify key is configured, and accepted without one only with ``allow_unsigned``
(key-less local runs).
"""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from onboard.policy import LoadedPolicy, PolicyLoadError, load_policy
from shared.manifest import PolicyManifest, PolicyRejectedError, verify_policy
from shared.protocol import Policy
from shared.spec import EnvSpec

log = logging.getLogger(__name__)
#: rejection reasons, matched against :class:`PolicyRejectedError` messages in this order.
_REASONS = (("signature", "signature"), ("sha256", "digest"), ("bytes, manifest says", "digest"),
            ("spec hash", "spec_hash"), ("not newer", "stale"))


class PolicyUpdater:
    """Verifies and loads received policies off the control thread (see the module docstring).

    Args:
        spec: the robot's spec.
        offer: receives each accepted :class:`~onboard.policy.LoadedPolicy`.
        verify_key: ``nacl.signing.VerifyKey`` (see :func:`shared.keys.load_verify_key`) or None.
        allow_unsigned: accept policies without a signature when ``verify_key`` is None.
        current_version: version of the policy the robot already runs (0: none).
        queue_size: policies waiting for verification; when full the oldest is dropped (counted).
        variant: the policy variant the runtime runs (``sample`` or ``mode``); others are refused
            here, off the control thread (None: any).
    """

    def __init__(self, spec: EnvSpec, offer: Callable[[LoadedPolicy], None],
                 verify_key: Any = None, allow_unsigned: bool = False,
                 current_version: int = 0, queue_size: int = 2,
                 variant: str | None = None) -> None:
        self.spec = spec
        self.offer = offer
        self.variant = variant
        self.verify_key = verify_key
        self.allow_unsigned = allow_unsigned
        self.rejected: Counter[str] = Counter()
        """Refused policies by reason: ``unsigned``, ``signature``, ``digest``, ``spec_hash``,
        ``stale``, ``manifest``, ``model``, ``variant``, ``queue_full``."""
        self.accepted = 0
        self._version = current_version
        self._created: float | None = None
        self._lock = threading.Lock()
        self._queue: queue.Queue[Policy | None] = queue.Queue(queue_size)
        self._thread = threading.Thread(target=self._run, name="policy-verifier", daemon=True)

    def start(self) -> PolicyUpdater:
        """Start the verifier thread; returns self."""
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Finish the policy being checked and end the thread."""
        while True:
            try:
                self._queue.put_nowait(None)
                break
            except queue.Full:
                self._drop_oldest()
        self._thread.join(timeout)

    def submit(self, policy: Policy) -> None:
        """Queue ``policy`` for verification; never blocks (a full queue drops the oldest)."""
        while True:
            try:
                self._queue.put_nowait(policy)
                return
            except queue.Full:
                self._drop_oldest()

    def _drop_oldest(self) -> None:
        try:
            dropped = self._queue.get_nowait()
        except queue.Empty:
            return
        if dropped is not None:
            self.rejected["queue_full"] += 1
            log.warning("policy v%d dropped unchecked: a newer one arrived first", dropped.version)

    def running(self) -> tuple[int, float | None]:
        """``(version, created unix seconds or None)`` of the last accepted policy."""
        with self._lock:
            return self._version, self._created

    @property
    def version(self) -> int:
        """Version of the last accepted policy (0: none)."""
        return self.running()[0]

    def _run(self) -> None:
        while True:
            policy = self._queue.get()
            if policy is None:
                return
            started = time.perf_counter()
            try:
                manifest = self._verify(policy)
                loaded = load_policy(policy.onnx, self.spec, policy.version)
            except PolicyRejectedError as error:
                self._refuse(policy, _reason(str(error)), error)
                continue
            except PolicyLoadError as error:
                self._refuse(policy, "model", error)
                continue
            if self.variant is not None and loaded.variant != self.variant:
                self._refuse(policy, "variant", f"a {loaded.variant!r} policy cannot run in "
                             f"{self.variant!r} mode")
                continue
            self.offer(loaded)  # first, so whoever sees the new version finds the policy offered
            with self._lock:  # only this thread changes the version, so it is still newer
                self._version, self._created = manifest.version, manifest.created
            self.accepted += 1
            log.info("policy v%d accepted in %.1f ms (step %d, %s)", manifest.version,
                     1000 * (time.perf_counter() - started), manifest.training_step,
                     manifest.variant)

    def _verify(self, policy: Policy) -> PolicyManifest:
        version = self.version
        if self.verify_key is not None:
            if not policy.signature:
                raise PolicyRejectedError("unsigned policy refused: this robot has a verify key")
            manifest = verify_policy(policy.onnx, policy.manifest, policy.signature,
                                     self.verify_key, spec_hash=self.spec.hash,
                                     current_version=version)
        elif self.allow_unsigned:
            manifest = _check_unsigned(policy, self.spec.hash, version)
        else:
            raise PolicyRejectedError("no verify key configured and allow_unsigned is off: "
                                      "unsigned policy refused")
        if manifest.version != policy.version:
            raise PolicyRejectedError(f"POLICY version {policy.version} differs from its "
                                      f"manifest's {manifest.version}")
        return manifest

    def _refuse(self, policy: Policy, reason: str, error: object) -> None:
        self.rejected[reason] += 1
        log.error("policy v%d refused (%s, %d so far); keeping v%d: %s", policy.version, reason,
                  self.rejected[reason], self.version, error)


def _reason(message: str) -> str:
    if message.startswith(("unsigned", "no verify key")):
        return "unsigned"
    if message.startswith("manifest"):
        return "manifest"
    for fragment, reason in _REASONS:
        if fragment in message:
            return reason
    return "manifest"


def _check_unsigned(policy: Policy, spec_hash: str, version: int) -> PolicyManifest:
    """The checks of :func:`verify_policy` without the signature (key-less local runs only)."""
    manifest = PolicyManifest.from_dict(policy.manifest)
    digest = hashlib.sha256(policy.onnx).hexdigest()
    if len(policy.onnx) != manifest.size or digest != manifest.sha256:
        raise PolicyRejectedError(f"policy sha256 {digest[:16]} ({len(policy.onnx)} bytes) "
                                  f"differs from manifest {manifest.sha256[:16]}")
    if manifest.spec_hash != spec_hash:
        raise PolicyRejectedError(f"policy spec hash {manifest.spec_hash[:16]} differs from the "
                                  f"robot's {spec_hash[:16]}")
    if manifest.version <= version:
        raise PolicyRejectedError(f"policy version {manifest.version} is not newer than the "
                                  f"running version {version} (replayed or stale)")
    return manifest
