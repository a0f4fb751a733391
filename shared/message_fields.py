"""Checks for the fields of wire messages: each returns the normalised value or raises
:class:`~shared.errors.MalformedMessageError` naming the message kind, the field and the value.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping
from typing import Any

from shared.errors import MalformedMessageError, short_repr

UINT64_MAX = (1 << 64) - 1
INT64_MAX = (1 << 63) - 1
#: robot, run and trainer ids: safe as a file or directory name.
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
#: machine-readable codes (REJECT).
CODE_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,63}")
#: longest step/stat key, in characters.
MAX_KEY_LENGTH = 256
#: deepest nesting inside a POLICY manifest.
MAX_MANIFEST_DEPTH = 8


def _fail(kind: str, name: str, expected: str, value: Any) -> MalformedMessageError:
    return MalformedMessageError(f"{kind}.{name}: expected {expected}, got {short_repr(value)}")


def check_names(kind: str, payload: Any, names: tuple[str, ...]) -> dict[str, Any]:
    """The payload must be a map with exactly ``names`` as keys."""
    if not isinstance(payload, Mapping):
        raise MalformedMessageError(f"{kind} payload must be a map, got {type(payload).__name__}")
    missing = sorted(set(names) - set(payload))
    unknown = sorted(str(key)[:64] for key in set(payload) - set(names))
    if missing or unknown:
        raise MalformedMessageError(
            f"{kind} payload: missing fields {missing}, unknown fields {unknown[:8]}")
    return dict(payload)


def integer(kind: str, name: str, value: Any, low: int = 0, high: int = UINT64_MAX) -> int:
    """An int (not bool) in ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise _fail(kind, name, "an int", value)
    if not low <= int(value) <= high:
        raise _fail(kind, name, f"an int in [{low}, {high}]", value)
    return int(value)


def real(kind: str, name: str, value: Any, low: float = -math.inf, high: float = math.inf,
         finite: bool = True) -> float:
    """A float (ints accepted) in ``[low, high]``; NaN/inf refused when ``finite``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise _fail(kind, name, "a number", value)
    value = float(value)
    if finite and not math.isfinite(value):
        raise _fail(kind, name, "a finite number", value)
    if math.isfinite(value) and not low <= value <= high:
        raise _fail(kind, name, f"a number in [{low}, {high}]", value)
    return value


def flag(kind: str, name: str, value: Any) -> bool:
    """A bool."""
    if not isinstance(value, bool):
        raise _fail(kind, name, "a bool", value)
    return value


def text(kind: str, name: str, value: Any, max_length: int,
         pattern: re.Pattern[str] | None = None) -> str:
    """A non-empty str of at most ``max_length`` characters, matching ``pattern`` if given."""
    if not isinstance(value, str) or not 0 < len(value) <= max_length:
        raise _fail(kind, name, f"a str of 1..{max_length} characters", value)
    if pattern is not None and not pattern.fullmatch(value):
        raise _fail(kind, name, f"a str matching {pattern.pattern}", value)
    return value


def identifier(kind: str, name: str, value: Any) -> str:
    """An id (robot, run, trainer): see :data:`ID_PATTERN`."""
    return text(kind, name, value, 128, ID_PATTERN)


def blob(kind: str, name: str, value: Any, max_length: int, min_length: int = 0) -> bytes:
    """Bytes (bin) of ``min_length..max_length`` bytes."""
    if not isinstance(value, bytes | bytearray) or not min_length <= len(value) <= max_length:
        raise _fail(kind, name, f"bytes of {min_length}..{max_length} bytes", value)
    return bytes(value)


def mapping(kind: str, name: str, value: Any) -> dict[Any, Any]:
    """A dict (a msgpack map)."""
    if not isinstance(value, dict):
        raise _fail(kind, name, "a map", value)
    return value


def plain(kind: str, name: str, value: Any, depth: int = 0) -> Any:
    """A JSON-like value (str-keyed maps, lists, str, int, float, bool, None), copied."""
    if depth > MAX_MANIFEST_DEPTH:
        raise _fail(kind, name, f"nesting at most {MAX_MANIFEST_DEPTH} deep", "...")
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, list | tuple):
        return [plain(kind, name, item, depth + 1) for item in value]
    if isinstance(value, Mapping):
        if not all(isinstance(key, str) for key in value):
            raise _fail(kind, name, "a map with str keys", list(value)[:4])
        return {key: plain(kind, name, item, depth + 1) for key, item in value.items()}
    raise _fail(kind, name, "a JSON-like value (map, list, str, number, bool, None)", value)


def key(kind: str, name: str, value: Any) -> str:
    """A step or stat key: a non-empty str of at most :data:`MAX_KEY_LENGTH` characters."""
    return text(kind, f"{name} key", value, MAX_KEY_LENGTH)
