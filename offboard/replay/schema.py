"""Columns of the replay: which keys a step carries, with dtype and per-step shape.

A stored step is the flat dict the robot streams: every ``EnvSpec.observation`` key (``reward``,
``is_first``, ``is_last``, ``is_terminal`` and ``log/...`` keys included), every action key and
``policy_version`` (int64 scalar, the version of the policy that chose the action).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from offboard.replay.errors import ReplayInputError
from shared.spec import ALLOWED_DTYPES, EnvSpec

POLICY_VERSION_KEY = "policy_version"


@dataclass(frozen=True)
class Column:
    """One stored key.

    Attributes:
        dtype: numpy dtype of the values.
        shape: per-step shape (a column of ``n`` steps is ``(n, *shape)``).
    """

    dtype: np.dtype
    shape: tuple[int, ...]


Schema = dict[str, Column]


def schema_from_spec(spec: EnvSpec, extra: Mapping[str, Column] | None = None) -> Schema:
    """Columns of ``spec``'s observation and action keys plus ``policy_version`` and ``extra``."""
    if extra is None:
        extra = {POLICY_VERSION_KEY: Column(np.dtype(np.int64), ())}
    schema: Schema = {}
    for part in (spec.observation, spec.action, extra):
        for key, space in part.items():
            if key in schema:
                raise ReplayInputError(f"key {key!r} appears twice in observation/action/extra")
            column = space if isinstance(space, Column) else Column(space.dtype, space.shape)
            schema[key] = Column(np.dtype(column.dtype), tuple(column.shape))
    return schema


def check_schema(schema: Schema) -> Schema:
    """Return ``schema`` after checking every dtype is one of :data:`shared.spec.ALLOWED_DTYPES`.

    Raises:
        ReplayInputError: naming the key and its dtype.
    """
    for key, column in schema.items():
        if not isinstance(key, str) or not key:
            raise ReplayInputError(f"column name {key!r} must be a non-empty string")
        if np.dtype(column.dtype).name not in ALLOWED_DTYPES:
            raise ReplayInputError(f"column {key!r} has dtype {np.dtype(column.dtype).name!r}; "
                                   f"allowed: {ALLOWED_DTYPES}")
    return schema


def schema_of(columns: Mapping[str, np.ndarray]) -> Schema:
    """The schema that arrays of shape ``(n, ...)`` have."""
    return {key: Column(array.dtype, tuple(array.shape[1:])) for key, array in columns.items()}


def validate_steps(steps: Mapping[str, np.ndarray], schema: Schema) -> tuple[dict, int]:
    """Check ``steps`` (each ``(n, *shape)``) against ``schema``; return (arrays, n).

    Values are cast to the column dtype when numpy calls the cast ``same_kind`` (float64 to
    float32, int64 to int32); anything else is an error naming key, expected and actual.

    Raises:
        ReplayInputError: missing or unexpected keys, wrong shapes, unequal lengths, bad dtypes.
    """
    missing = sorted(set(schema) - set(steps))
    extra = sorted(set(steps) - set(schema))
    if missing or extra:
        raise ReplayInputError(f"steps: missing keys {missing}, unexpected keys {extra}")
    arrays: dict[str, np.ndarray] = {}
    lengths = set()
    for key, column in schema.items():
        array = np.asarray(steps[key])
        if array.shape[1:] != column.shape or array.ndim != len(column.shape) + 1:
            raise ReplayInputError(f"steps[{key!r}]: expected shape (n, *{column.shape}), "
                                   f"got {array.shape}")
        if array.dtype != column.dtype:
            if not np.can_cast(array.dtype, column.dtype, casting="same_kind"):
                raise ReplayInputError(f"steps[{key!r}]: expected dtype {column.dtype.name}, "
                                       f"got {array.dtype.name}")
            array = array.astype(column.dtype)
        arrays[key] = array
        lengths.add(array.shape[0])
    if len(lengths) > 1:
        raise ReplayInputError(f"steps: keys have different lengths {sorted(lengths)}")
    return arrays, lengths.pop() if lengths else 0


def same_schema(left: Schema, right: Schema) -> bool:
    """True when both have the same keys, dtypes and shapes."""
    return left.keys() == right.keys() and all(
        left[key].dtype == right[key].dtype and left[key].shape == right[key].shape
        for key in left)
