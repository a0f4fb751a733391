"""Persistent replay of robot streams: chunk files, durable inserts, sampling, train-ratio limiter.

Modules: :mod:`~offboard.replay.chunkfile` (on-disk format), :mod:`~offboard.replay.loader`
(start-up), :mod:`~offboard.replay.store` (:class:`Replay`: inserts, flush, eviction, queries),
:mod:`~offboard.replay.sampler` (uniform + online windows), :mod:`~offboard.replay.limiter`
(replayed steps per inserted step). See ``docs/REPLAY.md``.
"""

from __future__ import annotations

from offboard.replay.config import ReplayConfig
from offboard.replay.errors import ChunkFileError, ReplayEmptyError, ReplayError, ReplayInputError
from offboard.replay.limiter import LimiterConfig, TrainRatioLimiter
from offboard.replay.loader import LoadReport
from offboard.replay.sampler import SampleInfo
from offboard.replay.schema import POLICY_VERSION_KEY, Column, Schema, schema_from_spec
from offboard.replay.store import AddResult, Replay, ReplayCounters

__all__ = [
    "POLICY_VERSION_KEY", "AddResult", "ChunkFileError", "Column", "LimiterConfig", "LoadReport",
    "Replay", "ReplayConfig", "ReplayCounters", "ReplayEmptyError", "ReplayError",
    "ReplayInputError", "SampleInfo", "Schema", "TrainRatioLimiter", "schema_from_spec",
]
