"""Smoke test of bench/learner_throughput.py with a tiny budget."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_bench_runs_and_ends_with_json() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "learner_throughput.py"), "--preset", "debug",
         "--seconds", "0.2", "--warmup", "1", "--batch", "2", "--length", "8"],
        capture_output=True, text=True, timeout=120, env=env, check=True)
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["updates"] >= 2 and figures["seconds_per_update"] > 0
    assert figures["env_steps_replayed_per_second"] > 0
    assert figures["speedup_vs_reference"] is None  # only defined at the reference shape
