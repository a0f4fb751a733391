"""Smoke tests of the ``daydreamer-simfirmware`` entry point (subprocesses)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from firmware_bridge.host import FirmwareDriver
from firmware_bridge.sim.cli import build_parser, fault_settings
from firmware_bridge.sim.command_log import read_command_log
from firmware_bridge.sim.faults import TX
from firmware_bridge.transport import LinkConfig
from tests.firmware_process import ROOT, firmware_process


def test_help_lists_the_tasks() -> None:
    result = subprocess.run([sys.executable, "-m", "firmware_bridge.sim.cli", "--help"],
                            capture_output=True, text=True, cwd=ROOT, timeout=60,
                            env={"PYTHONPATH": str(ROOT), "PATH": ""})
    assert result.returncode == 0, result.stderr
    for word in ("cartpole_swingup", "a1_walk", "sphere_goal", "--pty", "--camera",
                 "--watchdog-ms", "--no-realtime", "--fault-drop", "--record-commands"):
        assert word in result.stdout


def test_fault_options_become_settings() -> None:
    args = build_parser().parse_args(["--fault-drop", "0.25", "--fault-direction", "tx",
                                      "--fault-seed", "9", "--fault-delay-ms", "3"])
    settings = fault_settings(args)
    assert (settings.drop_probability, settings.directions, settings.seed,
            settings.delay_ms) == (0.25, TX, 9, 3.0)
    assert build_parser().parse_args([]).watchdog_ms == 100.0


def test_bad_fault_option_exits_with_a_message() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "firmware_bridge.sim.cli", "--pty", "--fault-drop", "2"],
        capture_output=True, text=True, cwd=ROOT, timeout=60, env={"PYTHONPATH": str(ROOT)})
    assert result.returncode == 2 and "drop_probability" in result.stderr


def test_pty_firmware_with_faults_runs_and_stops_cleanly() -> None:
    with firmware_process("cartpole_swingup", "--fault-drop", "0.3", "--fault-direction",
                          "tx", "--fault-seed", "4") as process:
        link = LinkConfig(control_period_s=0.05, retries=20)
        with FirmwareDriver.open(process.port, link) as driver:
            info = driver.connect()
            assert (info.robot_name, info.joint_count, info.watchdog_ms) == (
                "sim-cartpole_swingup", 1, 100)
            driver.clear_estop()
            for _ in range(25):
                driver.send_command(np.array([0.5]))
                time.sleep(0.02)
            state = driver.latest_state()
            assert state is not None and state.task_sensors.shape == (3,)
        code = process.stop()
    assert code == 0
    summary = json.loads(process.output[-1])
    assert summary["task"] == "cartpole_swingup" and summary["commands_applied"] >= 20
    assert summary["injected"]["dropped"] > 10 and summary["physics_steps"] > 50


def test_no_realtime_runs_the_firmware_clock_faster() -> None:
    with firmware_process("cartpole_swingup", "--no-realtime", "--speed", "5") as process:
        started = time.monotonic()
        time.sleep(1.0)
        process.stop()
        elapsed = time.monotonic() - started
    summary = json.loads(process.output[-1])
    assert summary["physics_steps"] > 2.5 * 100 * elapsed  # 100 Hz physics, 5x speed


def test_sigint_stops_cleanly_with_a_summary() -> None:
    with firmware_process("sphere_goal") as process:
        time.sleep(0.3)
        process.process.send_signal(signal.SIGINT)
        out, _ = process.process.communicate(timeout=10)
        assert process.process.returncode == 0
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["task"] == "sphere_goal" and summary["states_sent"] > 0


def test_record_commands_writes_every_command_as_a_json_line(tmp_path: Path) -> None:
    path = tmp_path / "commands.jsonl"
    with firmware_process("cartpole_swingup", "--record-commands", str(path)) as process:
        with FirmwareDriver.open(process.port, LinkConfig(control_period_s=0.05)) as driver:
            driver.connect()
            driver.clear_estop()
            started = time.monotonic()
            for value in (0.25, -0.5, 1.0):
                driver.send_command(np.array([value]))
                time.sleep(0.02)
        assert process.stop() == 0
    records = read_command_log(path)
    assert [(r["seq"], r["targets"], r["outcome"]) for r in records] == [
        (1, [0.25], "applied"), (2, [-0.5], "applied"), (3, [1.0], "applied")]
    assert all(started <= r["time"] <= time.monotonic() for r in records)  # one clock
    assert json.loads(process.output[-1])["commands_applied"] == 3
