"""Fixtures for the replay tests: steps whose values encode their stream and sequence number."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from offboard.replay import Replay, ReplayConfig


def steps_for(first_seq: int, count: int, stream_code: int = 0) -> dict[str, np.ndarray]:
    """``count`` steps; ``obs[:, 0]`` is the sequence number, ``obs[:, 1]`` the stream code."""
    seqs = np.arange(first_seq, first_seq + count)
    obs = np.stack([seqs, np.full(count, stream_code), seqs * 0.5], axis=1).astype(np.float32)
    return {
        "obs": obs,
        "reward": (seqs % 7).astype(np.float32),
        "is_first": seqs % 50 == 0,
        "is_last": seqs % 50 == 49,
        "is_terminal": np.zeros(count, bool),
        "action": np.stack([seqs, -seqs], axis=1).astype(np.float32),
        "log/temperature": np.full(count, 40.0, np.float32),
        "policy_version": (seqs // 100).astype(np.int64),
    }


@pytest.fixture
def make_steps() -> Callable[..., dict[str, np.ndarray]]:
    return steps_for


@pytest.fixture
def open_replay(tmp_path: Path) -> Callable[..., Replay]:
    """Open a replay in ``tmp_path/replay`` with small defaults (overridable by keyword)."""

    def opener(**overrides: object) -> Replay:
        settings = {"directory": str(tmp_path / "replay"), "chunk_size": 16,
                    "sequence_length": 4, "capacity": 10_000, "online_fraction": 0.0}
        settings.update(overrides)
        return Replay(ReplayConfig(**settings), spec_hash="spec-a")

    return opener
