"""Smoke tests of ``daydreamer-trainer`` with tiny budgets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "offboard.cli", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT,
                          env={"PATH": "", "MUJOCO_GL": "egl", "PYTHONPATH": str(ROOT)})


def test_help() -> None:
    out = run("--help")
    assert out.returncode == 0 and "local" in out.stdout and "serve" in out.stdout
    out = run("local", "--help")
    assert out.returncode == 0 and "--set" in out.stdout


def test_local_tiny_run(tmp_path: Path) -> None:
    out = run("local", "--set", "env=gym:Pendulum-v1", "--set", "env_steps=300",
              "--set", f"trainer.run_dir={tmp_path}", "--set", "trainer.learner.preset=debug",
              "--set", "trainer.learner.batch_size=2", "--set", "trainer.learner.batch_length=8",
              "--set", "trainer.limiter.min_inserted=200", "--set",
              "trainer.limiter.train_ratio=16", "--set", "eval_episodes=1",
              "--set", "trainer.schedule.export_every_updates=20")
    assert out.returncode == 0, out.stderr[-2000:]
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["env_steps"] == 300 and summary["updates"] > 0
    assert len(summary["train_returns"]) == 1 and len(summary["eval_returns"]) == 1
    assert (tmp_path / "config.toml").exists() and list((tmp_path / "policies").glob("*.onnx"))


def test_bad_config_key_is_named() -> None:
    out = run("local", "--set", "trainer.learner.presett=debug")
    assert out.returncode == 2 and "trainer.learner.presett" in out.stderr
