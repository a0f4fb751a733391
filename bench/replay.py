"""Benchmark of the persistent replay: durable inserts/s and sampled sequences/s.

Insert phase: ``--streams`` robot streams each add ``--flush-every`` proprio steps, then one
``flush()`` makes them durable (fsync). Reported: transitions made durable per second and flush
latency. Baseline in the same run: the same bytes written as one file per stream and flush with
fsync, without the replay (so the ratio shows the replay's own overhead).

Sample phase: batches of ``B x T`` (default 16 x 64) with half the batch from the online queue.
Baseline: the same number of random windows cut from one contiguous in-memory array.

Ends with one JSON line of the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from offboard.replay import Replay, ReplayConfig


def make_steps(first: int, count: int, obs_dim: int, action_dim: int) -> dict[str, np.ndarray]:
    """``count`` proprio steps: obs ``(count, obs_dim)``, action ``(count, action_dim)``, ..."""
    rng = np.random.default_rng(first)
    seqs = np.arange(first, first + count)
    return {
        "obs": rng.standard_normal((count, obs_dim), dtype=np.float32),
        "action": rng.uniform(-1, 1, (count, action_dim)).astype(np.float32),
        "reward": rng.standard_normal(count, dtype=np.float32),
        "is_first": seqs % 1000 == 0,
        "is_last": seqs % 1000 == 999,
        "is_terminal": np.zeros(count, bool),
        "policy_version": np.zeros(count, np.int64),
    }


def bench_insert(replay: Replay, args: argparse.Namespace) -> dict[str, float]:
    """Add + flush rounds for ``args.seconds``; returns throughput and flush latencies."""
    streams = [(f"robot-{i}", "bench") for i in range(args.streams)]
    template = make_steps(0, args.flush_every, args.obs_dim, args.action_dim)
    next_seq = dict.fromkeys(streams, 0)
    latencies, durable_total = [], 0
    start = time.perf_counter()
    while time.perf_counter() - start < args.seconds:
        for stream in streams:
            replay.add(stream, next_seq[stream], template)
            next_seq[stream] += args.flush_every
        before = time.perf_counter()
        durable = replay.flush()
        latencies.append(time.perf_counter() - before)
        durable_total = sum(seq + 1 for seq in durable.values())
    elapsed = time.perf_counter() - start
    return {"insert_transitions_per_s": durable_total / elapsed,
            "flush_ms_p50": float(np.percentile(latencies, 50) * 1e3),
            "flush_ms_p99": float(np.percentile(latencies, 99) * 1e3),
            "flushes": len(latencies), "transitions": durable_total}


def bench_raw_writes(directory: Path, args: argparse.Namespace) -> float:
    """Baseline: same bytes per flush written to one new file per stream, fsync each + dir."""
    template = make_steps(0, args.flush_every, args.obs_dim, args.action_dim)
    payload = b"".join(np.ascontiguousarray(a).tobytes() for a in template.values())
    directory.mkdir()
    written, index = 0, 0
    start = time.perf_counter()
    while time.perf_counter() - start < args.seconds:
        for stream in range(args.streams):
            path = directory / f"{stream}-{index}.bin"
            with open(path, "wb") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            written += args.flush_every
        descriptor = os.open(directory, os.O_RDONLY)
        os.fsync(descriptor)
        os.close(descriptor)
        index += 1
    return written / (time.perf_counter() - start)


def bench_sample(replay: Replay, args: argparse.Namespace) -> float:
    """Sequences of ``T`` sampled per second from the filled replay."""
    sequences = 0
    start = time.perf_counter()
    while time.perf_counter() - start < args.seconds:
        replay.sample(args.batch_size)
        sequences += args.batch_size
    return sequences / (time.perf_counter() - start)


def bench_raw_sample(args: argparse.Namespace, steps: int) -> float:
    """Baseline: random ``(B, T)`` windows by fancy indexing of one contiguous array per key."""
    data = make_steps(0, steps, args.obs_dim, args.action_dim)
    rng = np.random.default_rng(0)
    offsets = np.arange(args.sequence_length)
    sequences = 0
    start = time.perf_counter()
    while time.perf_counter() - start < args.seconds:
        starts = rng.integers(0, steps - args.sequence_length, args.batch_size)
        index = starts[:, None] + offsets
        _ = {key: array[index] for key, array in data.items()}
        sequences += args.batch_size
    return sequences / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each phase")
    parser.add_argument("--streams", type=int, default=4, help="robot streams inserting")
    parser.add_argument("--flush-every", type=int, default=256,
                        help="steps added per stream between two flushes")
    parser.add_argument("--obs-dim", type=int, default=64, help="proprio observation size")
    parser.add_argument("--action-dim", type=int, default=12, help="action size")
    parser.add_argument("--chunk-size", type=int, default=1024, help="steps per chunk file")
    parser.add_argument("--batch-size", type=int, default=16, help="B")
    parser.add_argument("--sequence-length", type=int, default=64, help="T")
    parser.add_argument("--directory", default=None, help="where to write (default: a tmp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.directory) as folder:
        config = ReplayConfig(directory=str(Path(folder) / "replay"), chunk_size=args.chunk_size,
                              sequence_length=args.sequence_length, online_fraction=0.5,
                              capacity=10_000_000)
        replay = Replay(config)
        insert = bench_insert(replay, args)
        raw_insert = bench_raw_writes(Path(folder) / "raw", args)
        sample = bench_sample(replay, args)
        raw_sample = bench_raw_sample(args, min(insert["transitions"], 1_000_000))
        start = time.perf_counter()
        reloaded = Replay(config)
        reload_s = time.perf_counter() - start
    figures = {
        **insert, "raw_write_transitions_per_s": raw_insert,
        "insert_vs_raw": insert["insert_transitions_per_s"] / raw_insert,
        "sample_sequences_per_s": sample, "raw_sample_sequences_per_s": raw_sample,
        "sample_vs_raw": sample / raw_sample, "reload_s": reload_s,
        "reload_steps": reloaded.load_report.steps_loaded,
        "goal_20k_durable_transitions_per_s": insert["insert_transitions_per_s"] >= 20_000,
        "settings": {k: v for k, v in vars(args).items() if k != "directory"},
    }
    print(f"durable inserts: {insert['insert_transitions_per_s']:,.0f} transitions/s "
          f"({args.streams} streams, flush every {args.flush_every} steps/stream; flush p50 "
          f"{insert['flush_ms_p50']:.2f} ms, p99 {insert['flush_ms_p99']:.2f} ms); raw fsync "
          f"writes {raw_insert:,.0f}/s (ratio {figures['insert_vs_raw']:.2f})")
    print(f"sampling B={args.batch_size} T={args.sequence_length}: {sample:,.0f} sequences/s; "
          f"raw fancy indexing {raw_sample:,.0f}/s (ratio {figures['sample_vs_raw']:.2f})")
    print(f"reload of {figures['reload_steps']:,} steps: {reload_s:.2f} s")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
