"""Throughput of the ZeroMQ message codec (encode_message / decode_message), one thread.

Two TRANSITIONS batches of 64 steps: (a) proprio: 16-d float32 observation, 12-d float32 action,
reserved keys and policy_version; (b) the same plus a 64x64x3 uint8 image per step. For each, the
figures are messages/s and MB/s (of message bytes) each way, next to a baseline measured in the
same run: plain ``msgpack.packb``/``unpackb`` of the same dict with every array as raw ``bin``
bytes (no ext header, no validation, no zero-copy). Ends with one JSON line.

    python bench/codec.py --seconds 2
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.protocol import Transitions, decode_message, encode_message

STEPS = 64


def make_batch(image: bool) -> Transitions:
    """A TRANSITIONS message of :data:`STEPS` steps, optionally with a (64, 64, 64, 3) image."""
    rng = np.random.default_rng(0)
    steps = {
        "proprio": rng.standard_normal((STEPS, 16)).astype(np.float32),
        "action": rng.uniform(-1, 1, (STEPS, 12)).astype(np.float32),
        "reward": rng.standard_normal(STEPS).astype(np.float32),
        "is_first": np.arange(STEPS) == 0,
        "is_last": np.zeros(STEPS, bool),
        "is_terminal": np.zeros(STEPS, bool),
        "policy_version": np.full(STEPS, 7, np.int64),
    }
    if image:
        steps["image"] = rng.integers(0, 256, (STEPS, 64, 64, 3), dtype=np.uint8)
    return Transitions("robot-1", "run-1", 1000, 1000 + STEPS - 1, steps)


def rate(function: Callable[[], Any], seconds: float) -> float:
    """Calls per second of ``function`` over at least ``seconds`` (after one warm-up call)."""
    function()
    calls, start = 0, time.perf_counter()
    batch = 1
    while True:
        for _ in range(batch):
            function()
        calls += batch
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return calls / elapsed
        batch = min(batch * 2, 1024)


def measure(message: Transitions, seconds: float) -> dict[str, float]:
    """Encode/decode rates of ``message`` and of the raw msgpack baseline."""
    data = encode_message(message, 1)
    decoded = decode_message(data).message
    assert isinstance(decoded, Transitions) and decoded.steps.keys() == message.steps.keys()
    raw_document = {"version": 1, "kind": "TRANSITIONS", "seq": 1, "time": 0.0,
                    "payload": message.to_payload() | {"steps": {
                        key: array.tobytes() for key, array in message.steps.items()}}}
    raw = msgpack.packb(raw_document)
    megabytes = len(data) / 1e6
    figures = {
        "message_bytes": len(data),
        "encode_per_s": rate(lambda: encode_message(message, 1, time=0.0), seconds),
        "decode_per_s": rate(lambda: decode_message(data), seconds),
        "baseline_encode_per_s": rate(lambda: msgpack.packb(raw_document), seconds),
        "baseline_decode_per_s": rate(lambda: msgpack.unpackb(raw), seconds),
    }
    figures["encode_mb_per_s"] = figures["encode_per_s"] * megabytes
    figures["decode_mb_per_s"] = figures["decode_per_s"] * megabytes
    figures["encode_vs_baseline"] = figures["encode_per_s"] / figures["baseline_encode_per_s"]
    figures["decode_vs_baseline"] = figures["decode_per_s"] / figures["baseline_decode_per_s"]
    return {key: round(value, 3) for key, value in figures.items()}


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0,
                        help="seconds per measurement (8 measurements)")
    args = parser.parse_args(argv)
    results = {name: measure(make_batch(image), args.seconds)
               for name, image in (("proprio_64", False), ("image_64x64x3_64", True))}
    print(f"{'batch':<18}{'bytes':>9}{'enc msg/s':>11}{'enc MB/s':>10}{'dec msg/s':>11}"
          f"{'dec MB/s':>10}{'enc/raw':>9}{'dec/raw':>9}")
    for name, row in results.items():
        print(f"{name:<18}{row['message_bytes']:>9.0f}{row['encode_per_s']:>11.0f}"
              f"{row['encode_mb_per_s']:>10.1f}{row['decode_per_s']:>11.0f}"
              f"{row['decode_mb_per_s']:>10.1f}{row['encode_vs_baseline']:>9.2f}"
              f"{row['decode_vs_baseline']:>9.2f}")
    print("enc/raw, dec/raw: our rate divided by plain msgpack with arrays as raw bin "
          "(no validation), same run")
    print(json.dumps({"seconds_per_measurement": args.seconds, "steps": STEPS, **results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
