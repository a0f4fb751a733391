"""kill -9 in the middle of training, then a restart, resumes from the last checkpoint and the
replay on disk."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from offboard.checkpoint import CheckpointConfig, CheckpointManager

ROOT = Path(__file__).resolve().parents[2]
ARGS = ["--set", "env=gym:Pendulum-v1", "--set", "trainer.learner.preset=debug",
        "--set", "trainer.learner.batch_size=2", "--set", "trainer.learner.batch_length=8",
        "--set", "trainer.limiter.min_inserted=100", "--set", "trainer.limiter.train_ratio=16",
        "--set", "trainer.schedule.checkpoint_every_s=1", "--set", "eval_episodes=0",
        "--set", "flush_every=16"]


def trainer(run_dir: Path, steps: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "offboard.cli", "local", *ARGS, "--set", f"env_steps={steps}",
         "--set", f"trainer.run_dir={run_dir}"], cwd=ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env={"PATH": "", "PYTHONPATH": str(ROOT)})


def test_sigkill_then_restart_resumes(tmp_path: Path) -> None:
    checkpoints = CheckpointManager(CheckpointConfig(directory=str(tmp_path / "checkpoints")))
    proc = trainer(tmp_path, 100_000)
    deadline = time.monotonic() + 240
    while len(checkpoints.checkpoints()) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(0.3)  # kill at an arbitrary moment after the second checkpoint
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    saved = checkpoints.load_latest()
    assert saved is not None, "no checkpoint before the kill"
    saved_updates = saved.state["agent"]["updates"]
    again = trainer(tmp_path, 150)
    out, err = again.communicate(timeout=240)
    assert again.returncode == 0, err[-3000:]
    assert f"resumed from {saved.path.name} (update {saved_updates})" in err
    assert "replay: loaded" in err and "replay: loaded 0 steps" not in err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["updates"] > saved_updates  # counted on from the checkpoint
