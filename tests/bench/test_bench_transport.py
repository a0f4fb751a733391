"""Smoke test of bench/transport.py with a tiny budget: it runs and ends with one JSON line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_transport_runs_and_prints_json() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "transport.py"), "--steps", "2000",
         "--policies", "2"],
        capture_output=True, text=True, timeout=120, check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["link_transitions_per_s"] > 0 and figures["raw_transitions_per_s"] > 0
    assert figures["queue_drops"] == 0 and figures["steps"] == 2000
    assert 0 < figures["policy_delivery_ms_p50"] <= figures["policy_delivery_ms_max"]
