"""Sample efficiency on DeepMind Control proprio tasks, against DreamerV3's published record.

Each task runs through the real learner pipeline in one process (:class:`offboard.local.LocalRun`:
the dm_control adapter, the persistent replay, the train-ratio limiter, the learner loop), counted
in environment frames with action repeat 2 as DreamerV3's curves are. The score at a milestone is
the mean return of the training episodes that ended in the last ``--window`` frames before it
(DreamerV3 plots training-episode scores); a mode-policy evaluation follows at the end. Writes
``<run-dir>/<task>/`` (the trainer's run folder, ``episodes.jsonl``, ``curve.png``) and prints a
table of ours against the published figures, then one JSON line.

Example (the figure in docs/BENCHMARKS.md: 516 at 100k frames, 87 minutes on one CPU thread)::

    python bench/dmc.py --tasks cartpole_swingup --frames 100000

The defaults are DreamerV3's schedule (batch 16 x 64, train ratio 512) with the small ``debug``
model and a learning rate of 4e-4, the best setting measured on a 2-core CPU; with a GPU,
``--preset size12m --lr 4e-5 --warmup 1000 --device cuda`` runs a 12M model with DreamerV3's
optimizer settings.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import torch

from offboard.checkpoint import CheckpointConfig
from offboard.dreamer.config import PRESETS, DreamerConfig, OptimizerConfig
from offboard.learner_loop import ScheduleConfig
from offboard.local import LocalConfig, LocalRun
from offboard.replay.limiter import LimiterConfig
from offboard.trainer_config import TrainerConfig

#: DreamerV3 (Hafner et al. 2023, proprio DMC, action repeat 2): task -> {frames: score}.
PUBLISHED: dict[str, dict[int, float]] = {
    "cartpole_swingup": {100_000: 528.0, 250_000: 840.0},
    "reacher_easy": {100_000: 693.0, 250_000: 963.0},
    "cheetah_run": {100_000: 283.0, 250_000: 481.0},
    "walker_walk": {100_000: 475.0, 250_000: 890.0},
    "finger_spin": {100_000: 766.0, 250_000: 860.0},
}
ACTION_REPEAT = 2


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", default="cartpole_swingup",
                        help=f"comma-separated, any of {', '.join(PUBLISHED)} (or other dmc tasks)")
    parser.add_argument("--frames", type=int, default=100_000, help="environment frames per task")
    parser.add_argument("--preset", default="debug", choices=sorted(PRESETS))
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--batch-length", type=int, default=64)
    parser.add_argument("--train-ratio", type=float, default=512.0,
                        help="replayed steps per inserted agent step (DreamerV3: 512)")
    parser.add_argument("--lr", type=float, default=4e-4)
    parser.add_argument("--warmup", type=int, default=100, help="learning-rate warm-up updates")
    parser.add_argument("--prefill", type=int, default=2500, help="agent steps before training")
    parser.add_argument("--window", type=int, default=10_000,
                        help="frames of training episodes averaged into a milestone score")
    parser.add_argument("--eval-episodes", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    parser.add_argument("--run-dir", default="runs/bench_dmc")
    args = parser.parse_args(argv)
    if args.frames < 2 * ACTION_REPEAT or args.window <= 0:
        parser.error(f"--frames {args.frames} must be >= {2 * ACTION_REPEAT} and --window "
                     f"{args.window} > 0")
    return args


def local_config(task: str, args: argparse.Namespace) -> LocalConfig:
    """The in-process run of one task (no policy exports: nothing consumes them here)."""
    run_dir = Path(args.run_dir) / task
    learner = DreamerConfig(
        preset=args.preset, batch_size=args.batch_size, batch_length=args.batch_length,
        device=args.device, optimizer=OptimizerConfig(lr=args.lr, warmup=args.warmup))
    trainer = TrainerConfig(
        run_dir=str(run_dir), seed=args.seed, threads=args.threads, learner=learner,
        limiter=LimiterConfig(train_ratio=args.train_ratio, min_inserted=args.prefill),
        schedule=ScheduleConfig(export_every_s=0.0, export_every_updates=0,
                                checkpoint_every_s=600.0),
        checkpoint=CheckpointConfig(directory=""))
    return LocalConfig(env=f"dmc:{task}", env_steps=args.frames // ACTION_REPEAT,
                       action_repeat=ACTION_REPEAT, eval_episodes=args.eval_episodes,
                       trainer=trainer)


def score_at(episodes: list[dict[str, Any]], frames: int, window: int) -> float | None:
    """Mean return of the episodes that ended in ``(frames - window, frames]`` (None if none)."""
    returns = [e["return"] for e in episodes if frames - window < e["frames"] <= frames]
    return sum(returns) / len(returns) if returns else None


def milestones(total: int, window: int) -> list[int]:
    """Every ``window`` frames up to ``total`` plus the published milestones within it."""
    points = set(range(window, total + 1, window)) | {m for m in (100_000, 250_000) if m <= total}
    return sorted(points)


def plot_curve(task: str, curve: list[tuple[int, float | None]], path: Path) -> None:
    """``curve.png``: our milestone scores and DreamerV3's published points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4))
    points = [(f, s) for f, s in curve if s is not None]
    axes.plot([f for f, _ in points], [s for _, s in points], marker="o", label="daydreamer")
    published = PUBLISHED.get(task, {})
    axes.scatter(list(published), list(published.values()), color="k", marker="x",
                 label="DreamerV3 (published)")
    axes.set(xlabel="environment frames", ylabel="episode return", title=f"dmc {task}")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def run_task(task: str, args: argparse.Namespace) -> dict[str, Any]:
    """Train on one task; returns its curve, milestone scores, evaluation and wall-clock."""
    started = time.monotonic()
    run = LocalRun(local_config(task, args))
    summary = run.run()
    episodes = run.episodes  # this run's training episodes (episodes.jsonl also keeps older runs)
    curve = [(m, score_at(episodes, m, args.window)) for m in milestones(args.frames, args.window)]
    plot_curve(task, curve, Path(args.run_dir) / task / "curve.png")
    eval_returns = summary["eval_returns"]
    return {"task": task, "frames": summary["frames"], "updates": summary["updates"],
            "wall_seconds": round(time.monotonic() - started, 1),
            "curve": [[m, None if s is None else round(s, 1)] for m, s in curve],
            "score_final": score_at(episodes, summary["frames"], args.window),
            "published": {str(k): v for k, v in PUBLISHED.get(task, {}).items()},
            "eval_mean": sum(eval_returns) / len(eval_returns) if eval_returns else None,
            "eval_returns": [round(r, 1) for r in eval_returns]}


def print_table(results: list[dict[str, Any]]) -> None:
    """Ours against DreamerV3 at the published milestones."""
    def fmt(value: float | None) -> str:
        return "-" if value is None else f"{value:.0f}"

    print(f"{'task':18} {'frames':>7} {'@100k':>6} {'DV3':>5} {'@250k':>6} {'DV3':>5} "
          f"{'final':>6} {'eval':>6} {'wall':>7}")
    for result in results:
        curve, published = dict(result["curve"]), result["published"]
        print(f"{result['task']:18} {result['frames']:>7} {fmt(curve.get(100_000)):>6} "
              f"{fmt(published.get('100000')):>5} {fmt(curve.get(250_000)):>6} "
              f"{fmt(published.get('250000')):>5} {fmt(result['score_final']):>6} "
              f"{fmt(result['eval_mean']):>6} {result['wall_seconds'] / 60:>6.1f}m")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    results = []
    for task in [t.strip() for t in args.tasks.split(",") if t.strip()]:
        print(f"== {task}: {args.frames} frames, preset {args.preset}, batch "
              f"{args.batch_size}x{args.batch_length}, ratio {args.train_ratio}, lr {args.lr}",
              flush=True)
        results.append(run_task(task, args))
        # each task's figures as soon as it ends: a long multi-task run stopped early keeps them
        print(f"   curve {results[-1]['curve']}; eval {results[-1]['eval_returns']}; "
              f"{results[-1]['wall_seconds'] / 60:.1f} min", flush=True)
    print_table(results)
    settings = {k: v for k, v in vars(args).items() if k != "tasks"}
    print(json.dumps({"results": results, "settings": settings, "cpus": os.cpu_count(),
                      "loadavg1": round(os.getloadavg()[0], 2)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
