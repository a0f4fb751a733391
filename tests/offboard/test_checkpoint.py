"""Atomic checkpoints: round trip, keep K, corrupt latest falls back, weights_only refusal."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from offboard.checkpoint import CheckpointConfig, CheckpointError, CheckpointManager, load_file

torch.set_num_threads(1)


def _state(step: int) -> dict:
    model = torch.nn.Linear(3, 2)
    torch.nn.init.constant_(model.weight, float(step))
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.ones(1, 3)).sum().backward()
    optimizer.step()
    return {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "counters": {"step": step, "inserted": 10 * step}, "name": "walker"}


def _manager(tmp_path, keep: int = 3) -> CheckpointManager:
    return CheckpointManager(CheckpointConfig(directory=str(tmp_path / "ckpt"), keep=keep))


def test_round_trip_and_keep_last_k(tmp_path):
    manager = _manager(tmp_path, keep=2)
    for step in (1, 5, 9):
        manager.save(_state(step), step)
    assert [step for step, _ in manager.checkpoints()] == [5, 9]
    loaded = manager.load_latest()
    assert loaded.step == 9 and loaded.skipped == []
    assert loaded.state["counters"] == {"step": 9, "inserted": 90}
    assert loaded.state["optimizer"]["state"][0]["step"].item() == 1.0
    torch.testing.assert_close(loaded.state["model"]["weight"], _state(9)["model"]["weight"])
    assert not list((tmp_path / "ckpt").glob("*.tmp"))


@pytest.mark.parametrize("damage", ["flip", "truncate", "empty"])
def test_corrupt_latest_falls_back_to_the_previous_with_a_warning(tmp_path, caplog, damage):
    manager = _manager(tmp_path)
    manager.save(_state(1), 1)
    latest = manager.save(_state(2), 2)
    data = bytearray(latest.read_bytes())
    if damage == "flip":
        data[len(data) // 3] ^= 0x10
    elif damage == "truncate":
        data = data[: len(data) - 100]
    else:
        data = bytearray()
    latest.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="offboard.checkpoint"):
        loaded = manager.load_latest()
    assert loaded.step == 1 and loaded.state["counters"]["step"] == 1
    assert [name for name, _ in loaded.skipped] == [latest.name]
    assert manager.corrupt_skipped == 1
    assert latest.name in caplog.text and latest.exists()


def test_no_valid_checkpoint_gives_none(tmp_path):
    manager = _manager(tmp_path)
    assert manager.load_latest() is None
    manager.save(_state(3), 3).write_bytes(b"junk")
    assert manager.load_latest() is None and manager.corrupt_skipped == 1


def test_tmp_leftover_is_removed(tmp_path):
    directory = tmp_path / "ckpt"
    directory.mkdir()
    (directory / "checkpoint-000000000007.pt.tmp").write_bytes(b"half")
    manager = _manager(tmp_path)
    assert manager.tmp_removed == 1 and not list(directory.iterdir())


def test_weights_only_refuses_non_tensor_objects(tmp_path):
    manager = _manager(tmp_path)
    path = manager.save({"array": np.zeros(3)}, 4)
    with pytest.raises(CheckpointError, match=r"torch\.load refused"):
        load_file(path)


@pytest.mark.parametrize("step", [-1, 1.0, True, 10**12])
def test_bad_step_is_refused(tmp_path, step):
    with pytest.raises(CheckpointError):
        _manager(tmp_path).save({}, step)
