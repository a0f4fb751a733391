"""Learner throughput: DreamerV3 updates per second on random proprio batches.

Runs ``Agent.train_step`` on random batches of a vector-observation, continuous-action spec
(walker_walk proprio shape by default: 24-d observation, 6-d action) for ``--seconds`` after
``--warmup`` untimed updates, and prints updates/s, replayed env-steps/s (B * T per update) and
where the time goes (world-model forward, imagination, actor-critic forward, backward + optimizer).
The reference figure is a well-known PyTorch DreamerV3 port at the ``bench256`` shape with one
torch thread on this kind of machine: 3.1 s per update. Ends with one JSON line.

Example: ``python bench/learner_throughput.py --preset bench256 --threads 1 --seconds 30``
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from machine import load_average

from offboard.agent import Agent
from offboard.dreamer.config import PRESETS, DreamerConfig
from shared.spec import EnvSpec, Space

REFERENCE_SECONDS_PER_UPDATE = 3.1


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="bench256", choices=sorted(PRESETS))
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--seconds", type=float, default=20.0, help="timed duration")
    parser.add_argument("--warmup", type=int, default=3, help="untimed updates first")
    parser.add_argument("--obs-dim", type=int, default=24)
    parser.add_argument("--act-dim", type=int, default=6)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--length", type=int, default=64)
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32"])
    parser.add_argument("--device", default="cpu",
                        help="DreamerConfig.device (the reference figure is for 'cpu')")
    return parser.parse_args()


def random_batch(rng: np.random.Generator, args: argparse.Namespace) -> dict[str, np.ndarray]:
    """A batch (B, T, ...) in the replay layout with a few episode boundaries."""
    shape = (args.batch, args.length)
    is_first = rng.random(shape) < 0.01
    return {
        "proprio": rng.normal(size=(*shape, args.obs_dim)).astype(np.float32),
        "action": rng.uniform(-1, 1, (*shape, args.act_dim)).astype(np.float32),
        "reward": rng.normal(size=shape).astype(np.float32),
        "is_first": is_first, "is_last": np.roll(is_first, -1, 1),
        "is_terminal": np.zeros(shape, bool),
    }


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    spec = EnvSpec.create({"proprio": Space(np.float32, (args.obs_dim,))},
                          {"action": Space(np.float32, (args.act_dim,), -1.0, 1.0)})
    config = DreamerConfig(preset=args.preset, batch_size=args.batch, batch_length=args.length,
                           compute_dtype=args.dtype, device=args.device)
    agent = Agent(spec, config)
    rng = np.random.default_rng(0)
    batches = [random_batch(rng, args) for _ in range(4)]
    load_before = load_average()
    start = time.perf_counter()
    for index in range(args.warmup):
        agent.train_step(batches[index % 4])
    warmup_seconds = time.perf_counter() - start
    parts = {"world_model": 0.0, "imagine": 0.0, "actor_critic": 0.0, "backward": 0.0}
    updates, start, cpu_start = 0, time.perf_counter(), time.process_time()
    durations = []
    while time.perf_counter() - start < args.seconds or updates < 2:
        begin = time.perf_counter()
        metrics = agent.train_step(batches[updates % 4])
        durations.append(time.perf_counter() - begin)
        for key in parts:
            parts[key] += metrics[f"time/{key}"]
        updates += 1
    elapsed = time.perf_counter() - start
    cpu_per_update = (time.process_time() - cpu_start) / updates
    per_update = elapsed / updates
    shares = {k: v / updates for k, v in parts.items()}
    reference_shape = (args.preset, args.batch, args.length, args.obs_dim, args.act_dim,
                       agent.device.type) == ("bench256", 16, 64, 24, 6, "cpu")
    result = {
        "preset": args.preset, "threads": args.threads, "dtype": args.dtype,
        "device": str(agent.device),
        "batch": args.batch, "length": args.length,
        "horizon": config.imag_horizon, "updates": updates,
        "seconds_per_update": round(per_update, 4),
        "updates_per_second": round(1.0 / per_update, 3),
        "cpu_seconds_per_update": round(cpu_per_update, 4),
        "median_seconds_per_update": round(float(np.median(durations)), 4),
        "fastest_seconds_per_update": round(min(durations), 4),
        "env_steps_replayed_per_second": round(args.batch * args.length / per_update, 1),
        "world_model_seconds": round(shares["world_model"], 4),
        "actor_critic_seconds": round(shares["imagine"] + shares["actor_critic"], 4),
        "imagine_seconds": round(shares["imagine"], 4),
        "backward_optimizer_seconds": round(shares["backward"], 4),
        "warmup_seconds": round(warmup_seconds, 2),
        "reference_seconds_per_update": REFERENCE_SECONDS_PER_UPDATE,
        "speedup_vs_reference": (round(REFERENCE_SECONDS_PER_UPDATE / per_update, 2)
                                 if reference_shape else None),
        "load_before": load_before, "load_after": load_average(),
    }
    print(f"preset {args.preset}, {args.threads} thread(s), {args.dtype}, {agent.device}, "
          f"batch {args.batch}x{args.length}, horizon {config.imag_horizon}")
    print(f"  {per_update:.3f} s/update = {1 / per_update:.2f} updates/s, "
          f"{args.batch * args.length / per_update:.0f} replayed env-steps/s ({updates} updates)")
    print(f"  median {np.median(durations):.3f} s/update, fastest {min(durations):.3f} s/update")
    print(f"  process CPU time {cpu_per_update:.3f} s/update (wall minus time spent waiting "
          f"for a core; differs from wall when other processes compete)")
    print(f"  world model fwd {shares['world_model']:.3f} s | imagination "
          f"{shares['imagine']:.3f} s | actor-critic fwd {shares['actor_critic']:.3f} s | "
          f"backward+optimizer (all modules) {shares['backward']:.3f} s")
    print(f"  warm-up ({args.warmup} updates) {warmup_seconds:.1f} s")
    if reference_shape:
        print(f"  reference port {REFERENCE_SECONDS_PER_UPDATE} s/update -> speed-up "
              f"{REFERENCE_SECONDS_PER_UPDATE / per_update:.2f}x")
    print(f"  load: before {load_before}, after {result['load_after']}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
