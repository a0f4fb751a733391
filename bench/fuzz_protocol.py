"""Fuzz the ZeroMQ message decoder: only ProtocolError subclasses may escape it.

Inputs: random bytes, mutations of valid messages of every kind (bit flips, byte overwrites,
truncation, splicing, insertion/deletion, length-field corruption), nesting bombs, huge declared
lengths, hostile array headers, and schema mutations (valid msgpack with a field dropped, added
or of the wrong type). Prints a table, then one JSON line
``{"count", "seconds", "inputs_per_second", "accepted", "errors": {class: n}, "failures"}``;
exits 1 if any other exception escaped.

    python bench/fuzz_protocol.py --count 1000000 --seed 0
"""

from __future__ import annotations

import argparse
import json
import random
import struct
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgpack
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.errors import ProtocolError
from shared.protocol import (
    Ack,
    Heartbeat,
    Hello,
    Policy,
    Reject,
    Stats,
    Transitions,
    Welcome,
    decode_message,
    encode_message,
)
from shared.spec import EnvSpec, Space


def sample_messages() -> list[Any]:
    """One or more small valid messages of every kind."""
    spec = EnvSpec.create(
        {"joints": Space(np.float32, (3,), -1, 1), "log/temp": Space(np.float16, ())},
        {"action": Space(np.float32, (2,), [-1, -2], [1, 2])})
    rng = np.random.default_rng(0)

    def steps(length: int, image: bool = False) -> dict[str, np.ndarray]:
        out = {"joints": rng.standard_normal((length, 3)).astype(np.float32),
               "action": rng.uniform(-1, 1, (length, 2)).astype(np.float32),
               "reward": rng.standard_normal(length).astype(np.float32),
               "is_first": np.arange(length) == 0, "is_last": np.zeros(length, bool),
               "is_terminal": np.zeros(length, bool),
               "policy_version": np.full(length, 3, np.int64)}
        if image:
            out["image"] = rng.integers(0, 255, (length, 4, 4, 3), dtype=np.uint8)
        return out

    return [
        Hello("robot-1", "run_2026", spec, 0), Welcome("trainer", True, 17, 0.5),
        Reject("spec_mismatch", "spec hash differs: rebuild the robot config"),
        Transitions("robot-1", "run_2026", 5, 7, steps(3)),
        Transitions("a", "b", 0, 1, steps(2, image=True)), Ack("robot-1", "run_2026", 99),
        Policy(4, b"\x08\x01onnx", {"inputs": ["obs"], "sha": "ab", "n": 2.5}, b"s" * 64),
        Heartbeat(), Stats({"fps": 49.5, "overruns": 2, "loss": float("nan")}),
    ]


def _bomb(rng: random.Random) -> bytes:
    depth = rng.choice([17, 100, 1000, 100_000])
    opener = rng.choice([b"\x91", b"\x81\xa1k", b"\xdc\x00\x01", b"\xdd\x00\x00\x00\x01"])
    return b"\x85\xa7version\x01" + opener * depth


def _huge_length(rng: random.Random) -> bytes:
    head = rng.choice([b"\xc6", b"\xdb", b"\xdd", b"\xdf", b"\xc9", b"\xda", b"\xdc", b"\xde"])
    width = {b"\xda": 2, b"\xdc": 2, b"\xde": 2}.get(head, 4)
    value = rng.choice([2**(8 * width) - 1, 2**(8 * width - 1), rng.getrandbits(8 * width)])
    body = head + value.to_bytes(width, "big") + rng.randbytes(rng.randrange(16))
    return b"\x85\xa7version\x01\xa7payload" + body if rng.random() < 0.5 else body


def _hostile_array(rng: random.Random) -> bytes:
    ndim = rng.choice([0, 1, 3, 9, 255])
    dims = [rng.choice([0, 1, 7, 2**31, 2**32 - 1]) for _ in range(ndim)]
    header = struct.pack("<BBBB", rng.choice([1, 1, 2]), rng.randrange(14), ndim, 0)
    payload = header + struct.pack(f"<{ndim}I", *dims) + rng.randbytes(rng.randrange(24))
    array = msgpack.ExtType(rng.choice([1, 1, 1, 0, 2, 127]), payload)
    return msgpack.packb({"version": 1, "kind": "TRANSITIONS", "seq": 0, "time": 0.0,
                          "payload": {"steps": {"reward": array}}})


def _mutate_bytes(rng: random.Random, data: bytes) -> bytes:
    buffer = bytearray(data)
    for _ in range(rng.choice([1, 1, 2, 4])):
        choice = rng.randrange(6)
        position = rng.randrange(len(buffer)) if buffer else 0
        if choice == 0 and buffer:
            buffer[position] ^= 1 << rng.randrange(8)
        elif choice == 1 and buffer:
            buffer[position] = rng.choice([0x00, 0x7F, 0x80, 0xC1, 0xFF, rng.randrange(256)])
        elif choice == 2:
            del buffer[rng.randrange(len(buffer) + 1):]
        elif choice == 3:
            buffer[position:position] = rng.randbytes(rng.randrange(1, 9))
        elif choice == 4 and buffer:
            del buffer[position:position + rng.randrange(1, 9)]
        else:
            width = rng.choice([1, 2, 4])
            buffer[position:position + width] = rng.choice([b"\xff", b"\x00", b"\x7f"]) * width
    return bytes(buffer)


_ODD_VALUES = [None, True, -1, 0, 2**64 - 1, -(2**63), 1.5, float("nan"), float("inf"), "x" * 300,
               "", "inf", "float32", "object", "<f4", b"\x00", [], [-1], [2**40, 2**40], {},
               {"a": 1}, [1, 2], msgpack.ExtType(1, b"\x01\x0a\x01\x00\x02\x00\x00\x00"),
               msgpack.ExtType(1, b"\x01\x00\x01\x00\x02\x00\x00\x00\x02\x01"),
               {"names": [0], "formats": {"x": 1}}, {"names": ["a"], "formats": ["f4"]},
               {"names": ["a", "a"], "formats": ["f4", "f4"]}, ["f4", [1, 2]]]


_WORDS = ["float32", "int8", "bool", "O", "V8", "<f4", ">i2", "i99", "", "inf", "-inf", "S3",
          "(2)i4", "f4,i4", "datetime64[s]", "c8", "object", "dtype", "shape", "low", "high",
          "names", "formats", "policy_version", "reward", "steps", "HELLO", "TRANSITIONS"]


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    """A random JSON-like (plus bytes) value, up to 3 levels deep."""
    choice = rng.randrange(10)
    if choice == 0:
        return rng.choice([None, True, False, b"\x00\x01"])
    if choice == 1:
        return rng.choice([0, 1, -1, 3, 2**31, 2**63, 2**64 - 1, -(2**63)])
    if choice == 2:
        return rng.choice([0.5, float("nan"), float("inf"), -1e308])
    if choice in (3, 4):
        return rng.choice(_WORDS)
    if depth < 3 and choice in (5, 6):
        return [_random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    if depth < 3 and choice in (7, 8):
        return {rng.choice(_WORDS): _random_value(rng, depth + 1) for _ in range(rng.randrange(5))}
    return rng.choice([[1], [2, 3], [0], [], [-1], [2**31, 2]])


def _containers(document: Any) -> list[Any]:
    found = [document]
    children = document.values() if isinstance(document, dict) else document
    for child in children:
        if isinstance(child, dict | list):
            found.extend(_containers(child))
    return found


def _mutate_schema(rng: random.Random, document: dict[str, Any]) -> bytes:
    """Re-pack ``document`` with one container changed: a key dropped, added or retyped."""
    target = rng.choice(_containers(document))
    value = rng.choice(_ODD_VALUES) if rng.random() < 0.5 else _random_value(rng)
    if isinstance(target, list):
        if target and rng.random() < 0.7:
            target[rng.randrange(len(target))] = value
        else:
            target.append(value)
        return msgpack.packb(document, use_bin_type=True)
    keys = list(target)
    action = rng.randrange(3)
    if action == 0 and keys:
        del target[rng.choice(keys)]
    elif action == 1 or not keys:
        name = rng.choice(["extra", "seq", "kind", "steps", "spec", "dtype", "shape", "low"])
        target[name] = value
    else:
        target[rng.choice(keys)] = value
    return msgpack.packb(document, use_bin_type=True)


def _mutate_spec(rng: random.Random, hello: dict[str, Any]) -> bytes:
    """Re-pack a HELLO with one or two fields of one space set to random values."""
    spaces = [space for part in hello["payload"]["spec"].values() for space in part.values()]
    space = rng.choice(spaces)
    for _ in range(rng.randrange(1, 3)):
        value = rng.choice(_ODD_VALUES) if rng.random() < 0.5 else _random_value(rng)
        space[rng.choice(["dtype", "shape", "low", "high", "extra"])] = value
    return msgpack.packb(hello, use_bin_type=True)


def generate(count: int, seed: int = 0) -> Iterator[bytes]:
    """``count`` fuzz inputs, reproducible from ``seed``."""
    rng = random.Random(seed)
    corpus = [encode_message(message, seq, time=1.0) for seq, message in
              enumerate(sample_messages())]
    documents = [msgpack.unpackb(data, raw=False, strict_map_key=False,
                                 ext_hook=msgpack.ExtType) for data in corpus]
    makers: list[tuple[float, Callable[[], bytes]]] = [
        (0.15, lambda: rng.randbytes(rng.choice([0, 1, 2, 5, 16, 64, 300]))),
        (0.50, lambda: _mutate_bytes(rng, rng.choice(corpus))),
        (0.05, lambda: rng.choice(corpus)[:rng.randrange(40)] + rng.choice(corpus)[
            rng.randrange(40):]),
        (0.04, lambda: _bomb(rng)),
        (0.06, lambda: _huge_length(rng)),
        (0.05, lambda: _hostile_array(rng)),
        (0.12, lambda: _mutate_schema(rng, _copy(rng.choice(documents)))),
        (0.03, lambda: _mutate_spec(rng, _copy(documents[0]))),
    ]
    weights = [weight for weight, _ in makers]
    for _ in range(count):
        yield rng.choices(makers, weights)[0][1]()


def _copy(document: Any) -> Any:
    if isinstance(document, dict):
        return {key: _copy(value) for key, value in document.items()}
    if isinstance(document, list):
        return [_copy(value) for value in document]
    return document


def run(count: int, seed: int = 0) -> dict[str, Any]:
    """Decode ``count`` fuzz inputs; tally outcomes; keep up to 20 escaping exceptions."""
    outcomes: Counter[str] = Counter()
    failures: list[str] = []
    start = time.perf_counter()
    for data in generate(count, seed):
        try:
            decode_message(data)
            outcomes["accepted"] += 1
        except ProtocolError as error:
            outcomes[type(error).__name__] += 1
        except Exception as error:  # any other class is the bug we hunt
            outcomes["FAILURE"] += 1
            if len(failures) < 20:
                failures.append(f"{type(error).__name__}: {error} <- {data[:80].hex()}")
    seconds = time.perf_counter() - start
    return {"count": count, "seed": seed, "seconds": round(seconds, 3),
            "inputs_per_second": round(count / seconds), "accepted": outcomes.pop("accepted", 0),
            "failures": failures, "failure_count": outcomes.pop("FAILURE", 0),
            "errors": dict(sorted(outcomes.items()))}


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000, help="number of inputs")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    args = parser.parse_args(argv)
    result = run(args.count, args.seed)
    print(f"{'outcome':<28}{'count':>10}")
    print(f"{'accepted (valid message)':<28}{result['accepted']:>10}")
    for name, number in result["errors"].items():
        print(f"{name:<28}{number:>10}")
    print(f"{'NOT a ProtocolError':<28}{result['failure_count']:>10}")
    for failure in result["failures"]:
        print("  ", failure)
    print(f"{result['count']} inputs in {result['seconds']} s "
          f"({result['inputs_per_second']} per second)")
    print(json.dumps(result))
    return 1 if result["failure_count"] else 0


if __name__ == "__main__":
    sys.exit(main())
