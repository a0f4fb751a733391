"""Smoke tests of ``daydreamer-onboard`` (in-process environment robots; the firmware robot has
its own hardware-in-the-loop tests)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from shared.spec import EnvSpec

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "onboard.cli", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT,
                          env={"PATH": "", "MUJOCO_GL": "egl", "PYTHONPATH": str(ROOT)})


def test_help_and_print_spec() -> None:
    out = run("--help")
    assert out.returncode == 0 and "--print-spec" in out.stdout and "robot.port" in out.stdout
    out = run("--print-spec", "--set", "robot.kind=env", "--set", "robot.env=gym:Pendulum-v1")
    assert out.returncode == 0, out.stderr
    spec = EnvSpec.from_canonical(json.loads(out.stdout))
    assert spec.model_keys == ["vector"] and spec.action["action"].shape == (1,)


def test_offline_random_run_with_limits(tmp_path: Path) -> None:
    summary_path = tmp_path / "summary.json"
    out = run("--set", "robot.kind=env", "--set", "robot.env=gym:Pendulum-v1",
              "--set", "offline=true", "--set", "runtime.mode=random",
              "--set", f"link.spool_dir={tmp_path / 'state'}",
              "--set", "runtime.hz=100", "--set", "max_episodes=1",
              "--set", f"summary={summary_path}")
    assert out.returncode == 0, out.stderr[-2000:]
    summary = json.loads(summary_path.read_text())
    assert summary["episodes"] == 1 and summary["steps"] >= 201
    assert summary["loop"]["overruns"] <= 5 and summary["policy_version"] == -1
    resolved = (tmp_path / "state" / "onboard.toml").read_text()
    assert 'env = "gym:Pendulum-v1"' in resolved


def test_errors_are_named() -> None:
    out = run("--set", "robot.kind=firmware")
    assert out.returncode == 2 and "robot.port" in out.stderr
    out = run("--set", "robot.kind=env")
    assert out.returncode == 2 and "robot.env" in out.stderr
    out = run("--set", "robot.kindd=env")
    assert out.returncode == 2 and "robot.kindd" in out.stderr
