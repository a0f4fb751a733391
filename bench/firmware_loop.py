"""Hardware-in-the-loop benchmark: the onboard runtime driving the simulated firmware process.

Starts ``python -m firmware_bridge.sim.cli --task TASK --pty`` as a subprocess, drives it with
``Runtime(FirmwareRobot(...))`` (random actions) on the real clock and reports the loop's tick
time, jitter and overruns, then freezes the firmware (SIGSTOP) ``--stops`` times and measures how
long the runtime takes to latch its e-stop. Baseline measured in the same run: the same runtime
at the same rate driving the same task in-process (``EnvRobot``, physics inside ``act``).

    PYTHONPATH=. MUJOCO_GL=egl python bench/firmware_loop.py --seconds 5 --stops 5

Ends with one JSON line of the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from firmware_bridge.sim.tasks import make_env
from onboard.firmware_robot import FirmwareRobot, FirmwareRobotConfig
from onboard.robot import EnvRobot
from onboard.runtime import Runtime, RuntimeConfig

ROOT = Path(__file__).resolve().parents[1]


def start_firmware(task: str) -> tuple[subprocess.Popen, str]:
    """The firmware subprocess and the pty path it printed."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, "-m", "firmware_bridge.sim.cli", "--task", task,
                                "--pty"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True, cwd=ROOT, env=env)
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


def loop_figures(summary: dict) -> dict[str, float]:
    """Tick figures (ms) of a runtime summary."""
    loop = summary["loop"]
    return {"ticks": loop["ticks"], "overruns": loop["overruns"],
            "busy_p50_ms": loop["busy"]["p50_ms"], "busy_p99_ms": loop["busy"]["p99_ms"],
            "jitter_p99_ms": loop["jitter"]["p99_ms"], "act_p50_ms": summary["act"]["p50_ms"],
            "act_p99_ms": summary["act"]["p99_ms"]}


def silence_latency(runtime: Runtime, robot: FirmwareRobot, process: subprocess.Popen,
                    period: float) -> float:
    """Seconds from SIGSTOP of the firmware to the runtime's e-stop latch; resumes after."""
    latched_at: list[float] = []
    runtime.sink = lambda step: (latched_at.append(time.monotonic())
                                 if runtime.safety.latched and not latched_at else None)
    thread = threading.Thread(target=runtime.run, kwargs={"max_ticks": round(1.0 / period)})
    thread.start()
    time.sleep(0.3)
    os.kill(process.pid, signal.SIGSTOP)
    stopped = time.monotonic()
    thread.join()
    os.kill(process.pid, signal.SIGCONT)
    robot.driver.wait_for_state(2.0)
    robot.clear_estop()
    runtime.safety.clear_estop()
    return latched_at[0] - stopped if latched_at else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="cartpole_swingup",
                        choices=["cartpole_swingup", "a1_walk", "ur5_reach"])
    parser.add_argument("--seconds", type=float, default=5.0, help="run length per loop")
    parser.add_argument("--stops", type=int, default=5, help="SIGSTOP trials")
    args = parser.parse_args()

    env_robot = EnvRobot(make_env(args.task))
    process, port = start_firmware(args.task)
    try:
        robot = FirmwareRobot(FirmwareRobotConfig(port=port, task=args.task))
        hz = robot.control_hz
        ticks = round(args.seconds * hz)
        baseline = Runtime(env_robot, RuntimeConfig(hz=hz, mode="random")).run(max_ticks=ticks)
        runtime = Runtime(robot, RuntimeConfig(hz=hz, mode="random"))
        figures = loop_figures(runtime.run(max_ticks=ticks))
        latencies = [silence_latency(runtime, robot, process, 1.0 / hz)
                     for _ in range(args.stops)]
        robot.close()
    finally:
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=10)
    base = loop_figures(baseline)
    result = {
        "task": args.task, "hz": hz, "firmware": figures, "in_process": base,
        "busy_p50_ratio_firmware_over_in_process": figures["busy_p50_ms"] / base["busy_p50_ms"],
        "silence_latency_ms": [round(1000 * value, 1) for value in latencies],
        "silence_latency_max_ms": round(1000 * float(np.nanmax(latencies)), 1),
        "silence_limit_ms": 2000.0 / hz,
        "firmware_counters": json.loads(out.strip().splitlines()[-1]),
    }
    print(f"{args.task} at {hz:g} Hz for {args.seconds:g} s")
    print(f"  over the firmware: tick p50 {figures['busy_p50_ms']:.2f} ms, p99 "
          f"{figures['busy_p99_ms']:.2f} ms, overruns {figures['overruns']}/{figures['ticks']}")
    print(f"  in process:        tick p50 {base['busy_p50_ms']:.2f} ms, p99 "
          f"{base['busy_p99_ms']:.2f} ms, overruns {base['overruns']}/{base['ticks']}")
    print(f"  silence latched after SIGSTOP: {result['silence_latency_ms']} ms "
          f"(limit {result['silence_limit_ms']:.0f} ms + one tick)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
