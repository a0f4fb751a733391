"""The onboard control loop at 50 Hz with an exported policy while a trainer trains beside it.

The robot is the simulated ``cartpole_swingup`` task in-process (:class:`onboard.robot.EnvRobot`,
MuJoCo physics each tick); the policy is an ``Agent`` of ``--preset`` exported with the real
exporter and run by the :class:`onboard.runtime.Runtime` (sample mode, one onnxruntime thread).
Meanwhile ``daydreamer-trainer local`` trains on ``--trainer-env`` in a subprocess (one torch
thread), so the machine is as busy as a robot computer that also trains. Reported: missed
deadlines (overruns), skipped ticks, jitter p99 (lateness of the tick start after its deadline),
inference p99. Goals: no missed deadline, jitter p99 <= 1 ms. Ends with one JSON line.

Example: ``python bench/control_loop.py --seconds 60 --realtime``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from machine import load_average, use_realtime

from firmware_bridge.sim.tasks import make_env
from offboard.agent import Agent
from offboard.dreamer.config import PRESETS, DreamerConfig
from offboard.dreamer.export import export_onnx
from onboard.policy import load_policy
from onboard.robot import EnvRobot
from onboard.runtime import Runtime, RuntimeConfig

ROOT = Path(__file__).resolve().parents[1]
GOAL_JITTER_P99_MS = 1.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="loop duration")
    parser.add_argument("--hz", type=float, default=50.0, help="control rate")
    parser.add_argument("--preset", default="size1m", choices=sorted(PRESETS),
                        help="size of the exported policy")
    parser.add_argument("--trainer-env", default="dmc:cartpole_swingup",
                        help="task of the trainer subprocess ('' runs without a trainer)")
    parser.add_argument("--trainer-preset", default="size1m", choices=sorted(PRESETS))
    parser.add_argument("--realtime", action="store_true",
                        help="run the loop under SCHED_FIFO (as a robot runs its control "
                             "process; needs the permission, else normal scheduling)")
    return parser.parse_args()


def start_trainer(args: argparse.Namespace, run_dir: Path) -> subprocess.Popen | None:
    """``daydreamer-trainer local`` with a short prefill, training as fast as it can (its log
    goes to ``<run_dir>.log``)."""
    if not args.trainer_env:
        return None
    settings = {"env": args.trainer_env, "env_steps": "1000000", "eval_episodes": "0",
                "trainer.run_dir": str(run_dir), "trainer.threads": "1",
                "trainer.learner.preset": args.trainer_preset,
                "trainer.limiter.min_inserted": "500", "trainer.limiter.unlimited": "true"}
    command = [sys.executable, "-m", "offboard.cli", "local",
               *[f"--set={key}={value}" for key, value in settings.items()]]
    environment = {**os.environ, "PYTHONPATH": str(ROOT),
                   "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}
    with open(f"{run_dir}.log", "w") as log_file:
        return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log_file, cwd=ROOT,
                                env=environment, start_new_session=True)


def trainer_progress(run_dir: Path) -> str:
    """The trainer's last episode line (frames, return, updates), or ''."""
    try:
        lines = Path(f"{run_dir}.log").read_text().splitlines()
    except FileNotFoundError:
        return ""
    episodes = [line.split(": ", 1)[-1] for line in lines if " updates " in line]
    return episodes[-1] if episodes else ""


def cpu_seconds(process: subprocess.Popen | None) -> float:
    """User + system CPU seconds a running child has used so far (0 when none)."""
    if process is None or process.poll() is not None:
        return 0.0
    fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def build_runtime(args: argparse.Namespace) -> Runtime:
    """The runtime on the simulated cartpole with an exported, untrained policy swapped in."""
    env = make_env("cartpole_swingup", seed=0)
    agent = Agent(env.spec, DreamerConfig(preset=args.preset))
    policy = load_policy(export_onnx(agent, mode=False, policy_version=1), env.spec, 1)
    runtime = Runtime(EnvRobot(env), RuntimeConfig(hz=args.hz, mode="sample"))
    runtime.offer_policy(policy)
    return runtime


def main() -> None:
    args = parse_args()
    torch.set_num_threads(1)
    runtime = build_runtime(args)
    with tempfile.TemporaryDirectory(prefix="control-loop-") as folder:
        trainer = start_trainer(args, Path(folder) / "run")
        try:
            time.sleep(10.0 if trainer is not None else 0.0)  # imports, prefill: it trains now
            trainer_alive_before = trainer is not None and trainer.poll() is None
            realtime = use_realtime() if args.realtime else False
            load_before = load_average()
            trainer_cpu = cpu_seconds(trainer)
            summary = runtime.run(max_ticks=int(args.seconds * args.hz))
            trainer_cpu = cpu_seconds(trainer) - trainer_cpu
            trainer_alive = trainer is not None and trainer.poll() is None
            progress = trainer_progress(Path(folder) / "run")
        finally:
            if trainer is not None:
                trainer.terminate()
                trainer.wait(60)
    loop = summary["loop"]
    result = {
        "seconds": args.seconds, "hz": args.hz, "preset": args.preset,
        "ticks": loop["ticks"], "overruns": loop["overruns"], "skipped": loop["skipped"],
        "jitter_p50_ms": round(loop["jitter"]["p50_ms"], 4),
        "jitter_p99_ms": round(loop["jitter"]["p99_ms"], 4),
        "jitter_max_ms": round(loop["jitter"]["max_ms"], 4),
        "busy_p99_ms": round(loop["busy"]["p99_ms"], 4),
        "infer_p99_ms": round(summary["infer"]["p99_ms"], 4),
        "policy_swaps": summary["policy_swaps"], "realtime": realtime,
        "trainer": f"local {args.trainer_env} {args.trainer_preset}" if trainer else "none",
        "trainer_ran_throughout": trainer_alive_before and trainer_alive,
        "trainer_last_episode": progress,
        "trainer_cpu_share": round(trainer_cpu / args.seconds, 3),
        "goal_no_missed_deadline": loop["overruns"] == 0,
        "goal_jitter_p99_met": loop["jitter"]["p99_ms"] <= GOAL_JITTER_P99_MS,
        "load_before": load_before, "load_after": load_average(),
    }
    print(f"{loop['ticks']} ticks at {args.hz:.0f} Hz ({args.seconds:.0f} s), policy "
          f"{args.preset}, {'SCHED_FIFO' if realtime else 'normal scheduling'}; trainer: "
          f"{result['trainer']} (ran throughout: {result['trainer_ran_throughout']}; last "
          f"episode: {progress or 'none yet'}; it used {trainer_cpu:.1f} CPU s during the loop)")
    print(f"  missed deadlines (overruns) {loop['overruns']}, skipped ticks {loop['skipped']}")
    print(f"  jitter p50 {result['jitter_p50_ms']:.3f} ms, p99 {result['jitter_p99_ms']:.3f} "
          f"ms, max {result['jitter_max_ms']:.3f} ms; tick busy p99 {result['busy_p99_ms']:.3f} "
          f"ms; inference p99 {result['infer_p99_ms']:.3f} ms")
    print(f"  load: before {load_before}, after {result['load_after']}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
