"""End to end: a robot streams while the trainer process is SIGKILLed and restarted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from onboard.link import Link
from tests.onboard.link_fakes import (
    assert_exactly_once,
    free_port,
    link_config,
    make_step,
    open_replay,
    wait_for,
)
from tests.onboard.onnx_fakes import SPEC

SERVER = Path(__file__).resolve().parent / "ingest_server.py"
ROOT = Path(__file__).resolve().parents[2]


def _start_server(directory: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen([sys.executable, str(SERVER), str(directory), str(port)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    line = child.stdout.readline()
    if line.strip() != "ready":
        child.kill()
        raise AssertionError(f"server did not start: {line!r} {child.stderr.read()}")
    return child


def _kill(child: subprocess.Popen) -> None:
    child.send_signal(signal.SIGKILL)
    assert child.wait(timeout=10) == -signal.SIGKILL
    child.stdout.close()
    child.stderr.close()


def _produce(link: Link, count: int, rate: float, times: list[float]) -> None:
    start = time.monotonic()
    for index in range(count):
        delay = start + index / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        began = time.perf_counter()
        link.record(make_step(index))
        times.append(time.perf_counter() - began)


def _stream_through_kills(tmp_path: Path, count: int, kill_at: tuple[float, ...],
                          down_for: float) -> None:
    port = free_port()
    replay_dir = tmp_path / "replay"
    server = _start_server(replay_dir, port)
    link = Link(link_config(f"tcp://127.0.0.1:{port}", tmp_path / "spool"), SPEC).start()
    times: list[float] = []
    producer = threading.Thread(target=_produce, args=(link, count, 200.0, times))
    started = time.monotonic()
    producer.start()
    try:
        for moment in kill_at:
            time.sleep(max(0.0, started + moment - time.monotonic()))
            _kill(server)
            time.sleep(down_for)
            server = _start_server(replay_dir, port)
        producer.join()
        wait_for(lambda: link.status().acked_seq == count - 1, 30, "every step acknowledged")
        status = link.status()
        assert status.pending_batches == 0 and status.queue_drops == 0
        assert status.reconnects >= len(kill_at)
        assert status.batches_resent >= 1  # unacknowledged batches went out again
        assert link.stop(2.0)
    finally:
        producer.join()
        link.stop(0.1)
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=10)
        server.stdout.close()
        server.stderr.close()
    assert len(times) == count
    assert float(np.percentile(times, 99)) < 0.005, "record() must never block"
    replay = open_replay(replay_dir)
    try:
        assert_exactly_once(replay, link.stream, count)
    finally:
        replay.close()


def test_trainer_killed_twice_every_step_stored_once(tmp_path: Path) -> None:
    _stream_through_kills(tmp_path, count=1400, kill_at=(1.8, 4.0), down_for=0.3)


@pytest.mark.slow
def test_trainer_killed_often_during_a_long_run(tmp_path: Path) -> None:
    kills = tuple(2.0 + 3.0 * index for index in range(10))
    _stream_through_kills(tmp_path, count=200 * 34, kill_at=kills, down_for=1.5)
