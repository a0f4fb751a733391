"""Parser fuzz benchmark: random bytes and mutated valid frames, each followed by a valid frame.

Checks that the parser never raises, counts every bad frame, and resynchronises on the next
delimiter (the valid marker frame after every input must decode); reports inputs/s and the
bad-frame kinds. Baseline measured in the same run: parsing the valid frames alone.

    python bench/fuzz_serial.py --count 100000 --seed 1

Ends with one JSON line of the figures.
"""

from __future__ import annotations

import argparse
import json
import random
import time

from firmware_bridge.framing import FrameEncoder, encode_frame
from firmware_bridge.messages import TABLE
from firmware_bridge.parser import Frame, FrameParser


def mutate(wire: bytes, rng: random.Random) -> bytes:
    """1-4 bit flips, deletions, insertions or duplications of a valid frame."""
    data = bytearray(wire)
    for _ in range(rng.randint(1, 4)):
        choice, position = rng.random(), rng.randrange(len(data))
        if choice < 0.5:
            data[position] ^= 1 << rng.randrange(8)
        elif choice < 0.7 and len(data) > 1:
            del data[position]
        elif choice < 0.9:
            data.insert(position, rng.getrandbits(8))
        else:
            data[position:position] = data[position:position + rng.randint(1, 8)]
    return bytes(data)


def valid_frames() -> list[bytes]:
    """A mix of COMMAND (0..32 targets), STATE and FAULT frames."""
    encoder = FrameEncoder(TABLE, lambda: 42)
    frames = [encoder.encode("COMMAND", {"command_seq": i, "mode": 0,
                                         "targets": [0.25 * i] * (i % 33)}) for i in range(33)]
    frames.append(encoder.encode("STATE", {
        "timestamp_us": 1, "joint_pos": [0.1] * 12, "joint_vel": [0.2] * 12,
        "imu_quat": [1, 0, 0, 0], "imu_gyro": [0, 0, 0], "imu_accel": [0, 0, 9.81],
        "task_sensors": [0.5] * 8, "estop": 0, "fault_flags": 0, "last_command_seq": 3}))
    frames.append(encoder.encode("FAULT", {"code": 3, "text": "boom"}))
    return frames


def main() -> None:
    """Run the fuzz and print the figures, then one JSON line."""
    parser_args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser_args.add_argument("--count", type=int, default=100_000, help="fuzz inputs")
    parser_args.add_argument("--seed", type=int, default=1, help="random seed")
    args = parser_args.parse_args()

    rng = random.Random(args.seed)
    frames = valid_frames()
    inputs = [bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 120))) if index % 2
              else mutate(rng.choice(frames), rng) for index in range(args.count)]
    marker = FrameEncoder(TABLE, lambda: 0).encode("HEARTBEAT", {"counter": 777, "echo": 0})

    baseline_parser = FrameParser(TABLE)
    started = time.perf_counter()
    for index in range(args.count):
        baseline_parser.feed(frames[index % len(frames)])
    baseline_s = time.perf_counter() - started

    parser, resynced, raised = FrameParser(TABLE), 0, 0
    accepted: list[Frame] = []
    started = time.perf_counter()
    for data in inputs:
        try:
            accepted += [event for event in parser.feed(data) if isinstance(event, Frame)]
            events = parser.feed(b"\x00" + marker)
        except Exception:  # counted: the figure that must stay 0
            raised += 1
            continue
        resynced += any(isinstance(event, Frame) and event.values.get("counter") == 777
                        for event in events)
    fuzz_s = time.perf_counter() - started
    originals = set(frames)
    false_accepts = sum(encode_frame(TABLE, frame.message.id, frame.seq, frame.timestamp_us,
                                     frame.message.encode(frame.values)) not in originals
                        for frame in accepted)

    stats = parser.stats
    figures = {
        "bench": "fuzz_serial", "count": args.count, "seed": args.seed,
        "exceptions": raised, "resynced": resynced, "bad_frames": stats.bad_total,
        "bad_by_kind": stats.bad, "intact_frames_in_fuzz": len(accepted) - false_accepts,
        "false_accepts": false_accepts,
        "fuzz_inputs_per_s": round(args.count / fuzz_s), "fuzz_seconds": round(fuzz_s, 2),
        "valid_frames_per_s": round(args.count / baseline_s),
        "fuzz_cost_ratio_to_valid": round(fuzz_s / baseline_s, 2),
    }
    print(f"{args.count} inputs in {fuzz_s:.2f} s ({figures['fuzz_inputs_per_s']}/s, "
          f"each followed by a marker frame); valid frames alone "
          f"{figures['valid_frames_per_s']}/s")
    print(f"exceptions {raised}; resynced {resynced}/{args.count}; bad frames "
          f"{stats.bad_total}: {stats.bad}")
    print(f"accepted frames {len(accepted)} (mutations that left a frame intact, e.g. a deleted "
          f"delimiter); corrupted frames accepted: {false_accepts}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
