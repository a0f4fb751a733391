"""The message kinds of the ZeroMQ protocol, as frozen dataclasses.

Each kind has a wire name (``KIND``), validates its fields on construction (a bad field raises
:class:`~shared.errors.MalformedMessageError` naming kind, field and value) and converts to and
from its payload map with ``to_payload()`` / ``from_payload()``; a payload with a missing or
unknown field is an error. The envelope around a payload is in :mod:`shared.protocol`.

Sequence numbers: every robot stream ``(robot_id, run_id)`` numbers its environment steps
``0, 1, 2, ...`` (uint64). TRANSITIONS carries steps ``first_seq..last_seq`` inclusive; ACK says
every step with ``seq <= durable_seq`` is stored durably; WELCOME says which step the trainer
expects next (resume point). These are unrelated to the envelope ``seq``, which counts messages.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from shared import message_fields as check
from shared.errors import MalformedMessageError, SpecError, short_repr
from shared.spec import ALLOWED_DTYPES, EnvSpec

#: version of the envelope and of every payload schema in this module.
PROTOCOL_VERSION = 1
#: per-step array of the policy version that chose the action (TRANSITIONS).
POLICY_VERSION_KEY = "policy_version"
#: longest REJECT reason, in characters.
MAX_REASON_LENGTH = 4096
#: longest POLICY signature, in bytes.
MAX_SIGNATURE_BYTES = 1024
#: longest POLICY onnx file, in bytes (the codec's max_message_bytes bounds it as well).
MAX_ONNX_BYTES = 1 << 30
#: most elements over all spaces of a HELLO spec (each costs 16 bytes of bounds: 16 MiB).
MAX_SPEC_ELEMENTS = 1 << 20
#: most dimensions of one space in a HELLO spec.
MAX_SPACE_DIMS = 8
#: fixed dtypes of the reserved per-step arrays of TRANSITIONS, each of shape (T,).
STEP_DTYPES: dict[str, str] = {
    "reward": "float32", "is_first": "bool", "is_last": "bool", "is_terminal": "bool",
    POLICY_VERSION_KEY: "int64",
}


_ALLOWED = frozenset(np.dtype(name) for name in ALLOWED_DTYPES)
_STEP_DTYPES = {name: np.dtype(dtype) for name, dtype in STEP_DTYPES.items()}


class RejectCode:
    """Codes a REJECT carries (the reason text says what to do)."""

    VERSION_MISMATCH = "version_mismatch"
    SPEC_MISMATCH = "spec_mismatch"
    MALFORMED = "malformed"
    UNKNOWN_ROBOT = "unknown_robot"
    SEQUENCE_GAP = "sequence_gap"
    BUSY = "busy"


@dataclass(frozen=True)
class Hello:
    """Robot -> trainer, first message of a connection: who I am and what I speak."""

    KIND: ClassVar[str] = "HELLO"
    robot_id: str
    """Robot name, :data:`~shared.message_fields.ID_PATTERN`."""
    run_id: str
    """Run name, same pattern; ``(robot_id, run_id)`` names the step stream."""
    spec: EnvSpec
    """Observation and action spec; sent as ``spec`` (canonical map) plus ``spec_hash``."""
    policy_version: int
    """Version of the policy the robot runs now (0: none received yet)."""
    protocol_version: int = PROTOCOL_VERSION
    """Protocol version the robot speaks; must equal the envelope version."""

    def __post_init__(self) -> None:
        check.identifier(self.KIND, "robot_id", self.robot_id)
        check.identifier(self.KIND, "run_id", self.run_id)
        if not isinstance(self.spec, EnvSpec):
            raise MalformedMessageError(
                f"HELLO.spec must be an EnvSpec, got {short_repr(self.spec)}")
        shared_keys = sorted(set(self.spec.observation) & set(self.spec.action))
        if shared_keys or POLICY_VERSION_KEY in {*self.spec.observation, *self.spec.action}:
            raise MalformedMessageError(
                f"HELLO.spec: TRANSITIONS steps put observation and action keys in one map, so "
                f"they must differ and not be {POLICY_VERSION_KEY!r}; both have {shared_keys}")
        _set(self, "policy_version", check.integer(
            self.KIND, "policy_version", self.policy_version, 0, check.INT64_MAX))
        _set(self, "protocol_version", check.integer(
            self.KIND, "protocol_version", self.protocol_version, 0, 255))

    def to_payload(self) -> dict[str, Any]:
        return {"robot_id": self.robot_id, "run_id": self.run_id,
                "protocol_version": self.protocol_version, "spec": self.spec.to_canonical(),
                "spec_hash": self.spec.hash, "policy_version": self.policy_version}

    @classmethod
    def from_payload(cls, payload: Any) -> Hello:
        fields = check.check_names(cls.KIND, payload, (
            "robot_id", "run_id", "protocol_version", "spec", "spec_hash", "policy_version"))
        _precheck_spec(fields["spec"])
        try:
            spec = EnvSpec.from_canonical(fields["spec"])
        except (SpecError, TypeError, ValueError, OverflowError) as error:
            raise MalformedMessageError(f"HELLO.spec is not a valid spec: {error}") from error
        spec_hash = check.text(cls.KIND, "spec_hash", fields["spec_hash"], 64)
        if spec_hash != spec.hash:
            raise MalformedMessageError(
                f"HELLO.spec_hash {spec_hash[:16]} does not match the spec sent with it "
                f"({spec.hash[:16]}): the spec was altered in transit or encoded differently")
        return cls(fields["robot_id"], fields["run_id"], spec, fields["policy_version"],
                   fields["protocol_version"])


def _precheck_spec(spec: Any) -> None:
    """Refuse non-canonical dtypes and spaces whose bounds would take much memory, *before*
    numpy sees them (``np.dtype`` of an arbitrary map raises arbitrary errors)."""
    total = 0
    for part in spec.values() if isinstance(spec, dict) else ():
        for space in part.values() if isinstance(part, dict) else ():
            if not isinstance(space, dict):
                continue  # EnvSpec.from_canonical reports it
            if space.get("dtype") not in ALLOWED_DTYPES:
                raise MalformedMessageError(
                    f"HELLO.spec: dtype {short_repr(space.get('dtype'), 40)} is not one of "
                    f"{ALLOWED_DTYPES}")
            shape = space.get("shape")
            if not isinstance(shape, list) or not all(
                    isinstance(dim, int) and dim >= 0 for dim in shape):
                continue
            if len(shape) > MAX_SPACE_DIMS:
                raise MalformedMessageError(
                    f"HELLO.spec has a space of {len(shape)} dims; at most {MAX_SPACE_DIMS}")
            total += math.prod(shape)
            if total > MAX_SPEC_ELEMENTS:
                raise MalformedMessageError(
                    f"HELLO.spec spaces hold {total} elements or more; at most {MAX_SPEC_ELEMENTS}")


@dataclass(frozen=True)
class Welcome:
    """Trainer -> robot, answer to an accepted HELLO."""

    KIND: ClassVar[str] = "WELCOME"
    trainer_id: str
    """Trainer name, :data:`~shared.message_fields.ID_PATTERN`."""
    accepted: bool
    """True: the trainer stores this stream's TRANSITIONS and ACKs them. False: connected for
    policies and heartbeats only (e.g. an evaluation run); the robot keeps its steps itself."""
    next_seq: int
    """First step seq the trainer expects from this stream (every earlier one is durable)."""
    heartbeat_interval: float
    """Seconds between HEARTBEATs each side sends; silence for ~3 intervals means gone."""

    def __post_init__(self) -> None:
        check.identifier(self.KIND, "trainer_id", self.trainer_id)
        check.flag(self.KIND, "accepted", self.accepted)
        _set(self, "next_seq", check.integer(self.KIND, "next_seq", self.next_seq))
        interval = check.real(self.KIND, "heartbeat_interval", self.heartbeat_interval, 1e-3, 3600)
        _set(self, "heartbeat_interval", interval)

    def to_payload(self) -> dict[str, Any]:
        return {"trainer_id": self.trainer_id, "accepted": self.accepted,
                "next_seq": self.next_seq, "heartbeat_interval": self.heartbeat_interval}

    @classmethod
    def from_payload(cls, payload: Any) -> Welcome:
        return cls(**check.check_names(
            cls.KIND, payload, ("trainer_id", "accepted", "next_seq", "heartbeat_interval")))


@dataclass(frozen=True)
class Reject:
    """Trainer -> robot, answer to a refused HELLO (or to a message it cannot take)."""

    KIND: ClassVar[str] = "REJECT"
    code: str
    """Machine-readable cause, see :class:`RejectCode` (``[a-z][a-z0-9_]*``, <= 64 chars)."""
    reason: str
    """What went wrong and what a person should do, <= :data:`MAX_REASON_LENGTH` chars."""

    def __post_init__(self) -> None:
        check.text(self.KIND, "code", self.code, 64, check.CODE_PATTERN)
        check.text(self.KIND, "reason", self.reason, MAX_REASON_LENGTH)

    def to_payload(self) -> dict[str, Any]:
        return {"code": self.code, "reason": self.reason}

    @classmethod
    def from_payload(cls, payload: Any) -> Reject:
        return cls(**check.check_names(cls.KIND, payload, ("code", "reason")))


@dataclass(frozen=True, eq=False)
class Transitions:
    """Robot -> trainer: consecutive steps ``first_seq..last_seq`` of one stream, stacked.

    ``steps`` maps each observation key (reserved keys included), each action key and
    ``policy_version`` to an array of shape ``(T, *space.shape)``, ``T = last_seq - first_seq + 1``.
    Row ``t`` holds the observation of step ``first_seq + t``, the action chosen from it and
    the version of the policy that chose it.
    """

    KIND: ClassVar[str] = "TRANSITIONS"
    robot_id: str
    """Robot name."""
    run_id: str
    """Run name."""
    first_seq: int
    """Step seq of row 0 (uint64)."""
    last_seq: int
    """Step seq of the last row (uint64, >= first_seq)."""
    steps: dict[str, np.ndarray] = field(repr=False)
    """Key -> array ``(T, ...)``; reserved keys with the dtypes of :data:`STEP_DTYPES`."""

    def __post_init__(self) -> None:
        check.identifier(self.KIND, "robot_id", self.robot_id)
        check.identifier(self.KIND, "run_id", self.run_id)
        _set(self, "first_seq", check.integer(self.KIND, "first_seq", self.first_seq))
        _set(self, "last_seq", check.integer(self.KIND, "last_seq", self.last_seq))
        if self.last_seq < self.first_seq:
            raise MalformedMessageError(
                f"TRANSITIONS: last_seq {self.last_seq} < first_seq {self.first_seq}")
        _check_steps(check.mapping(self.KIND, "steps", self.steps), self.length)

    @property
    def length(self) -> int:
        """Number of steps ``T``."""
        return self.last_seq - self.first_seq + 1

    def to_payload(self) -> dict[str, Any]:
        return {"robot_id": self.robot_id, "run_id": self.run_id, "first_seq": self.first_seq,
                "last_seq": self.last_seq, "steps": self.steps}

    @classmethod
    def from_payload(cls, payload: Any) -> Transitions:
        return cls(**check.check_names(
            cls.KIND, payload, ("robot_id", "run_id", "first_seq", "last_seq", "steps")))


def _check_steps(steps: dict[Any, Any], length: int) -> None:
    missing = sorted(set(STEP_DTYPES) - set(steps))
    if missing:
        raise MalformedMessageError(f"TRANSITIONS.steps lacks the reserved keys {missing}")
    for name, array in steps.items():
        check.key("TRANSITIONS", "steps", name)
        if not isinstance(array, np.ndarray) or array.dtype not in _ALLOWED:
            raise MalformedMessageError(
                f"TRANSITIONS.steps[{name!r}] must be an array of an allowed dtype, "
                f"got {type(array).__name__} {getattr(array, 'dtype', '')}")
        if array.ndim == 0 or array.shape[0] != length:
            raise MalformedMessageError(
                f"TRANSITIONS.steps[{name!r}] has shape {array.shape}; expected {length} rows "
                "(last_seq - first_seq + 1)")
        expected = _STEP_DTYPES.get(name)
        if expected is not None and (array.dtype != expected or array.ndim != 1):
            raise MalformedMessageError(
                f"TRANSITIONS.steps[{name!r}] must be {expected} of shape ({length},), "
                f"got {array.dtype.name} {array.shape}")
    if length and int(steps[POLICY_VERSION_KEY].min()) < 0:
        raise MalformedMessageError("TRANSITIONS.steps['policy_version'] has a negative version")


@dataclass(frozen=True)
class Ack:
    """Trainer -> robot: every step of the stream with ``seq <= durable_seq`` is stored."""

    KIND: ClassVar[str] = "ACK"
    robot_id: str
    """Robot name."""
    run_id: str
    """Run name."""
    durable_seq: int
    """Highest step seq such that it and all before it are durable (uint64)."""

    def __post_init__(self) -> None:
        check.identifier(self.KIND, "robot_id", self.robot_id)
        check.identifier(self.KIND, "run_id", self.run_id)
        _set(self, "durable_seq", check.integer(self.KIND, "durable_seq", self.durable_seq))

    def to_payload(self) -> dict[str, Any]:
        return {"robot_id": self.robot_id, "run_id": self.run_id, "durable_seq": self.durable_seq}

    @classmethod
    def from_payload(cls, payload: Any) -> Ack:
        return cls(**check.check_names(cls.KIND, payload, ("robot_id", "run_id", "durable_seq")))


@dataclass(frozen=True)
class Policy:
    """Trainer -> robot: a new ONNX policy. The receiver verifies ``signature`` over the onnx
    bytes and the manifest before using it (see the policy loader)."""

    KIND: ClassVar[str] = "POLICY"
    version: int
    """Policy version, >= 1, increasing within a run."""
    onnx: bytes = field(repr=False)
    """The ONNX model file (weights inside), non-empty."""
    manifest: dict[str, Any]
    """JSON-like description (I/O names, spec hash, sha256 of ``onnx``, ...)."""
    signature: bytes = field(repr=False)
    """Signature bytes (<= :data:`MAX_SIGNATURE_BYTES`; empty: unsigned)."""

    def __post_init__(self) -> None:
        _set(self, "version", check.integer(self.KIND, "version", self.version, 1,
                                            check.INT64_MAX))
        _set(self, "onnx", check.blob(self.KIND, "onnx", self.onnx, MAX_ONNX_BYTES, 1))
        manifest = check.mapping(self.KIND, "manifest", self.manifest)
        _set(self, "manifest", check.plain(self.KIND, "manifest", manifest))
        _set(self, "signature", check.blob(self.KIND, "signature", self.signature,
                                           MAX_SIGNATURE_BYTES))

    def to_payload(self) -> dict[str, Any]:
        return {"version": self.version, "onnx": self.onnx, "manifest": self.manifest,
                "signature": self.signature}

    @classmethod
    def from_payload(cls, payload: Any) -> Policy:
        return cls(**check.check_names(
            cls.KIND, payload, ("version", "onnx", "manifest", "signature")))


@dataclass(frozen=True)
class Heartbeat:
    """Either way, every ``heartbeat_interval`` seconds: I am alive. No fields."""

    KIND: ClassVar[str] = "HEARTBEAT"

    def to_payload(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_payload(cls, payload: Any) -> Heartbeat:
        check.check_names(cls.KIND, payload, ())
        return cls()


@dataclass(frozen=True)
class Stats:
    """Either way: flat numeric figures for logging (``{"fps": 49.8, "overruns": 3}``)."""

    KIND: ClassVar[str] = "STATS"
    values: dict[str, float | int]
    """Name -> int or float (NaN and infinities allowed; bools are not numbers here)."""

    def __post_init__(self) -> None:
        clean = {}
        for name, value in check.mapping(self.KIND, "values", self.values).items():
            check.key(self.KIND, "values", name)
            numeric = isinstance(value, int | float | np.integer | np.floating)
            if isinstance(value, bool) or not numeric:
                raise MalformedMessageError(
                    f"STATS.values[{name!r}] must be a number, got {short_repr(value)}")
            number = value.item() if isinstance(value, np.generic) else value
            if isinstance(number, int):
                check.integer(self.KIND, f"values[{name!r}]", number, -(1 << 63),
                              check.UINT64_MAX)
            clean[name] = number
        _set(self, "values", clean)

    def to_payload(self) -> dict[str, Any]:
        return {"values": self.values}

    @classmethod
    def from_payload(cls, payload: Any) -> Stats:
        return cls(**check.check_names(cls.KIND, payload, ("values",)))


Message = Hello | Welcome | Reject | Transitions | Ack | Policy | Heartbeat | Stats
#: wire name -> message class; the one registry of kinds.
MESSAGE_TYPES: dict[str, type[Message]] = {
    cls.KIND: cls for cls in (Hello, Welcome, Reject, Transitions, Ack, Policy, Heartbeat, Stats)
}


def _set(instance: object, name: str, value: Any) -> None:
    object.__setattr__(instance, name, value)

