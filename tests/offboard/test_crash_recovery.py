"""kill -9 at random moments: every restart loads valid checkpoints and an exactly-once replay."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from offboard.checkpoint import CheckpointConfig, CheckpointManager
from offboard.replay import Replay, ReplayConfig

torch.set_num_threads(1)
WRITER = Path(__file__).resolve().parent / "crash_writer.py"
ROOT = Path(__file__).resolve().parents[2]
ROUNDS = 5


def _run_and_kill(directory: Path, seed: int, delay: float, capacity: int) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen([sys.executable, str(WRITER), str(directory), str(seed),
                              str(capacity)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    try:
        line = child.stdout.readline()
        assert line.strip() == "ready", f"writer did not start: {line!r} {child.stderr.read()}"
        try:
            child.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL, child.stderr.read()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()
        child.stderr.close()


def _acked(directory: Path) -> dict[int, int]:
    acks: dict[int, int] = {}
    for line in (directory / "acks.log").read_text().split("\n")[:-1]:
        code, seq = (int(part) for part in line.split())
        acks[code] = max(acks.get(code, -1), seq)
    return acks


def _check_replay(directory: Path, capacity: int) -> int:
    replay = Replay(ReplayConfig(directory=str(directory / "replay"), chunk_size=64,
                                 sequence_length=8, capacity=capacity), spec_hash="crash-test")
    report = replay.load_report
    assert report.corrupt == [] and report.overlapping == [] and report.holes == [], report
    acked = _acked(directory)
    total = 0
    for code in range(3):
        stream = (f"robot-{code}", "run-0")
        seqs = replay.sequences(stream)
        durable = replay.durable_seq(stream)
        assert durable >= acked[code], "an ACKed transition was lost"
        first = int(seqs[0]) if len(seqs) else durable + 1
        assert first == 0 or capacity < 10**6, "steps vanished without eviction"
        np.testing.assert_array_equal(seqs, np.arange(first, durable + 1))  # each exactly once
        obs = replay.read(stream, first, durable + 1 - first)["obs"]
        np.testing.assert_array_equal(obs[:, 0], np.arange(first, durable + 1))
        assert np.all(obs[:, 1] == code)
        total += durable + 1
    assert replay.stored_steps <= capacity + 3 * 64
    return total


def _check_checkpoint(directory: Path) -> int:
    manager = CheckpointManager(CheckpointConfig(directory=str(directory / "ckpt"), keep=2))
    loaded = manager.load_latest()
    assert loaded is not None and loaded.skipped == []
    assert loaded.state["counters"]["step"] == loaded.step
    assert torch.all(loaded.state["weights"] == float(loaded.step))
    return loaded.step


@pytest.mark.timeout(120)
@pytest.mark.parametrize("capacity", [10**6, 2000], ids=["no-eviction", "eviction"])
def test_sigkill_at_random_moments_never_leaves_a_corrupt_state(tmp_path, capacity):
    rng = np.random.default_rng(2024)
    totals, steps = [], []
    for round_index in range(ROUNDS):
        _run_and_kill(tmp_path, round_index, float(rng.uniform(0.05, 0.6)), capacity)
        totals.append(_check_replay(tmp_path, capacity))
        steps.append(_check_checkpoint(tmp_path))
    assert totals == sorted(totals) and totals[-1] > totals[0]
    assert steps == sorted(steps)
