"""bench/quadruped_walk.py: the speed measurement against scripted and simulated motion, and the
bench itself with a tiny budget (it runs, trains, stops on target or budget, ends with JSON)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import mujoco
import numpy as np
import pytest

from firmware_bridge.sim.tasks import TaskEnv, make_task

ROOT = Path(__file__).resolve().parents[2]
DT = 0.05


def load_bench():
    """The bench module (a script, not a package), imported once."""
    if "quadruped_walk" not in sys.modules:
        spec = importlib.util.spec_from_file_location("quadruped_walk",
                                                      ROOT / "bench" / "quadruped_walk.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["quadruped_walk"] = module  # dataclasses look their module up
        spec.loader.exec_module(module)
    return sys.modules["quadruped_walk"]


def upright_task(yaw: float, on_back: bool = False, height: float = 0.3):
    """The A1 task with the trunk placed upright (or on its back) facing ``yaw``."""
    task = make_task("a1_walk")
    TaskEnv(task).reset()
    quat = np.zeros(4)
    mujoco.mju_euler2Quat(quat, np.array([np.pi if on_back else 0.0, 0.0, yaw]), "xyz")
    data = task.robot.data
    data.qpos[:3] = [0.0, 0.0, height]
    data.qpos[3:7] = quat
    data.qvel[:] = 0.0
    mujoco.mj_forward(task.robot.model, data)
    return task


def teleport(task, velocity_xy: np.ndarray, steps: int, meter) -> list[float | None]:
    """Move the base by ``velocity_xy * DT`` per step and advance the clock; window speeds."""
    speeds = []
    meter.observe()
    for _ in range(steps):
        task.robot.data.qpos[:2] += velocity_xy * DT
        task.robot.data.time += DT
        mujoco.mj_forward(task.robot.model, task.robot.data)
        meter.observe()
        speeds.append(meter.window_speed())
    return speeds


@pytest.mark.parametrize("yaw", [0.0, 2.0, -2.5])
def test_meter_measures_scripted_forward_backward_and_sideways_motion(yaw):
    bench = load_bench()
    heading = np.array([np.cos(yaw), np.sin(yaw)])
    side = np.array([-np.sin(yaw), np.cos(yaw)])
    for velocity, expected in ((0.35 * heading, 0.35), (-0.2 * heading, -0.2), (0.5 * side, 0.0)):
        task = upright_task(yaw)
        meter = bench.WalkMeter(task, window_s=1.0, target_speed=0.3)
        speeds = teleport(task, velocity, 40, meter)
        assert speeds[18] is None and speeds[19] == pytest.approx(expected, abs=1e-6)
        assert speeds[-1] == pytest.approx(expected, abs=1e-6)
        assert meter.sim_seconds == pytest.approx(40 * DT)
        assert meter.upright_seconds == pytest.approx(40 * DT)
        assert (meter.reached_at is not None) == (expected >= 0.3)
        if expected >= 0.3:
            assert meter.reached_at == pytest.approx(1.0)  # the first full window


def test_meter_window_slides_and_needs_upright():
    bench = load_bench()
    task = upright_task(0.0)
    meter = bench.WalkMeter(task, window_s=1.0, target_speed=0.3)
    teleport(task, np.array([0.1, 0.0]), 20, meter)   # 1 s slow
    speeds = teleport(task, np.array([0.5, 0.0]), 20, meter)  # then 1 s fast
    assert speeds[9] == pytest.approx(0.3, abs=1e-6)  # half a window of each
    assert meter.reached_at == pytest.approx(1.5)
    assert meter.best_speed == pytest.approx(0.5) and meter.best_at == pytest.approx(2.0)
    fallen = upright_task(0.0, on_back=True)
    meter = bench.WalkMeter(fallen, window_s=1.0, target_speed=0.3, min_upright=0.9)
    speeds = teleport(fallen, np.array([0.5, 0.0]), 30, meter)
    assert speeds[-1] == pytest.approx(0.5)  # measured, but a fallen robot does not count
    assert meter.reached_at is None and meter.best_at is None and meter.upright_seconds == 0.0


def test_meter_agrees_with_the_simulators_own_base_velocity():
    """Free flight without gravity: the simulator moves the base at a constant velocity."""
    bench = load_bench()
    yaw, speed = 0.7, 0.4
    task = upright_task(yaw, height=1.0)
    task.robot.model.opt.gravity[:] = 0.0
    task.robot.data.qvel[:3] = [speed * np.cos(yaw), speed * np.sin(yaw), 0.0]
    task.robot.apply(task.robot.joint_positions())
    meter = bench.WalkMeter(task, window_s=1.0, target_speed=0.3)
    meter.observe()
    simulator = []
    for _ in range(30):
        task.robot.step(DT)
        meter.observe()
        simulator.append(float(task.observe()["log/forward_velocity"]))
    assert meter.sim_seconds == pytest.approx(30 * DT)
    assert np.mean(simulator[-20:]) == pytest.approx(speed, abs=1e-3)
    assert meter.window_speed() == pytest.approx(np.mean(simulator[-20:]), abs=1e-3)
    assert meter.reached_at == pytest.approx(1.0)


def run_bench(tmp_path: Path, *flags: str) -> tuple[dict, str]:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "quadruped_walk.py"), "--run-dir",
         str(tmp_path / "run"), "--prefill", "20", "--batch-size", "2", "--batch-length", "8",
         "--report-every", "1", *flags],
        capture_output=True, text=True, timeout=120, check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"})
    lines = result.stdout.strip().splitlines()
    return json.loads(lines[-1]), result.stdout


def test_bench_trains_and_stops_when_the_target_is_reached(tmp_path):
    figures, output = run_bench(tmp_path, "--window", "4", "--target-speed", "-100",
                                "--min-upright", "0", "--wall-minutes", "1")
    assert figures["reached"] is True and figures["stopped_by"] == "target reached"
    assert figures["sim_seconds_to_target"] == pytest.approx(4.0, abs=0.06)
    assert figures["sim_seconds"] == figures["sim_seconds_to_target"]
    assert figures["updates"] > 0 and figures["env_steps"] == 80  # 4 s at 20 Hz (flush at 64)
    assert "REACHED" in output and output.count("window speed") >= 2
    assert (tmp_path / "run" / "replay").is_dir()


def test_bench_reports_the_best_when_the_budget_runs_out(tmp_path):
    figures, output = run_bench(tmp_path, "--window", "1", "--target-speed", "100",
                                "--min-upright", "0", "--sim-minutes", "0.1",
                                "--train-ratio", "4")
    assert figures["reached"] is False and figures["sim_seconds_to_target"] is None
    assert figures["stopped_by"] == "sim budget" and figures["sim_seconds"] == pytest.approx(6.0)
    assert figures["best_window_speed"] is not None and figures["best_window_speed"] < 100
    assert 1.0 <= figures["best_window_at_sim_seconds"] <= 6.0
    assert figures["train_ratio"] == "4" and figures["updates"] > 0
    assert "NOT reached" in output
