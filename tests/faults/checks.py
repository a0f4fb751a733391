"""The fault suite's invariants and its report.

- :func:`command_envelope`: every COMMAND the firmware received was finite and inside the action
  limits, and consecutive applied commands of one session moved at most the runtime's rate limit
  (a move *to* the hold target, an e-stop, is exempt: stopping at once is the point);
- :func:`audit_stream`: the trainer's replay holds the robot's one stream, every step exactly
  once, seq ``0 .. N-1``, with ``N`` the number of steps the robot numbered;
- :func:`episode_cuts`: episodes end with ``is_last`` before the next ``is_first``, except where a
  restarted runtime cut one (counted);
- :func:`report`: one JSON object per scenario appended to ``$DAYDREAMER_FAULTS_REPORT`` and a
  one-line summary printed (``pytest -s``).
"""

from __future__ import annotations

import itertools
import json
import os
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from onboard.safety import SafetyConfig
from shared.spec import EnvSpec
from tests.processes import Process
from tests.whole_system import ROBOT, audit_replay

#: the onboard runtime's rate limit (the default :class:`SafetyConfig`, which the CLI uses).
MAX_DELTA = SafetyConfig().max_delta
#: float32 on the wire: a step of exactly ``MAX_DELTA`` may read a few ulps above it.
TOLERANCE = 1e-5
#: the cart-pole's hold target (no force), the only target an e-stop sends.
HOLD = 0.0


def command_sessions(records: Sequence[dict[str, Any]]) -> np.ndarray:
    """The HELLO session (0, 1, ...) of each COMMAND record: ``command_seq`` restarts at 1 with
    every session, so a seq not above the one before starts the next."""
    seqs = np.array([record["seq"] for record in records], dtype=np.int64)
    return np.concatenate([[0], np.cumsum(seqs[1:] <= seqs[:-1])]).astype(np.int64)


def command_envelope(records: Sequence[dict[str, Any]], spec: EnvSpec) -> dict[str, Any]:
    """Counts of the firmware's COMMAND log (:mod:`firmware_bridge.sim.command_log`), checked:
    no non-finite target, none outside the action limits, no rate-limit violation.

    Returns ``received``, ``outcomes`` (per outcome), ``sessions`` (HELLO sessions that sent
    commands), ``largest_step`` (largest move between consecutive applied commands of a session,
    moves to the hold target excluded) and ``stops`` (moves to the hold target larger than the
    rate limit).
    """
    space = spec.action["action"]
    targets = np.array([record["targets"] for record in records], dtype=np.float64)
    assert len(records) > 0 and targets.shape[1:] == space.shape, targets.shape
    assert np.all(np.isfinite(targets)), "a non-finite target reached the firmware"
    outside = np.flatnonzero(np.any((targets < space.low) | (targets > space.high), axis=1))
    assert outside.size == 0, [records[i] for i in outside[:5]]
    largest, stops = 0.0, 0
    for previous, record in itertools.pairwise(records):
        if (record["outcome"] == previous["outcome"] == "applied"
                and record["seq"] == previous["seq"] + 1):
            step = float(np.max(np.abs(np.subtract(record["targets"], previous["targets"]))))
            if np.all(np.asarray(record["targets"]) == HOLD):
                stops += step > MAX_DELTA + TOLERANCE
            else:
                assert step <= MAX_DELTA + TOLERANCE, (previous, record)
                largest = max(largest, step)
    return {"received": len(records), "sessions": int(command_sessions(records)[-1]) + 1,
            "outcomes": dict(Counter(record["outcome"] for record in records)),
            "largest_step": round(largest, 6), "stops": stops}


def audit_stream(run_dir: Path, spec: EnvSpec, expected_steps: int) -> dict[str, np.ndarray]:
    """The replay of a stopped trainer: one stream of this robot with seq ``0 ..
    expected_steps - 1``, each exactly once (no duplicate, no hole); returns its steps."""
    streams = audit_replay(run_dir, spec)  # also checks seq == arange(len) and no holes
    assert len(streams) == 1, list(streams)
    (stream, steps), = streams.items()
    assert stream[0] == ROBOT, stream
    assert len(steps["is_first"]) == expected_steps, (len(steps["is_first"]), expected_steps)
    return steps


def episode_cuts(steps: dict[str, np.ndarray]) -> int:
    """Episodes started without the previous one ending (a runtime restart cut it); checks that
    the stream starts an episode and that every ``is_last`` is followed by ``is_first``."""
    first, last = steps["is_first"].astype(bool), steps["is_last"].astype(bool)
    assert first[0], "the stream does not start an episode"
    assert np.all(first[1:][last[:-1]]), "an episode ended without the next one starting"
    return int(np.sum(first[1:] & ~last[:-1]))


def duplicates_dropped(trainers: Sequence[Process]) -> int:
    """Duplicate steps each trainer reported in its last status line (``N steps (D dup)``),
    summed: steps the robot sent again that the replay dropped (a lower bound: a SIGKILLed
    trainer's last second is not reported)."""
    total = 0
    for trainer in trainers:
        counts = re.findall(r"\((\d+) dup\)", "\n".join(trainer.stderr))
        total += int(counts[-1]) if counts else 0
    return total


def report(record: dict[str, Any]) -> None:
    """Append ``record`` as one JSON line to ``$DAYDREAMER_FAULTS_REPORT`` (if set) and print
    a one-line summary."""
    path = os.environ.get("DAYDREAMER_FAULTS_REPORT")
    if path:
        with open(path, "a", encoding="utf-8") as file:
            file.write(json.dumps(record, default=float) + "\n")
    print(f"\n[faults] {record['scenario']}: " + ", ".join(
        f"{key} {value}" for key, value in record.items() if key != "scenario"))
