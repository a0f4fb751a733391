"""Smoke test of bench/replay.py with a tiny budget: it runs and ends with one JSON line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_replay_runs_and_prints_json(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "replay.py"), "--seconds", "0.2",
         "--directory", str(tmp_path)],
        capture_output=True, text=True, timeout=120, check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["insert_transitions_per_s"] > 0 and figures["sample_sequences_per_s"] > 0
    assert figures["reload_steps"] == figures["transitions"]
    assert list(tmp_path.iterdir()) == []
