"""Hardware in the loop: the onboard runtime drives the simulated firmware process over a pty.

Real clock, real subprocess, real pseudo-terminal. Timing limits leave room for a 2-core machine
shared with other jobs; the measured numbers are printed (``pytest -s``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from firmware_bridge.errors import TableMismatchError
from firmware_bridge.host_tasks import make_host_task
from firmware_bridge.messages import MESSAGES, FaultCode, Field, Message, MessageTable
from firmware_bridge.records import StateSample
from firmware_bridge.task_math import tolerance
from onboard.firmware_robot import FirmwareRobot, FirmwareRobotConfig
from onboard.runtime import Runtime, RuntimeConfig
from shared.spec import validate_all
from tests.firmware_process import ROOT, FirmwareProcess, firmware_process

HZ = 50.0
PERIOD = 1.0 / HZ


#: the simulated microcontroller outranks everything else on a loaded test machine, as in
#: ``tests/whole_system.py`` (SCHED_FIFO where permitted, else nice -10): starved for 100 ms,
#: a firmware process rightly trips its own watchdog, which is not what these tests are about.
FIRMWARE_PRIORITY = {"niceness": -10, "realtime": 20}


@pytest.fixture(scope="module")
def cartpole() -> Iterator[FirmwareProcess]:
    """One cart-pole firmware process for the module (each test connects anew)."""
    with firmware_process("cartpole_swingup", **FIRMWARE_PRIORITY) as process:
        yield process


class Recorder:
    """Sink of the runtime: every step with its wall-clock time and the safety latch."""

    def __init__(self, runtime: Runtime | None = None) -> None:
        self.runtime = runtime
        self.steps: list[dict] = []
        self.times: list[float] = []
        self.latched: list[str | None] = []

    def __call__(self, step: dict) -> None:
        self.steps.append(step)
        self.times.append(time.monotonic())
        self.latched.append(None if self.runtime is None else self.runtime.safety.latched)


def make_runtime(robot: FirmwareRobot) -> tuple[Runtime, Recorder]:
    recorder = Recorder()
    config = RuntimeConfig(hz=robot.control_hz, mode="random", seed=1)
    runtime = Runtime(robot, config, sink=recorder)
    recorder.runtime = runtime
    return runtime, recorder


def reward_bounds(vector: np.ndarray) -> tuple[float, float]:
    """Swing-up reward bounds from the observation alone (the force term is 0.8..1)."""
    x, cos, theta_dot = float(vector[0]), float(vector[1]), float(vector[4])
    base = ((cos + 1) / 2 * (1 + tolerance(x, margin=2.0)) / 2
            * (1 + tolerance(theta_dot, margin=5.0)) / 2)
    return 0.8 * float(base) - 1e-4, float(base) + 1e-4


def test_runtime_drives_the_firmware_and_the_watchdog_stops_it(cartpole: FirmwareProcess
                                                               ) -> None:
    robot = FirmwareRobot(FirmwareRobotConfig(port=cartpole.port))
    try:
        runtime, recorder = make_runtime(robot)
        summary = runtime.run(max_ticks=150)  # 3 s on the real clock
        print("loop summary:", summary["loop"], "act:", summary["act"], robot.stats)
        loop = summary["loop"]
        assert loop["ticks"] == 150 and loop["overruns"] <= 5, loop
        assert robot.stats.repeated_states <= 5 and robot.stats.link_errors == 0
        steps = recorder.steps
        assert bool(steps[0]["is_first"]) and not any(bool(s["is_first"]) for s in steps[1:])
        observation_spec = robot.spec.observation
        for step in steps:
            validate_all({key: step[key] for key in observation_spec}, observation_spec, "obs")
        assert recorder.latched == [None] * len(steps)
        for step in steps[1:]:
            low, high = reward_bounds(step["vector"])
            assert low <= float(step["reward"]) <= high
        moved = np.ptp([float(step["vector"][0]) for step in steps])
        assert moved > 1e-3, "the cart never moved: commands did not reach the physics"
        state = robot.driver.latest_state()
        assert state is not None and state.last_command_seq >= 140 and not state.estop

        time.sleep(0.3)  # nobody commands: the firmware watchdog (100 ms) latches
        assert "WATCHDOG" in (robot.fault() or "")
        assert "WATCHDOG" in (robot.stopped_reason or "")
        runtime.run(max_ticks=5)
        assert runtime.safety.counters.estops == 1
        assert all(float(step["action"][0]) == 0.0 for step in recorder.steps[-5:])

        robot.clear_estop()
        runtime.safety.clear_estop()
        assert robot.stopped_reason is None
        runtime.run(max_ticks=25)
        assert robot.fault() is None
        assert any(float(step["action"][0]) != 0.0 for step in recorder.steps[-20:])
        assert not robot.driver.latest_state().estop
    finally:
        robot.close()


def test_silent_firmware_latches_the_estop_within_two_periods(cartpole: FirmwareProcess
                                                              ) -> None:
    robot = FirmwareRobot(FirmwareRobotConfig(port=cartpole.port))
    try:
        runtime, recorder = make_runtime(robot)
        runtime.run(max_ticks=25)
        assert runtime.safety.latched is None
        thread = threading.Thread(target=runtime.run, kwargs={"max_ticks": 40})
        thread.start()
        time.sleep(0.2)
        cartpole.pause()
        paused_at = time.monotonic()
        thread.join(timeout=5.0)
        cartpole.resume()
        latched = [i for i, reason in enumerate(recorder.latched) if reason is not None]
        assert latched, "the runtime never saw the silent firmware"
        first = latched[0]
        delay = recorder.times[first] - paused_at
        print(f"silence detected {delay * 1000:.0f} ms after SIGSTOP "
              f"(limit 2 periods = {2 * PERIOD * 1000:.0f} ms + one tick + slack); "
              f"reason: {recorder.latched[first]}")
        assert "silent" in recorder.latched[first]
        assert delay < 2 * PERIOD + PERIOD + 0.1
        assert all(float(step["action"][0]) == 0.0 for step in recorder.steps[first:])

        # SIGCONT: the firmware finds its watchdog starved by the freeze and latches e-stop
        # before anything else; only once that STATE is here can a clear not race with it.
        assert wait_for(lambda: latched_on_watchdog(robot.driver.wait_for_state(0.1)), 5.0), (
            robot.driver.latest_state())
        robot.clear_estop()
        state = robot.driver.wait_for_state(1.0)  # sent after the clear was acknowledged
        assert state is not None and not state.estop, state
        runtime.safety.clear_estop()
        estops = runtime.safety.counters.estops
        runtime.run(max_ticks=25)
        assert robot.fault() is None
        state = robot.driver.latest_state()
        assert not state.estop and state.age_s() < 2 * PERIOD
        assert any(float(step["action"][0]) != 0.0 for step in recorder.steps[-20:]), (
            runtime.safety.counters.reasons[estops:], robot.stats)
    finally:
        robot.close()


def latched_on_watchdog(state: StateSample | None) -> bool:
    """True when ``state`` shows the firmware e-stop latched by its watchdog."""
    return state is not None and bool(state.estop) and FaultCode.WATCHDOG in state.faults()


def wait_for(predicate: Callable[[], bool], timeout: float) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` s pass; returns its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
    return predicate()


def test_a_dead_firmware_is_a_fault_never_an_exception() -> None:
    with firmware_process("cartpole_swingup") as process:
        robot = FirmwareRobot(FirmwareRobotConfig(port=process.port))
        try:
            runtime, recorder = make_runtime(robot)
            runtime.run(max_ticks=10)
            process.process.kill()  # the MCU is gone: the pty closes under the driver
            process.process.wait(5.0)
            summary = runtime.run(max_ticks=15)  # must not raise
            assert summary["steps"] == 25 and runtime.safety.latched is not None
            assert "silent" in runtime.safety.latched or "not sent" in runtime.safety.latched
            assert robot.fault() is not None
            assert all(float(step["action"][0]) == 0.0 for step in recorder.steps[-5:])
            print("after the firmware died:", runtime.safety.latched, robot.stats)
        finally:
            robot.close()


def test_episodes_reset_the_firmware_world(cartpole: FirmwareProcess) -> None:
    task = make_host_task("cartpole_swingup", episode_length=20)
    robot = FirmwareRobot(FirmwareRobotConfig(port=cartpole.port, seed=7), task=task)
    try:
        runtime, recorder = make_runtime(robot)
        summary = runtime.run(max_ticks=63)
        firsts = [i for i, step in enumerate(recorder.steps) if bool(step["is_first"])]
        lasts = [i for i, step in enumerate(recorder.steps) if bool(step["is_last"])]
        assert firsts == [0, 21, 42] and lasts == [20, 41, 62], (firsts, lasts)
        assert summary["episodes"] == 3 and robot.stats.reset_failures == 0
        for index in firsts:  # RESET put the pole back down and the cart near the centre
            vector = recorder.steps[index]["vector"]
            assert vector[1] < -0.99 and abs(vector[0]) < 0.05, vector
            assert float(recorder.steps[index]["reward"]) == 0.0
            assert abs(vector[3]) < 0.05, vector  # at rest (the reset's noise is 0.01)
        moved = [np.abs(recorder.steps[index]["vector"][[0, 3]]).max() for index in lasts[:2]]
        assert max(moved) > 0.05, "the cart never moved: a missing reset would go unseen"
    finally:
        robot.close()


def test_the_robot_computer_side_needs_no_mujoco() -> None:
    code = ("import sys, onboard.firmware_robot\n"
            "sys.exit(1 if 'mujoco' in sys.modules or 'torch' in sys.modules else 0)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, timeout=60,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0


def test_table_mismatch_is_refused(cartpole: FirmwareProcess) -> None:
    changed = tuple(
        Message(m.id, m.name, (*m.fields, Field("extra", "u8")), m.doc)
        if m.name == "COMMAND" else m for m in MESSAGES)
    with pytest.raises(TableMismatchError, match="table"):
        FirmwareRobot(FirmwareRobotConfig(port=cartpole.port), table=MessageTable(changed))


@pytest.mark.parametrize(("task", "low", "high", "joints"), [
    ("a1_walk", 5.0, 19.0, 12), ("ur5_reach", -2.0, 0.0, 4), ("ur5_pick_place", -1.0, 10.0, 4)])
def test_firmware_gives_valid_observations(task: str, low: float, high: float, joints: int,
                                           tmp_path: Path) -> None:
    camera = f"ipc://{tmp_path}/camera" if task == "ur5_pick_place" else ""
    with firmware_process(task, *(("--camera", camera) if camera else ())) as process:
        robot = FirmwareRobot(FirmwareRobotConfig(port=process.port, task=task, camera=camera))
        try:
            if robot.camera is not None:
                assert robot.camera.wait_for_frame(10.0) is not None
            runtime, recorder = make_runtime(robot)
            summary = runtime.run(max_ticks=10)
            assert summary["loop"]["overruns"] <= 3, summary
            spec = robot.spec.observation
            for step in recorder.steps:
                validate_all({key: step[key] for key in spec}, spec, "obs")
            rewards = [float(step["reward"]) for step in recorder.steps[1:]]
            assert all(low <= reward <= high for reward in rewards), rewards
            moved = np.ptp([step[key] for step in recorder.steps for key in (
                "vector", "cartesian_position") if key in step], axis=0)
            assert np.max(moved) > 1e-3, "nothing moved"
            assert robot.info.joint_count == joints and robot.fault() is None
        finally:
            robot.close()


def test_sphere_firmware_serves_camera_frames(tmp_path: Path) -> None:
    endpoint = f"ipc://{tmp_path}/camera"
    with firmware_process("sphere_goal", "--camera", endpoint) as process:
        robot = FirmwareRobot(FirmwareRobotConfig(port=process.port, task="sphere_goal",
                                                  camera=endpoint))
        try:
            assert robot.camera is not None
            assert robot.camera.wait_for_frame(10.0) is not None
            robot.reset()
            obs = robot.sense()
            frame = robot.camera.latest()
            assert frame.timestamp_us >= robot.driver.latest_state().timestamp_us - 200_000
            assert obs["image"].shape == (64, 64, 3) and obs["image"].std() > 5
            assert float(obs["log/distance"]) == pytest.approx(
                np.linalg.norm(obs["vector"][:2] - obs["vector"][4:]), abs=1e-5)
            robot.act({"action": np.array([1.0, 0.0], np.float32)})
            time.sleep(0.6)
            later = robot.sense()
            assert float(later["vector"][2]) > 0.05, "the ball did not roll towards +x"
            assert float(later["reward"]) == pytest.approx(-float(later["log/distance"]))
            assert robot.camera.latest().age_s() < 0.5 and robot.fault() is None
        finally:
            robot.close()


def test_a_restarted_runtime_does_not_clear_a_latched_estop(cartpole: FirmwareProcess) -> None:
    robot = FirmwareRobot(FirmwareRobotConfig(port=cartpole.port))
    try:
        runtime, _ = make_runtime(robot)
        runtime.run(max_ticks=10)
        time.sleep(0.4)  # the runtime "crashed": no COMMAND, the firmware watchdog latches
    finally:
        robot.close()
    again = FirmwareRobot(FirmwareRobotConfig(port=cartpole.port, clear_estop_on_start=False))
    try:
        deadline = time.monotonic() + 2.0
        while "e-stop" not in (again.fault() or "") and time.monotonic() < deadline:
            time.sleep(0.02)
        assert "e-stop" in (again.fault() or ""), again.fault()
        runtime, recorder = make_runtime(again)
        runtime.run(max_ticks=10)
        assert runtime.safety.latched is not None
        assert all(not np.any(step["action"]) for step in recorder.steps)
    finally:
        again.close()
