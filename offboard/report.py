"""What a run shows a person: learning curve, world-model open-loop predictions, evaluation.

- :func:`episodes_from_replay`: every episode each robot streamed, with its return and the
  policy version that acted, read back from the trainer's replay;
- :func:`plot_learning_curve`: ``learning_curve.png``, return per episode over robot steps;
- :func:`open_loop_gif`: ``open_loop.gif``, the picture DreamerV3 users look at to trust a world
  model — the model sees ``context`` real steps, then predicts the rest from the recorded actions
  alone; real and predicted observations side by side (image keys as frames, vector keys as
  curves with a moving cursor);
- :func:`evaluate`: the last policy against the random policy on the same seeds, through
  ``daydreamer-onboard`` on the in-process simulation.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from offboard.trainer import load_run_spec


@dataclass(frozen=True)
class Episode:
    """One episode of one robot."""

    robot: str
    start_seq: int
    length: int
    episode_return: float
    policy_version: int


def _open_replay(trainer_dir: Path) -> Any:
    from offboard.replay.config import ReplayConfig
    from offboard.replay.store import Replay

    spec = load_run_spec(trainer_dir)
    if spec is None:
        raise FileNotFoundError(f"{trainer_dir} holds no spec.json: not a trainer run folder")
    return Replay(ReplayConfig(directory=str(trainer_dir / "replay")), spec.hash), spec


def episodes_from_replay(trainer_dir: Path) -> list[Episode]:
    """Episodes of every stream, in stream then sequence order (complete episodes only)."""
    replay, _ = _open_replay(trainer_dir)
    episodes = []
    try:
        for stream in replay.streams():
            seqs = replay.sequences(stream)
            if not len(seqs):
                continue
            steps = replay.read(stream, int(seqs[0]), len(seqs))
            starts = np.flatnonzero(steps["is_first"])
            lasts = np.flatnonzero(steps["is_last"])
            for start in starts:
                ends = lasts[lasts >= start]
                if not len(ends):
                    break
                end = int(ends[0])
                episodes.append(Episode(stream[0], int(seqs[start]), int(end - start + 1),
                                        float(steps["reward"][start:end + 1].sum()),
                                        int(steps["policy_version"][start])))
    finally:
        replay.close()
    return episodes


def plot_learning_curve(episodes: list[Episode], path: Path, title: str) -> Path:
    """Return per episode over each robot's steps, coloured by the policy version that acted."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axis = pyplot.subplots(figsize=(8, 4.5), dpi=100)
    for robot in sorted({e.robot for e in episodes}):
        mine = [e for e in episodes if e.robot == robot]
        x = [e.start_seq + e.length for e in mine]
        y = [e.episode_return for e in mine]
        points = axis.scatter(x, y, c=[e.policy_version for e in mine], cmap="viridis", s=18)
        axis.plot(x, y, alpha=0.4, label=robot)
    if episodes:
        figure.colorbar(points, ax=axis, label="policy version (0: random prefill)")
    axis.set(xlabel="robot steps", ylabel="episode return", title=title)
    axis.grid(alpha=0.3)
    axis.legend(loc="upper left")
    figure.tight_layout()
    figure.savefig(path)
    pyplot.close(figure)
    return path


def open_loop_predictions(trainer_dir: Path, context: int = 16, length: int = 64,
                          ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Real and predicted observations ``{key: (length, *shape)}`` of the newest window.

    The first ``context`` steps are filtered with the real observations (posterior); the rest
    are imagined from the recorded actions only (prior), as DreamerV3's report does.
    """
    import torch

    from offboard.agent import Agent
    from offboard.checkpoint import CheckpointConfig, CheckpointManager
    from offboard.dreamer.distributions import one_hot
    from offboard.trainer_config import TrainerConfig
    from shared.config import load_config

    config = load_config(TrainerConfig, trainer_dir / "config.toml")
    replay, spec = _open_replay(trainer_dir)
    try:
        stream = max(replay.streams(), key=lambda s: len(replay.sequences(s)))
        seqs = replay.sequences(stream)
        start = int(seqs[-1]) - length + 1
        steps = replay.read(stream, start, length)
    finally:
        replay.close()
    agent = Agent(spec, config.learner)
    loaded = CheckpointManager(CheckpointConfig(directory=config.checkpoint.directory)
                               ).load_latest()
    if loaded is None:
        raise FileNotFoundError(f"no checkpoint in {config.checkpoint.directory}")
    agent.load_state_dict(loaded.state["agent"])
    model = agent.world_model.eval()
    batch = agent.prepare({k: v[None] for k, v in steps.items()})
    with torch.no_grad():
        obs = {k: batch[k][:, :context] for k in agent.obs_keys}
        states = model.rssm.observe(model.encoder(obs), batch["prev_action"][:, :context],
                                    batch["is_first"][:, :context],
                                    model.rssm.initial(1, batch["prev_action"].device))
        deter, index = states["deter"][:, -1], states["stoch"][:, -1].argmax(-1)
        feats = [model.feat(states["deter"], states["stoch"])]
        for t in range(context, length):
            deter, index = model.rssm.imagine_step(deter, index, batch["prev_action"][:, t])
            stoch = one_hot(index, model.rssm.classes).to(deter.dtype)
            feats.append(model.feat(deter, stoch)[:, None])
        predicted = model.decoder.predict(torch.cat(feats, 1).float())
    real = {k: np.asarray(steps[k]) for k in agent.obs_keys}
    return real, {k: v[0].cpu().numpy() for k, v in predicted.items()}


def open_loop_gif(trainer_dir: Path, path: Path, context: int = 16, length: int = 64) -> Path:
    """Write the open-loop comparison as an animated GIF (see the module docstring)."""
    import imageio.v2 as imageio

    real, predicted = open_loop_predictions(trainer_dir, context, length)
    frames = [_frame(real, predicted, t, context) for t in range(length)]
    imageio.mimsave(path, frames, duration=0.1, loop=0)
    return path


def _frame(real: dict[str, np.ndarray], predicted: dict[str, np.ndarray], t: int,
           context: int) -> np.ndarray:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    keys = sorted(real)
    figure, axes = pyplot.subplots(len(keys), 1, figsize=(6, 2.6 * len(keys)), dpi=72,
                                   squeeze=False)
    for axis, key in zip(axes[:, 0], keys, strict=True):
        if real[key].ndim == 4:  # images: real | predicted
            axis.imshow(np.concatenate([real[key][t], predicted[key][t]], axis=1))
            axis.set_axis_off()
        else:
            flat_real = real[key].reshape(len(real[key]), -1)
            flat_pred = predicted[key].reshape(len(predicted[key]), -1)
            for dim in range(flat_real.shape[1]):
                line = axis.plot(flat_real[:, dim], lw=1.5)[0]
                axis.plot(flat_pred[:, dim], "--", color=line.get_color(), lw=1.2)
            axis.axvline(t, color="k", lw=0.8)
            axis.axvspan(0, context - 1, color="grey", alpha=0.15)
        axis.set_title(f"{key}: real (solid) vs model (dashed); grey = observed, then open loop"
                       if real[key].ndim != 4 else f"{key}: real | model (open loop after "
                       f"step {context})", fontsize=8)
    figure.tight_layout()
    figure.canvas.draw()
    image = np.asarray(figure.canvas.buffer_rgba())[..., :3].copy()
    pyplot.close(figure)
    return image


def evaluate(policy: Path | None, task: str, episodes: int, seed: int, keys_dir: Path,
             out: Path) -> list[float]:
    """Episode returns of ``policy`` (None: random actions) on the in-process simulated task."""
    args = [sys.executable, "-m", "onboard.cli", "--set", "robot.kind=sim",
            "--set", f"robot.task={task}", "--set", f"robot.seed={seed}",
            "--set", "offline=true", "--set", "runtime.hz=1000",
            "--set", f"max_episodes={episodes}", "--set", f"summary={out}",
            "--set", f"link.keys_dir={keys_dir}",
            "--set", f"link.spool_dir={out.with_suffix('')}-state"]
    if policy is None:
        args += ["--set", "runtime.mode=random"]
    else:
        args += ["--set", "runtime.mode=sample", "--set", f"policy={policy}"]
    subprocess.run(args, check=True, capture_output=True, text=True, timeout=3600)
    return [float(r) for r in json.loads(out.read_text())["returns"]][:episodes]


def write_report(run: Path, task: str, eval_episodes: int) -> dict[str, Any]:
    """All of the above for a demo run folder; prints the evaluation table; returns figures."""
    trainer_dir = run / "trainer"
    episodes = episodes_from_replay(trainer_dir)
    (run / "episodes.json").write_text(json.dumps([vars(e) for e in episodes]))
    plot_learning_curve(episodes, run / "learning_curve.png", f"{task}: return per episode")
    report: dict[str, Any] = {"episodes": len(episodes), "learning_curve": str(
        run / "learning_curve.png")}
    try:
        report["open_loop"] = str(open_loop_gif(trainer_dir, run / "open_loop.gif"))
    except FileNotFoundError as error:
        report["open_loop"] = f"skipped: {error}"
    policies = sorted((trainer_dir / "policies").glob("policy-*.onnx"))
    if eval_episodes and policies:
        keys = next((run / "keys").glob("robot-*"))
        learned = evaluate(policies[-1], task, eval_episodes, 1000, keys, run / "eval_policy.json")
        random = evaluate(None, task, eval_episodes, 1000, keys, run / "eval_random.json")
        print(f"\nevaluation on {eval_episodes} episodes, seeds from 1000 "
              f"({policies[-1].name} vs random actions)")
        print(f"{'episode':>8} {'policy':>10} {'random':>10}")
        for index, (a, b) in enumerate(zip(learned, random, strict=False)):
            print(f"{index:>8} {a:>10.1f} {b:>10.1f}")
        print(f"{'mean':>8} {np.mean(learned):>10.1f} {np.mean(random):>10.1f}")
        report.update(eval_policy=learned, eval_random=random, policy=policies[-1].name)
    (run / "report.json").write_text(json.dumps(report, indent=1))
    return report
