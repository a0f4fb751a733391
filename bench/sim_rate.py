"""Physics steps per second and rendered frames per second of each simulated robot.

For every task: (1) raw ``mujoco.mj_step`` on the task's model (the baseline), (2) the robot's
own inner loop (``SimRobot.step``: PD or velocity loop in Python at every physics step), and
(3) 64x64 offscreen renders of the task's camera. Prints a table, then exactly one JSON line.

    MUJOCO_GL=egl python bench/sim_rate.py --seconds 1
"""

from __future__ import annotations

import argparse
import json
import os
import time

if "MUJOCO_GL" not in os.environ and not os.environ.get("DISPLAY"):
    os.environ["MUJOCO_GL"] = "egl"

import mujoco  # after choosing the GL backend
import numpy as np

from firmware_bridge.sim.tasks import TASKS, make_task


def _rate(work, seconds: float) -> float:
    """Calls of ``work()`` (returning units done) per second over about ``seconds``."""
    done, start = 0, time.perf_counter()
    while True:
        done += work()
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return done / elapsed


def measure(name: str, seconds: float, size: int) -> dict[str, float]:
    """Rates for task ``name``: raw physics, robot inner loop, renders (all per second)."""
    task = make_task(name)
    task.begin_episode(np.random.default_rng(0))
    robot = task.robot
    model, data = robot.model, robot.data
    robot.apply(robot.targets)

    def raw() -> int:
        """100 bare physics steps."""
        for _ in range(100):
            mujoco.mj_step(model, data)
        return 100

    def loop() -> int:
        """100 physics steps through the robot's inner loop."""
        return robot.step(100 * robot.timestep)

    def render() -> int:
        """One frame."""
        robot.render(size)
        return 1

    render()  # warm up: the first frame creates the GL context
    result = {
        "raw_physics_steps_per_s": _rate(raw, seconds),
        "robot_physics_steps_per_s": _rate(loop, seconds),
        "frames_per_s": _rate(render, seconds),
    }
    result["inner_loop_slowdown"] = (result["raw_physics_steps_per_s"]
                                     / result["robot_physics_steps_per_s"])
    robot.close()
    return result


def main() -> None:
    """Measure every requested task, print a table, end with one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=1.0, help="time per measurement")
    parser.add_argument("--size", type=int, default=64, help="rendered image side in pixels")
    parser.add_argument("--tasks", nargs="*", default=sorted(TASKS), help="task names")
    args = parser.parse_args()
    figures = {}
    print(f"{'task':18s} {'raw mj_step/s':>14s} {'robot step/s':>13s} {'slowdown':>9s} "
          f"{'frames/s':>9s}")
    for name in args.tasks:
        rates = measure(name, args.seconds, args.size)
        figures[name] = {key: round(value, 2) for key, value in rates.items()}
        print(f"{name:18s} {rates['raw_physics_steps_per_s']:14.0f} "
              f"{rates['robot_physics_steps_per_s']:13.0f} {rates['inner_loop_slowdown']:9.2f} "
              f"{rates['frames_per_s']:9.0f}")
    print(json.dumps({"bench": "sim_rate", "size": args.size, "seconds": args.seconds,
                      "gl": os.environ.get("MUJOCO_GL", ""), "tasks": figures}))


if __name__ == "__main__":
    main()
