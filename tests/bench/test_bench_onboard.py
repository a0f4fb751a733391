"""Smoke tests of the onboard benchmarks with tiny budgets: each runs and ends with one JSON
line holding its figures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_bench(name: str, *args: str, timeout: float = 300) -> dict:
    """Run ``bench/<name>.py args`` and return its final JSON line."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / f"{name}.py"), *args], capture_output=True,
        text=True, timeout=timeout, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "MUJOCO_GL": "egl"})
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_policy_latency_runs() -> None:
    figures = run_bench("policy_latency", "--presets", "debug", "--paced-steps", "20",
                        "--tight-steps", "50", "--hz", "200")
    (result,) = figures["results"]
    assert result["deter"] == 64 and result["onnx_bytes"] > 0
    for name in ("onnxruntime_paced", "onnxruntime_tight", "torch_paced", "torch_tight"):
        assert 0 < result[name]["p50_us"] <= result[name]["max_us"], result


def test_control_loop_runs_without_a_trainer() -> None:
    figures = run_bench("control_loop", "--seconds", "2", "--preset", "debug",
                        "--trainer-env", "")
    assert figures["ticks"] == 100 and figures["policy_swaps"] == 1, figures
    assert figures["trainer"] == "none" and figures["jitter_p99_ms"] >= 0


@pytest.mark.slow
def test_onboard_only_environment_has_no_torch_and_imports_everything() -> None:
    """A fresh venv with only the ``onboard`` extra (pip; about a minute): no torch, every
    onboard module imports, the runtime acts with an exported policy."""
    figures = run_bench("onboard_footprint", "--preset", "debug", "--ticks", "20", timeout=900)
    assert figures["torch_installed"] is False and figures["torch_imported"] is False, figures
    assert figures["import_failures"] == {} and figures["torch_loaded"] is False, figures
    assert figures["policy_swaps"] == 1 and 0 < figures["first_action_s"] < 30, figures
    assert 0 < figures["rss_mb"] < 1000 and figures["site_packages_mb"] > 0, figures
