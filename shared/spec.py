"""Observation and action specs: the one contract between robot, firmware bridge and trainer.

Vocabulary
----------
``Space(dtype, shape, low, high)``
    One array-valued key. ``low``/``high`` are *inclusive* bounds, stored broadcast to ``shape``
    (float64). Integer scalar spaces are *discrete*: ``Space(np.int32, (), 0, 5)`` has 6 classes.
``Spec``
    A flat ``dict[str, Space]``. An observation spec always holds the reserved keys
    ``reward`` (float32 scalar), ``is_first``, ``is_last``, ``is_terminal`` (bool scalars).
    Keys that start with ``log/`` are carried and recorded but never reach the model.
``EnvSpec``
    The pair (observation spec, action spec) with a stable :attr:`EnvSpec.hash`.

Canonical encoding (what the hash is computed over)
----------------------------------------------------
``{"observation": {...}, "action": {...}}`` as JSON with keys sorted, separators ``,`` and ``:``
and ASCII only. Each space is ``{"dtype": <numpy dtype name, e.g. "float32">, "shape": [..],
"low": L, "high": H}`` where ``L``/``H`` is a single number when every element is equal and
otherwise the flat row-major list. Numbers are written as float64 with Python's shortest
round-trip ``repr`` (``1.0``, ``-0.5``), infinities as the strings ``"inf"``/``"-inf"``.
The hash is the lowercase hex SHA-256 of the UTF-8 bytes: independent of process, machine and the
order in which keys were inserted.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shared.errors import SpecError, SpecViolationError

#: dtypes a space may have (also the allow-list of the wire codec).
ALLOWED_DTYPES: tuple[str, ...] = (
    "bool", "uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64",
    "float16", "float32", "float64",
)
#: observation keys every observation spec carries, with their fixed spaces' dtypes.
RESERVED_KEYS: tuple[str, ...] = ("reward", "is_first", "is_last", "is_terminal")
#: prefix of keys that are recorded but never fed to the model.
LOG_PREFIX = "log/"


def _bounds_for(dtype: np.dtype) -> tuple[float, float]:
    if dtype == np.bool_:
        return 0.0, 1.0
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return float(info.min), float(info.max)
    return -math.inf, math.inf


@dataclass(frozen=True, eq=False)
class Space:
    """One array-valued key of a spec.

    Attributes:
        dtype: numpy dtype, one of :data:`ALLOWED_DTYPES`.
        shape: array shape, e.g. ``(12,)`` for joint angles or ``(64, 64, 3)`` for an image.
        low: inclusive lower bound, float64 array of ``shape`` (scalars are broadcast).
        high: inclusive upper bound, float64 array of ``shape``.
    """

    dtype: np.dtype
    shape: tuple[int, ...]
    low: np.ndarray = field(default=None)  # type: ignore[assignment]
    high: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __init__(self, dtype: Any, shape: tuple[int, ...] | list[int] = (),
                 low: Any = None, high: Any = None) -> None:
        try:
            dt = np.dtype(dtype)
        except TypeError as error:
            raise SpecError(f"unknown dtype {dtype!r}") from error
        if dt.name not in ALLOWED_DTYPES:
            raise SpecError(f"dtype {dt.name!r} is not allowed; use one of {ALLOWED_DTYPES}")
        shape = tuple(int(s) for s in shape)
        if any(s < 0 for s in shape):
            raise SpecError(f"shape {shape} has a negative dimension")
        default_low, default_high = _bounds_for(dt)
        low_arr = _broadcast(default_low if low is None else low, shape, "low")
        high_arr = _broadcast(default_high if high is None else high, shape, "high")
        if np.any(low_arr > high_arr):
            raise SpecError(
                f"low > high somewhere: low={low_arr.tolist()} high={high_arr.tolist()}")
        object.__setattr__(self, "dtype", dt)
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "low", low_arr)
        object.__setattr__(self, "high", high_arr)

    @property
    def discrete(self) -> bool:
        """True for an integer scalar space (a categorical choice)."""
        return np.issubdtype(self.dtype, np.integer) and self.shape == ()

    @property
    def classes(self) -> int:
        """Number of choices of a discrete space (bounds inclusive)."""
        if not self.discrete:
            raise SpecError(f"{self} is not discrete")
        return int(self.high) - int(self.low) + 1

    @property
    def size(self) -> int:
        """Number of elements of one value."""
        return int(np.prod(self.shape, dtype=np.int64))

    def to_canonical(self) -> dict[str, Any]:
        """JSON-ready canonical form (see module docstring)."""
        return {
            "dtype": self.dtype.name,
            "shape": list(self.shape),
            "low": _encode_bound(self.low),
            "high": _encode_bound(self.high),
        }

    @classmethod
    def from_canonical(cls, data: Mapping[str, Any]) -> Space:
        """Inverse of :meth:`to_canonical`; raises :class:`SpecError` on malformed input."""
        if not isinstance(data, Mapping) or set(data) != {"dtype", "shape", "low", "high"}:
            raise SpecError(f"a space needs exactly dtype, shape, low, high; got {data!r}")
        shape = data["shape"]
        if not isinstance(shape, list | tuple) or not all(isinstance(s, int) for s in shape):
            raise SpecError(f"shape must be a list of ints, got {shape!r}")
        return cls(data["dtype"], tuple(shape), _decode_bound(data["low"], shape),
                   _decode_bound(data["high"], shape))

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """A uniformly random valid value (bounded spaces) or a standard normal one (unbounded)."""
        if self.dtype == np.bool_:
            return rng.integers(0, 2, self.shape).astype(bool)
        if np.issubdtype(self.dtype, np.integer):
            low = np.clip(self.low, -(2.0**62), 2.0**62).astype(np.int64)
            high = np.clip(self.high, -(2.0**62), 2.0**62).astype(np.int64)
            return np.asarray(rng.integers(low, high, endpoint=True)).astype(self.dtype)
        low = np.where(np.isfinite(self.low), self.low, -1.0)
        high = np.where(np.isfinite(self.high), self.high, 1.0)
        return np.asarray(rng.uniform(low, high)).astype(self.dtype)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Space) and self.to_canonical() == other.to_canonical()

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_canonical(), sort_keys=True))

    def __repr__(self) -> str:
        c = self.to_canonical()
        return f"Space({c['dtype']}, shape={tuple(c['shape'])}, low={c['low']}, high={c['high']})"


def _broadcast(value: Any, shape: tuple[int, ...], name: str) -> np.ndarray:
    try:
        arr = np.broadcast_to(np.asarray(value, dtype=np.float64), shape).copy()
    except (ValueError, TypeError) as error:
        raise SpecError(f"{name}={value!r} does not broadcast to shape {shape}") from error
    if np.any(np.isnan(arr)):
        raise SpecError(f"{name} contains NaN")
    arr.setflags(write=False)
    return arr


def _encode_number(x: float) -> float | str:
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return float(x)


def _encode_bound(arr: np.ndarray) -> Any:
    flat = arr.reshape(-1)
    if flat.size and np.all(flat == flat[0]):
        return _encode_number(float(flat[0]))
    return [_encode_number(float(x)) for x in flat]


def _decode_bound(value: Any, shape: list[int]) -> Any:
    def number(x: Any) -> float:
        if x in ("inf", "-inf"):
            return float(x)
        if isinstance(x, bool) or not isinstance(x, int | float):
            raise SpecError(f"bound must be a number or 'inf'/'-inf', got {x!r}")
        return float(x)

    if isinstance(value, list):
        flat = np.asarray([number(x) for x in value], dtype=np.float64)
        if flat.size != int(np.prod(shape, dtype=np.int64)):
            raise SpecError(f"bound list has {flat.size} numbers, shape {list(shape)} needs "
                            f"{int(np.prod(shape, dtype=np.int64))}")
        return flat.reshape(shape)
    return number(value)


Spec = dict[str, Space]


def reserved_spaces() -> Spec:
    """The spaces of the reserved observation keys."""
    return {
        "reward": Space(np.float32, ()),
        "is_first": Space(bool, ()),
        "is_last": Space(bool, ()),
        "is_terminal": Space(bool, ()),
    }


def model_keys(spec: Mapping[str, Space]) -> list[str]:
    """Observation keys the model sees: not reserved and not ``log/``-prefixed, sorted."""
    return sorted(k for k in spec if k not in RESERVED_KEYS and not k.startswith(LOG_PREFIX))


@dataclass(frozen=True)
class EnvSpec:
    """Observation spec plus action spec, with a stable hash.

    Attributes:
        observation: flat dict of spaces, including the reserved keys.
        action: flat dict of spaces (usually one key, ``action``).
    """

    observation: Mapping[str, Space]
    action: Mapping[str, Space]

    def __post_init__(self) -> None:
        for kind, spec in (("observation", self.observation), ("action", self.action)):
            for key, space in spec.items():
                if not isinstance(key, str) or not key:
                    raise SpecError(f"{kind} key {key!r} must be a non-empty string")
                if not isinstance(space, Space):
                    raise SpecError(f"{kind} key {key!r} maps to {space!r}, not a Space")
        for key, space in reserved_spaces().items():
            have = self.observation.get(key)
            if have != space:
                raise SpecError(f"observation key {key!r} must be {space}, got {have}")
        if not self.action:
            raise SpecError("the action spec is empty")
        object.__setattr__(self, "observation", dict(sorted(self.observation.items())))
        object.__setattr__(self, "action", dict(sorted(self.action.items())))

    @classmethod
    def create(cls, observation: Mapping[str, Space], action: Mapping[str, Space]) -> EnvSpec:
        """Build a spec, adding the reserved observation keys."""
        return cls({**observation, **reserved_spaces()}, dict(action))

    def to_canonical(self) -> dict[str, Any]:
        return {
            "observation": {k: v.to_canonical() for k, v in self.observation.items()},
            "action": {k: v.to_canonical() for k, v in self.action.items()},
        }

    @classmethod
    def from_canonical(cls, data: Mapping[str, Any]) -> EnvSpec:
        if not isinstance(data, Mapping) or set(data) != {"observation", "action"}:
            raise SpecError(f"a spec needs exactly 'observation' and 'action', got {data!r:.200}")
        parts = {}
        for kind in ("observation", "action"):
            if not isinstance(data[kind], Mapping):
                raise SpecError(f"spec {kind!r} must be a mapping, got {type(data[kind]).__name__}")
            parts[kind] = {str(k): Space.from_canonical(v) for k, v in data[kind].items()}
        return cls(parts["observation"], parts["action"])

    def canonical_bytes(self) -> bytes:
        return json.dumps(self.to_canonical(), sort_keys=True, separators=(",", ":"),
                          ensure_ascii=True).encode("ascii")

    @property
    def hash(self) -> str:
        """Hex SHA-256 of the canonical encoding."""
        return hashlib.sha256(self.canonical_bytes()).hexdigest()

    @property
    def model_keys(self) -> list[str]:
        return model_keys(self.observation)


def validate(value: Any, space: Space, key: str = "value") -> np.ndarray:
    """Check one value against its space and return it as an array of the space's dtype.

    Raises:
        SpecViolationError: naming ``key``, the expected and the actual dtype/shape/range.
    """
    arr = np.asarray(value)
    if arr.dtype != space.dtype:
        same_kind = arr.dtype.kind == space.dtype.kind or (
            arr.dtype.kind in "iub" and space.dtype.kind in "iu" and arr.dtype.kind != "b")
        if not (same_kind and np.can_cast(arr.dtype, space.dtype, casting="same_kind")):
            raise SpecViolationError(
                f"{key}: expected dtype {space.dtype.name}, got {arr.dtype.name}")
    if arr.shape != space.shape:
        raise SpecViolationError(f"{key}: expected shape {space.shape}, got {arr.shape}")
    if arr.dtype.kind == "f" and np.any(np.isnan(arr)):
        raise SpecViolationError(f"{key}: contains NaN")
    if arr.dtype != np.bool_:
        below = arr < space.low
        above = arr > space.high
        if np.any(below) or np.any(above):
            index = np.argwhere(below | above)[0] if arr.ndim else ()
            index = tuple(int(i) for i in index)
            raise SpecViolationError(
                f"{key}: value {arr[index]!r} at index {index} outside "
                f"[{space.low[index]}, {space.high[index]}]")
    return arr.astype(space.dtype, copy=False)


def validate_all(values: Mapping[str, Any], spec: Mapping[str, Space],
                 what: str = "observation") -> dict[str, np.ndarray]:
    """Validate a whole dict: exactly the spec's keys, each value valid."""
    missing = sorted(set(spec) - set(values))
    extra = sorted(set(values) - set(spec))
    if missing or extra:
        raise SpecViolationError(f"{what}: missing keys {missing}, unexpected keys {extra}")
    return {key: validate(values[key], space, f"{what}[{key!r}]") for key, space in spec.items()}


def check_same(local: EnvSpec, remote_hash: str, remote: EnvSpec | None = None,
               who: str = "peer") -> None:
    """Raise :class:`~shared.errors.SpecMismatchError` showing both sides when hashes differ."""
    from shared.errors import SpecMismatchError

    if local.hash == remote_hash:
        return
    lines = [f"spec hash mismatch: local {local.hash[:16]} vs {who} {remote_hash[:16]}"]
    if remote is not None:
        for kind in ("observation", "action"):
            mine, theirs = getattr(local, kind), getattr(remote, kind)
            for key in sorted(set(mine) | set(theirs)):
                if mine.get(key) != theirs.get(key):
                    lines.append(f"  {kind}[{key!r}]: local {mine.get(key)} "
                                 f"vs {who} {theirs.get(key)}")
    raise SpecMismatchError("\n".join(lines))
