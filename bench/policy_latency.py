"""Latency of the exported acting step onboard (onnxruntime) against torch eager.

For each ``--presets`` size (default ``size1m``, deter 512, and ``bench256``), an untrained
``Agent`` on a quadruped-like spec (16-d vector observation, 12-d continuous action) is exported
with the real exporter (:func:`offboard.dreamer.export.export_onnx`, sampling variant), loaded
with :func:`onboard.policy.load_policy` on one intra-op thread and stepped through
:class:`onboard.policy.PolicyRunner` (feeds, noise, carry: what the control thread does). The same
acting module runs in torch eager through ``Agent.policy`` on one torch thread.

Each engine is timed twice: *paced* at ``--hz`` with sleeps between calls (weights fall out of
the cache between steps, as on a robot) and in a *tight* loop. Goals at deter 512: paced p99
<= 1 ms and onnxruntime >= 2x faster than torch (median, paced). Ends with one JSON line.

Example: ``python bench/policy_latency.py --presets size1m,bench256 --paced-steps 500``
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

import numpy as np
import torch
from machine import load_average, use_realtime

from offboard.agent import Agent
from offboard.dreamer.config import PRESETS, DreamerConfig
from offboard.dreamer.export import export_onnx
from onboard.policy import PolicyRunner, load_policy
from shared.spec import EnvSpec, Space

GOAL_P99_PACED_US = 1000.0
GOAL_SPEEDUP = 2.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--presets", default="size1m,bench256",
                        help=f"comma-separated size presets ({', '.join(sorted(PRESETS))})")
    parser.add_argument("--hz", type=float, default=50.0, help="paced control rate")
    parser.add_argument("--paced-steps", type=int, default=500, help="paced calls per engine")
    parser.add_argument("--tight-steps", type=int, default=2000, help="tight calls per engine")
    parser.add_argument("--obs-dim", type=int, default=16)
    parser.add_argument("--act-dim", type=int, default=12)
    parser.add_argument("--realtime", action="store_true",
                        help="run under SCHED_FIFO (as a robot runs its control process; needs "
                             "the permission, else a warning and normal scheduling)")
    return parser.parse_args()


def quadruped_spec(obs_dim: int, act_dim: int) -> EnvSpec:
    """A vector-observation, continuous-action spec shaped like a quadruped's."""
    return EnvSpec.create({"vector": Space(np.float32, (obs_dim,))},
                          {"action": Space(np.float32, (act_dim,), -1.0, 1.0)})


def observations(spec: EnvSpec, count: int) -> list[dict[str, np.ndarray]]:
    """``count`` random observations (``vector`` (obs_dim,), ``is_first`` every 500 steps)."""
    rng = np.random.default_rng(0)
    size = spec.observation["vector"].shape[0]
    return [{"vector": rng.normal(size=size).astype(np.float32),
             "is_first": np.bool_(index % 500 == 0), "reward": np.float32(0.0),
             "is_last": np.bool_(False), "is_terminal": np.bool_(False)}
            for index in range(count)]


def time_calls(step: Callable[[dict[str, np.ndarray]], object],
               obs: list[dict[str, np.ndarray]], period: float) -> tuple[np.ndarray, np.ndarray]:
    """Wall and thread-CPU seconds per call (N,) each; ``period`` > 0 sleeps until the next
    absolute deadline between calls. Wall much above CPU means the thread was preempted."""
    wall, cpu = np.empty(len(obs)), np.empty(len(obs))
    deadline = time.perf_counter()
    for index, observation in enumerate(obs):
        if period > 0:
            deadline += period
            pause = deadline - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
        start, cpu_start = time.perf_counter(), time.thread_time()
        step(observation)
        wall[index] = time.perf_counter() - start
        cpu[index] = time.thread_time() - cpu_start
    return wall, cpu


def torch_step(agent: Agent) -> Callable[[dict[str, np.ndarray]], object]:
    """One torch-eager acting step per call (carry kept between calls, batch 1)."""
    state = {"carry": agent.initial_carry(1)}

    def step(observation: dict[str, np.ndarray]) -> object:
        batch = {"vector": observation["vector"][None],
                 "is_first": np.asarray([observation["is_first"]])}
        state["carry"], action = agent.policy(state["carry"], batch)
        return action

    return step


def figures(timings: tuple[np.ndarray, np.ndarray]) -> dict[str, float]:
    """Wall p50/p99/max and thread-CPU p50/p99 in microseconds."""
    wall, cpu = (durations * 1e6 for durations in timings)
    return {"p50_us": round(float(np.percentile(wall, 50)), 1),
            "p99_us": round(float(np.percentile(wall, 99)), 1),
            "max_us": round(float(wall.max()), 1),
            "cpu_p50_us": round(float(np.percentile(cpu, 50)), 1),
            "cpu_p99_us": round(float(np.percentile(cpu, 99)), 1)}


def measure(preset: str, args: argparse.Namespace) -> dict[str, object]:
    """All four timings of one preset."""
    spec = quadruped_spec(args.obs_dim, args.act_dim)
    agent = Agent(spec, DreamerConfig(preset=preset))
    onnx = export_onnx(agent, mode=False, policy_version=1)
    runner = PolicyRunner(spec, mode="sample")
    runner.swap(load_policy(onnx, spec, 1, threads=1))
    engines = {"onnxruntime": runner.act, "torch": torch_step(agent)}
    obs = observations(spec, max(args.paced_steps, args.tight_steps))
    result: dict[str, object] = {"preset": preset, "deter": PRESETS[preset].deter,
                                 "onnx_bytes": len(onnx)}
    for name, step in engines.items():
        time_calls(step, obs[:50], 0.0)  # warm-up
        result[f"{name}_paced"] = figures(time_calls(step, obs[:args.paced_steps], 1 / args.hz))
        result[f"{name}_tight"] = figures(time_calls(step, obs[:args.tight_steps], 0.0))
    for kind in ("paced", "tight"):
        result[f"speedup_{kind}_p50"] = round(
            result[f"torch_{kind}"]["p50_us"] / result[f"onnxruntime_{kind}"]["p50_us"], 2)
    return result


def report(result: dict[str, object]) -> None:
    """Readable lines of one preset."""
    print(f"{result['preset']} (deter {result['deter']}, {result['onnx_bytes']} ONNX bytes)")
    for name in ("onnxruntime", "torch"):
        for kind in ("paced", "tight"):
            numbers = result[f"{name}_{kind}"]
            print(f"  {name:12s} {kind:6s} p50 {numbers['p50_us']:8.1f} us  "
                  f"p99 {numbers['p99_us']:8.1f} us  max {numbers['max_us']:8.1f} us  "
                  f"(thread CPU p50 {numbers['cpu_p50_us']:.1f}, p99 "
                  f"{numbers['cpu_p99_us']:.1f} us)")
    print(f"  onnxruntime vs torch (p50): paced {result['speedup_paced_p50']}x, "
          f"tight {result['speedup_tight_p50']}x")


def main() -> None:
    args = parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    realtime = use_realtime() if args.realtime else False
    load_before = load_average()
    results = [measure(preset, args) for preset in args.presets.split(",")]
    for result in results:
        report(result)
    goals = {}
    for result in results:
        if result["deter"] == 512:
            goals = {"goal_p99_paced_met": result["onnxruntime_paced"]["p99_us"]
                     <= GOAL_P99_PACED_US,
                     "goal_speedup_met": result["speedup_paced_p50"] >= GOAL_SPEEDUP}
            print(f"goals at deter 512: paced p99 <= {GOAL_P99_PACED_US:.0f} us: "
                  f"{goals['goal_p99_paced_met']}; >= {GOAL_SPEEDUP}x torch: "
                  f"{goals['goal_speedup_met']}")
    load_after = load_average()
    print(f"load: before {load_before}, after {load_after} (1 onnxruntime / 1 torch thread, "
          f"{'SCHED_FIFO' if realtime else 'normal scheduling'})")
    print(json.dumps({"hz": args.hz, "realtime": realtime, "results": results, **goals,
                      "load_before": load_before, "load_after": load_after}))


if __name__ == "__main__":
    main()
