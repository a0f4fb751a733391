"""Helpers for link and ingest tests: numbered fake steps, free ports, waiting, a small replay."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from offboard.replay import Replay, ReplayConfig, schema_from_spec
from onboard.link_config import LinkConfig
from shared.messages import POLICY_VERSION_KEY
from shared.spec import EnvSpec
from tests.onboard.onnx_fakes import SPEC


def make_step(index: int, spec: EnvSpec = SPEC) -> dict[str, np.ndarray]:
    """A step of ``spec`` whose ``reward`` is ``index`` (exact in float32 below 2**24)."""
    step = {key: np.zeros(space.shape, space.dtype)
            for part in (spec.observation, spec.action) for key, space in part.items()}
    step["reward"] = np.float32(index)
    step["is_first"] = np.bool_(index % 50 == 0)
    step["is_last"] = np.bool_(index % 50 == 49)
    step[POLICY_VERSION_KEY] = np.int64(index // 1000)
    return step


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` every 10 ms; fail the test with ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


def open_replay(directory: Path, spec: EnvSpec = SPEC) -> Replay:
    """A small replay of ``spec`` in ``directory`` (chunks of 256 steps)."""
    config = ReplayConfig(directory=str(directory), chunk_size=256, sequence_length=8,
                          write_threads=1)
    return Replay(config, spec.hash, schema_from_spec(spec))


def link_config(endpoint: str, spool: Path, **overrides: object) -> LinkConfig:
    """Fast link settings for tests (short heartbeats and timeouts)."""
    settings: dict[str, object] = {
        "endpoint": endpoint, "robot_id": "a1", "spool_dir": str(spool),
        "heartbeat_interval": 0.1, "peer_timeout": 1.0, "batch_max_age": 0.02,
        "stats_interval": 0.2}
    settings.update(overrides)
    return LinkConfig(**settings)  # type: ignore[arg-type]


def assert_exactly_once(replay: Replay, stream: tuple[str, str], count: int) -> None:
    """The replay holds steps ``0..count-1`` of ``stream`` once each, rewards equal to seqs."""
    sequences = replay.sequences(stream)
    np.testing.assert_array_equal(sequences, np.arange(count))
    assert replay.counters.gaps == 0, list(replay.gaps)
    rewards = replay.read(stream, 0, count)["reward"]
    np.testing.assert_array_equal(rewards, np.arange(count, dtype=np.float32))
