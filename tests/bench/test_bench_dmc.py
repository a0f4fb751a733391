"""``bench/dmc.py``: milestone scores from training episodes, and a tiny real run through the
in-process pipeline ending with one JSON line."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("bench_dmc", ROOT / "bench" / "dmc.py")
assert _spec is not None and _spec.loader is not None
dmc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(dmc)


def test_score_is_the_mean_of_the_episodes_that_ended_in_the_window() -> None:
    episodes = [{"frames": 1000, "return": 10.0}, {"frames": 2000, "return": 20.0},
                {"frames": 3000, "return": 60.0}, {"frames": 4000, "return": 100.0}]
    assert dmc.score_at(episodes, 3000, 2000) == pytest.approx(40.0)  # 2000 and 3000
    assert dmc.score_at(episodes, 4000, 1000) == pytest.approx(100.0)
    assert dmc.score_at(episodes, 500, 400) is None


def test_milestones_include_the_published_frames() -> None:
    assert dmc.milestones(120_000, 50_000) == [50_000, 100_000]
    assert dmc.milestones(300_000, 200_000) == [100_000, 200_000, 250_000]


def test_bad_frames_are_refused_with_the_value() -> None:
    with pytest.raises(SystemExit):
        dmc.parse_args(["--frames", "2"])


def test_tiny_run_trains_and_reports(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "dmc.py"), "--frames", "3000", "--prefill", "400",
         "--window", "1000", "--eval-episodes", "1", "--preset", "debug",
         "--train-ratio", "64", "--batch-length", "32", "--run-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "MUJOCO_GL": "egl"})
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    (task,) = figures["results"]
    assert task["task"] == "cartpole_swingup" and task["frames"] == 3000
    # (3000 frames / 2 - 400 prefill) steps * ratio 64 / (16 * 32) replayed per update
    assert 130 <= task["updates"] <= 140, task
    scores = dict(task["curve"])
    assert scores[1000] is None and scores[2000] is not None  # first episode ends at 1002
    assert len(task["eval_returns"]) == 1 and (tmp_path / "cartpole_swingup" / "curve.png").exists()
    assert "DV3" in result.stdout and task["published"]["100000"] == 528.0
