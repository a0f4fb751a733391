"""The run report: episodes from the replay, learning curve, open-loop predictions."""

from __future__ import annotations

from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import pytest

from offboard.local import LocalConfig, LocalRun
from offboard.report import (
    episodes_from_replay,
    open_loop_gif,
    open_loop_predictions,
    plot_learning_curve,
)
from shared.config import load_config


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("run")
    config = load_config(LocalConfig, None, [
        "env=gym:Pendulum-v1", "env_steps=420", f"trainer.run_dir={folder}",
        "trainer.learner.preset=debug", "trainer.learner.batch_size=2",
        "trainer.learner.batch_length=16", "trainer.limiter.min_inserted=200",
        "trainer.limiter.train_ratio=8", "eval_episodes=0", "trainer.schedule.export_every_s=0"])
    LocalRun(config).run()
    return folder


def test_episodes_and_curve(run_dir: Path) -> None:
    episodes = episodes_from_replay(run_dir)
    assert [e.length for e in episodes] == [201, 201]  # two complete 200-step episodes
    assert all(e.episode_return < 0 for e in episodes)  # pendulum rewards are costs
    assert episodes[1].start_seq == 201
    path = plot_learning_curve(episodes, run_dir / "curve.png", "pendulum")
    image = imageio.imread(path)
    assert image.shape[0] > 200 and image.std() > 10


def test_open_loop(run_dir: Path) -> None:
    real, predicted = open_loop_predictions(run_dir, context=4, length=12)
    assert real["vector"].shape == predicted["vector"].shape == (12, 3)
    assert np.isfinite(predicted["vector"]).all()
    gif = open_loop_gif(run_dir, run_dir / "open_loop.gif", context=4, length=6)
    frames = imageio.mimread(gif)
    assert len(frames) == 6 and frames[0].ndim == 3
    assert not np.array_equal(frames[0], frames[-1])  # the cursor moves
