"""Child process of test_crash_recovery: writes replay chunks and checkpoints until killed.

Usage: ``python crash_writer.py DIRECTORY SEED CAPACITY``. Three robot streams each send steps
whose values encode (stream, seq); after every flush the durable sequence numbers are appended to
``DIRECTORY/acks.log`` (what the robots would have been ACKed). Each start resumes every stream
5 steps before its last ACK (as if the last ACKs were lost), so duplicates are exercised.
Prints ``ready`` once the first flush is done.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent / "replay"))
from conftest import steps_for

from offboard.checkpoint import CheckpointConfig, CheckpointManager
from offboard.replay import Replay, ReplayConfig

STREAMS = [(f"robot-{code}", "run-0") for code in range(3)]
CHUNK_SIZE = 64


def last_acks(path: Path) -> dict[int, int]:
    """Highest ACKed seq per stream code from complete lines of the ack log."""
    acks: dict[int, int] = {}
    if path.exists():
        for line in path.read_text().split("\n")[:-1]:
            code, seq = (int(part) for part in line.split())
            acks[code] = max(acks.get(code, -1), seq)
    return acks


def main() -> None:
    torch.set_num_threads(1)
    directory, seed, capacity = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    rng = np.random.default_rng(seed)
    replay = Replay(ReplayConfig(directory=str(directory / "replay"), chunk_size=CHUNK_SIZE,
                                 sequence_length=8, capacity=capacity), spec_hash="crash-test")
    checkpoints = CheckpointManager(CheckpointConfig(directory=str(directory / "ckpt"), keep=2))
    previous = checkpoints.load_latest()
    step = previous.step + 1 if previous else 0
    acks = last_acks(directory / "acks.log")
    next_seq = {code: max(0, acks.get(code, -1) + 1 - 5) for code in range(len(STREAMS))}
    log = os.open(directory / "acks.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    ready = False
    while True:
        for code, stream in enumerate(STREAMS):
            count = int(rng.integers(1, 40))
            replay.add(stream, next_seq[code], steps_for(next_seq[code], count, code))
            next_seq[code] += count
        durable = replay.flush()
        lines = "".join(f"{code} {durable[stream]}\n" for code, stream in enumerate(STREAMS))
        os.write(log, lines.encode())
        if step % 5 == 0:
            weights = torch.full((64, 64), float(step))
            checkpoints.save({"weights": weights, "counters": {"step": step}}, step)
        if not ready:
            print("ready", flush=True)
            ready = True
        step += 1


if __name__ == "__main__":
    main()
