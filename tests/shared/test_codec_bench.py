"""Smoke test of bench/codec.py: runs with a tiny budget and ends with one JSON line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_codec_bench_prints_figures_and_json() -> None:
    completed = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "codec.py"), "--seconds", "0.02"],
        capture_output=True, text=True, timeout=120, check=False)
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.strip().splitlines()
    result = json.loads(lines[-1])
    for batch in ("proprio_64", "image_64x64x3_64"):
        row = result[batch]
        assert row["encode_per_s"] > 0 and row["decode_per_s"] > 0
        assert row["message_bytes"] > (700_000 if batch.startswith("image") else 8000)
    assert any(line.startswith("proprio_64") for line in lines)
