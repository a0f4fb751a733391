"""Smoke test of ``bench/transport.py --learner`` with a tiny budget: the stream is measured
with and without a learner thread training in the trainer process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_transport_with_a_learner_runs() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "transport.py"), "--steps", "3000",
         "--policies", "1", "--learner", "debug"],
        capture_output=True, text=True, timeout=240, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["learner"] == "debug" and figures["with_learner_transitions_per_s"] > 0
    assert figures["learner_updates_during_stream"] >= 0 and figures["queue_drops"] == 0
