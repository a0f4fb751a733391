"""Offscreen rendering: frames, the headless fallback, and the rate benchmark's JSON line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from firmware_bridge.sim.render import FastRenderer
from firmware_bridge.sim.robots.quadruped import A1Walk

ROOT = Path(__file__).resolve().parents[3]


def _clean_environment() -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if k not in ("MUJOCO_GL", "DISPLAY")}
    environment["PYTHONPATH"] = str(ROOT)
    return environment


def test_frames_are_uint8_and_follow_the_robot() -> None:
    task = A1Walk()
    task.begin_episode(np.random.default_rng(0))
    renderer = FastRenderer(task.robot.model, 64, "track")
    try:
        first = renderer.render(task.robot.data)
        assert first.shape == (64, 64, 3) and first.dtype == np.uint8
        assert first.std() > 5.0
        task.robot.set_joint_positions(np.zeros(12))
        assert not np.array_equal(renderer.render(task.robot.data), first)
        assert renderer.frames == 2
    finally:
        renderer.close()


def test_rendering_works_when_mujoco_was_imported_first() -> None:
    code = ("import mujoco, numpy as np\n"
            "from firmware_bridge.sim.robots.cartpole import CartpoleSwingup\n"
            "robot = CartpoleSwingup().robot\n"
            "image = robot.render(32)\n"
            "print(image.shape, image.dtype, int(image.std() > 5))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=_clean_environment(), timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("(32, 32, 3) uint8 1")
    assert "Traceback" not in result.stderr


def test_sim_rate_benchmark_ends_with_one_json_line() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "sim_rate.py"), "--seconds", "0.05",
         "--tasks", "cartpole_swingup"],
        capture_output=True, text=True, env=_clean_environment(), timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    rates = figures["tasks"]["cartpole_swingup"]
    assert rates["robot_physics_steps_per_s"] > 0 and rates["frames_per_s"] > 0
    assert rates["inner_loop_slowdown"] > 0
