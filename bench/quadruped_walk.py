"""Quadruped walk: simulated robot time until DreamerV3 makes the A1 walk at a sustained speed.

DayDreamer's headline: the A1 quadruped learns to roll over, stand up and walk without resets
in about one hour of real time. This bench trains our offboard DreamerV3 agent in-process
(:class:`offboard.local.LocalRun`: the same replay, train-ratio limiter and learner loop as the
networked trainer) on the simulated A1 (task ``a1_walk``: DayDreamer's staged reward, 20 Hz,
episodes are only chunk boundaries, the world is never reset), and measures the forward speed
of the base from the simulator itself: each control step's base displacement in the world frame,
projected on the trunk's ground heading (mean of the headings before and after the step),
divided by the step's simulated duration. The *window speed* is the displacement along the
heading over the last ``--window`` simulated seconds divided by their duration; the target is
reached the first time a full window averages ``>= --target-speed`` ("sustained") with the trunk
upright (``up_z > 0.4``, the reward's first gate) for at least ``--min-upright`` of the window:
random flailing scoots a fallen robot forward at 0.3 m/s over a few seconds now and then.

Simulated time is the simulator's clock (control steps that advanced the physics x control
period; the episode cuts do not advance it). ``--train-ratio unlimited`` (the default, as
DayDreamer on the real robot) paces the simulated robot at its real control rate on wall-clock
deadlines and lets the learner train in the gaps, so simulated time ~ wall time and the number
of updates per simulated second depends on this machine's learner speed (reported as the
effective train ratio). A number instead steps as fast as that ratio allows.

Prints a progress line every ``--report-every`` simulated seconds and ends with one JSON line.

Example: ``python bench/quadruped_walk.py --wall-minutes 35 --threads 1``
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from firmware_bridge.sim.tasks import TaskEnv, make_task
from firmware_bridge.task_math.common import ground_heading, up_alignment
from offboard.checkpoint import CheckpointConfig
from offboard.dreamer.config import PRESETS, DreamerConfig, OptimizerConfig
from offboard.learner_loop import ScheduleConfig
from offboard.local import LocalConfig, LocalRun
from offboard.replay.limiter import LimiterConfig
from offboard.trainer_config import TrainerConfig

#: a trunk counts as upright like the reward's first gate: ``up / 2 + 0.5 > 0.7``.
UPRIGHT_UP = 0.4


@dataclass
class WalkMeter:
    """Forward speed of a simulated robot's base from the simulator's state.

    Call :meth:`observe` after every control step; it reads the physics clock, the base position
    and the trunk orientation of ``task`` (an ``A1Walk``-like task: ``task.robot.data`` and
    ``task.trunk_quat()``). Steps that do not advance the clock (episode cuts) are skipped; a
    clock that goes back (a physical reset) restarts the window.
    """

    task: Any
    window_s: float = 10.0
    target_speed: float = 0.3
    min_upright: float = 0.9
    sim_seconds: float = 0.0
    upright_seconds: float = 0.0
    best_speed: float = float("-inf")
    best_at: float | None = None
    reached_at: float | None = None
    physical_resets: int = 0
    _samples: deque = field(default_factory=deque)  # (duration, forward distance, upright)
    _window_time: float = 0.0
    _window_distance: float = 0.0
    _window_upright: float = 0.0
    _last: tuple[float, np.ndarray, np.ndarray] | None = None

    def _state(self) -> tuple[float, np.ndarray, np.ndarray]:
        data = self.task.robot.data
        return float(data.time), np.array(data.qpos[:2], np.float64), self.task.trunk_quat()

    def observe(self) -> bool:
        """Account for the step just simulated; True once the target has been reached."""
        now, position, quat = self._state()
        last, self._last = self._last, (now, position, quat)
        if last is None or now == last[0]:
            return self.reached_at is not None
        if now < last[0]:
            self.physical_resets += 1
            self._samples.clear()
            self._window_time = self._window_distance = self._window_upright = 0.0
            return self.reached_at is not None
        duration = now - last[0]
        heading = ground_heading(last[2]) + ground_heading(quat)
        norm = np.linalg.norm(heading)
        heading = heading / norm if norm > 1e-9 else np.zeros(3)
        distance = float((position - last[1]) @ heading[:2])
        upright = duration * (up_alignment(quat) > UPRIGHT_UP)
        self.sim_seconds += duration
        self.upright_seconds += upright
        self._push(duration, distance, upright)
        return self.reached_at is not None

    def _push(self, duration: float, distance: float, upright: float) -> None:
        self._samples.append((duration, distance, upright))
        self._window_time += duration
        self._window_distance += distance
        self._window_upright += upright
        while self._samples and self._window_time - self._samples[0][0] >= \
                self.window_s - 1e-9:
            old_duration, old_distance, old_upright = self._samples.popleft()
            self._window_time -= old_duration
            self._window_distance -= old_distance
            self._window_upright -= old_upright
        speed = self.window_speed()
        if speed is None or self._window_upright < self.min_upright * self._window_time - 1e-9:
            return
        if speed > self.best_speed:
            self.best_speed, self.best_at = speed, self.sim_seconds
        if self.reached_at is None and speed >= self.target_speed:
            self.reached_at = self.sim_seconds

    def window_speed(self) -> float | None:
        """Mean forward speed over the last full window, m/s (None before a full window);
        upright or not (best and target only count windows upright enough)."""
        if self._window_time < self.window_s - 1e-9:
            return None
        return self._window_distance / self._window_time


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="debug", choices=sorted(PRESETS))
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--batch-length", type=int, default=32)
    parser.add_argument("--train-ratio", default="unlimited",
                        help="replayed steps per collected step, or 'unlimited' (paced robot)")
    parser.add_argument("--lr", type=float, default=6e-4)
    parser.add_argument("--warmup", type=int, default=100, help="learning-rate warm-up, updates")
    parser.add_argument("--prefill", type=int, default=1000,
                        help="steps collected before the first update")
    parser.add_argument("--sim-minutes", type=float, default=120.0,
                        help="budget of simulated time")
    parser.add_argument("--wall-minutes", type=float, default=60.0, help="budget of wall time")
    parser.add_argument("--target-speed", type=float, default=0.3, help="m/s")
    parser.add_argument("--window", type=float, default=10.0, help="simulated seconds")
    parser.add_argument("--min-upright", type=float, default=0.9,
                        help="fraction of a window the trunk must be upright for it to count")
    parser.add_argument("--report-every", type=float, default=60.0,
                        help="simulated seconds between progress lines")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--run-dir", default="", help="a new or empty folder (default: temp)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    return parser.parse_args(argv)


def trainer_config(args: argparse.Namespace, run_dir: str) -> TrainerConfig:
    """The learner side from the flags (no ONNX exports: the agent acts in torch here)."""
    unlimited = args.train_ratio == "unlimited"
    learner = DreamerConfig(preset=args.preset, batch_size=args.batch_size,
                            batch_length=args.batch_length, compute_dtype="float32",
                            device="cpu", optimizer=OptimizerConfig(lr=args.lr,
                                                                    warmup=args.warmup))
    limiter = LimiterConfig(train_ratio=512.0 if unlimited else float(args.train_ratio),
                            unlimited=unlimited, min_inserted=args.prefill)
    schedule = ScheduleConfig(export_every_s=0.0, export_every_updates=0,
                              checkpoint_every_s=600.0)
    return TrainerConfig(run_dir=run_dir, seed=args.seed, threads=args.threads,
                         learner=learner, limiter=limiter, schedule=schedule,
                         checkpoint=CheckpointConfig(directory=""))


class Progress:
    """The stopping rule and progress lines, as an ``on_step`` callback of :class:`LocalRun`."""

    def __init__(self, meter: WalkMeter, args: argparse.Namespace) -> None:
        self.meter, self.args = meter, args
        self.run: LocalRun | None = None
        self.started = time.monotonic()
        self.next_report = args.report_every
        self.rewards: list[float] = []
        self.upright_mark = (0.0, 0.0)
        self.stopped_by = "sim budget"

    def __call__(self, step: int, observation: dict[str, np.ndarray]) -> bool:
        reached = self.meter.observe()
        self.rewards.append(float(observation["reward"]))
        if self.meter.sim_seconds >= self.next_report - 1e-6:
            self.report()
            self.next_report += self.args.report_every
        if reached:
            self.stopped_by = "target reached"
        elif time.monotonic() - self.started >= self.args.wall_minutes * 60:
            self.stopped_by = "wall budget"
        elif self.meter.sim_seconds >= self.args.sim_minutes * 60 - 1e-6:
            self.stopped_by = "sim budget"
        else:
            return False
        return True

    def updates(self) -> int:
        return self.run.trainer.agent.updates if self.run is not None else 0

    def report(self) -> None:
        meter = self.meter
        upright_time = meter.upright_seconds - self.upright_mark[1]
        interval = meter.sim_seconds - self.upright_mark[0]
        self.upright_mark = (meter.sim_seconds, meter.upright_seconds)
        speed = meter.window_speed()
        best = f"{meter.best_speed:+.3f} m/s at {meter.best_at:.0f} s" \
            if meter.best_at is not None else "n/a"
        print(f"sim {meter.sim_seconds:7.0f} s | wall {time.monotonic() - self.started:6.0f} s | "
              f"updates {self.updates():6d} | reward {np.mean(self.rewards or [0]):5.2f} | "
              f"window speed {'n/a' if speed is None else f'{speed:+.3f}'} m/s | best {best} | "
              f"upright {upright_time / max(interval, 1e-9):4.0%}", flush=True)
        self.rewards = []


def make_run_dir(path: str) -> str:
    """``path`` (must be new or empty: a used folder would resume) or a new temporary folder."""
    if not path:
        return tempfile.mkdtemp(prefix="quadruped_walk_")
    folder = Path(path)
    if folder.exists() and any(folder.iterdir()):
        raise SystemExit(f"--run-dir {folder} is not empty; give a new folder")
    folder.mkdir(parents=True, exist_ok=True)
    return str(folder)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.train_ratio != "unlimited" and float(args.train_ratio) <= 0:
        raise SystemExit(f"--train-ratio must be > 0 or 'unlimited', got {args.train_ratio}")
    task = make_task("a1_walk")
    control_dt = task.config.control_dt
    unlimited = args.train_ratio == "unlimited"
    run_dir = make_run_dir(args.run_dir)
    config = LocalConfig(env="sim:a1_walk", env_steps=1 << 40, eval_episodes=0,
                         step_period_s=control_dt if unlimited else 0.0,
                         trainer=trainer_config(args, run_dir))
    meter = WalkMeter(task, window_s=args.window, target_speed=args.target_speed,
                      min_upright=args.min_upright)
    progress = Progress(meter, args)
    load_before = os.getloadavg()[0]
    print(f"A1 walk: preset {args.preset}, batch {args.batch_size}x{args.batch_length}, "
          f"lr {args.lr}, train ratio {args.train_ratio}, prefill {args.prefill}, "
          f"{args.threads} thread(s), control {1 / control_dt:.0f} Hz, target "
          f"{args.target_speed} m/s over {args.window} s upright {args.min_upright:.0%}; "
          f"run dir {run_dir}", flush=True)
    env = TaskEnv(task, seed=args.seed)
    env.reset()  # drops the robot (the only physical reset); LocalRun's reset keeps the world
    meter.observe()  # the clock and position the first step is measured from
    run = LocalRun(config, env=env, on_step=progress)
    progress.run = run
    summary = run.run()
    progress.report()
    return result(args, meter, progress, summary, control_dt, run, load_before)


def result(args: argparse.Namespace, meter: WalkMeter, progress: Progress,
           summary: dict[str, Any], control_dt: float, run: LocalRun,
           load_before: float) -> dict[str, Any]:
    """Print the verdict and return the JSON figures."""
    batch_steps = args.batch_size * args.batch_length
    collected_after_prefill = max(1, summary["env_steps"] - args.prefill)
    figures = {
        "reached": meter.reached_at is not None,
        "sim_seconds_to_target": None if meter.reached_at is None else round(meter.reached_at, 2),
        "best_window_speed": None if meter.best_at is None else round(meter.best_speed, 4),
        "best_window_at_sim_seconds": None if meter.best_at is None else round(meter.best_at, 2),
        "sim_seconds": round(meter.sim_seconds, 2), "wall_seconds": round(summary["seconds"], 1),
        "updates": summary["updates"], "env_steps": summary["env_steps"],
        "effective_train_ratio": round(summary["updates"] * batch_steps
                                       / collected_after_prefill, 1),
        "upright_fraction": round(meter.upright_seconds / max(meter.sim_seconds, 1e-9), 3),
        "late_steps": run.late_steps, "stopped_by": progress.stopped_by,
        "preset": args.preset, "batch_size": args.batch_size, "batch_length": args.batch_length,
        "train_ratio": args.train_ratio, "lr": args.lr, "warmup": args.warmup,
        "prefill": args.prefill, "target_speed": args.target_speed, "window": args.window,
        "min_upright": args.min_upright,
        "control_dt": control_dt, "seed": args.seed, "threads": args.threads,
        "sim_minutes": args.sim_minutes, "wall_minutes": args.wall_minutes,
        "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2),
    }
    if figures["reached"]:
        print(f"REACHED {args.target_speed} m/s sustained over {args.window} s after "
              f"{meter.reached_at:.1f} s of simulated robot time ({summary['updates']} updates, "
              f"{summary['seconds']:.0f} s wall)")
    else:
        best = "no full window upright enough" if meter.best_at is None else \
            f"{meter.best_speed:+.3f} m/s at {meter.best_at:.0f} s"
        print(f"NOT reached within the budget ({progress.stopped_by}): best sustained speed "
              f"{best}; {meter.sim_seconds:.0f} s simulated, {summary['seconds']:.0f} s wall, "
              f"{summary['updates']} updates")
    print(json.dumps(figures), flush=True)
    return figures


if __name__ == "__main__":
    main()
