"""Sampling: windows stay inside one stream's contiguous steps; online windows come exactly once."""

from __future__ import annotations

import numpy as np
import pytest

from offboard.replay import ReplayEmptyError

STREAMS = [(f"robot-{i}", "run") for i in range(3)]


def _check_rows(batch, info, length):
    obs = batch["obs"]
    assert obs.shape[1] == length
    for row, (stream, start) in enumerate(zip(info.streams, info.starts, strict=True)):
        np.testing.assert_array_equal(obs[row, :, 0], np.arange(start, start + length))
        assert set(obs[row, :, 1].tolist()) == {STREAMS.index(stream)}


def test_windows_never_cross_streams_or_gaps(open_replay, make_steps):
    replay = open_replay(chunk_size=8, sequence_length=6, seed=3)
    layout = {0: [(0, 20), (25, 7), (40, 5)], 1: [(100, 13)], 2: [(0, 5)]}  # (first, count)
    for code, pieces in layout.items():
        for first, count in pieces:
            replay.add(STREAMS[code], first, make_steps(first, count, code))
            replay.flush()
    valid = {(STREAMS[0], s) for s in [*range(0, 15), 25, 26]} | {(STREAMS[1], s)
                                                                   for s in range(100, 108)}
    seen = set()
    for _ in range(300):
        batch, info = replay.sample_with_info(8)
        _check_rows(batch, info, 6)
        seen.update(zip(info.streams, info.starts.tolist(), strict=True))
    assert seen == valid  # every valid start is reachable and nothing else


def test_uniform_starts_are_roughly_uniform(open_replay, make_steps):
    replay = open_replay(chunk_size=8, sequence_length=4, seed=1)
    replay.add(STREAMS[0], 0, make_steps(0, 20))
    replay.flush()
    starts = np.concatenate([replay.sample_with_info(50)[1].starts for _ in range(68)])
    counts = np.bincount(starts, minlength=17)
    assert counts.sum() == 3400 and len(counts) == 17
    assert counts.min() > 140 and counts.max() < 260  # expected 200 each


def test_online_queue_yields_each_new_sequence_exactly_once(open_replay, make_steps):
    replay = open_replay(chunk_size=16, sequence_length=5, online_fraction=1.0,
                         online_queue_limit=1000)
    expected = set()
    for round_index in range(6):
        for code in (0, 1):
            first = round_index * 7
            replay.add(STREAMS[code], first, make_steps(first, 7, code))
        replay.flush()
    for code in (0, 1):  # 42 steps per stream: windows start at 0, 5, ..., 35
        expected |= {(STREAMS[code], start) for start in range(0, 36, 5)}
    online = []
    for _ in range(10):
        batch, info = replay.sample_with_info(3)
        _check_rows(batch, info, 5)
        online += [(s, int(p)) for s, p, o in zip(info.streams, info.starts, info.online,
                                                  strict=True) if o]
    assert len(online) == len(set(online)) == len(expected)
    assert set(online) == expected
    assert replay.stats()["online_sampled"] == 16
    assert replay.stats()["online_queue"] == 0


def test_online_fraction_splits_the_batch(open_replay, make_steps):
    replay = open_replay(chunk_size=64, sequence_length=4, online_fraction=0.25)
    replay.add(STREAMS[0], 0, make_steps(0, 64))
    replay.flush()
    _, info = replay.sample_with_info(8)
    assert info.online.tolist() == [True, True, False, False, False, False, False, False]
    np.testing.assert_array_equal(info.starts[:2], [0, 4])


def test_online_windows_evicted_before_sampling_are_dropped_and_counted(open_replay, make_steps):
    replay = open_replay(chunk_size=8, sequence_length=4, online_fraction=1.0, capacity=16)
    for first in range(0, 32, 8):
        replay.add(STREAMS[0], first, make_steps(first, 8))
        replay.flush()
    _, info = replay.sample_with_info(4)
    assert info.starts.tolist() == [16, 20, 24, 28]
    assert replay.stats()["online_dropped_evicted"] == 4


def test_full_online_queue_drops_the_oldest(open_replay, make_steps):
    replay = open_replay(chunk_size=64, sequence_length=4, online_fraction=1.0,
                         online_queue_limit=3)
    replay.add(STREAMS[0], 0, make_steps(0, 20))
    replay.flush()
    assert replay.stats()["online_dropped_full"] == 2
    _, info = replay.sample_with_info(3)
    assert info.starts.tolist() == [8, 12, 16]


def test_sampling_is_seedable(open_replay, make_steps, tmp_path):
    batches = []
    for name in ("one", "two"):
        replay = open_replay(directory=str(tmp_path / name), seed=11, online_fraction=0.5)
        replay.add(STREAMS[0], 0, make_steps(0, 50))
        replay.flush()
        batches.append([replay.sample(4)["obs"] for _ in range(3)])
    for left, right in zip(*batches, strict=True):
        np.testing.assert_array_equal(left, right)


def test_empty_replay_raises(open_replay, make_steps):
    replay = open_replay(sequence_length=8)
    with pytest.raises(ReplayEmptyError):
        replay.sample(2)
    replay.add(STREAMS[0], 0, make_steps(0, 7))
    replay.flush()
    with pytest.raises(ReplayEmptyError, match="8 contiguous"):
        replay.sample(2)
