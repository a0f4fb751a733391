"""Replay store: durability, duplicates, gaps, restart, FIFO eviction, bad input."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from offboard.replay import (
    Column,
    Replay,
    ReplayConfig,
    ReplayEmptyError,
    ReplayError,
    ReplayInputError,
    schema_from_spec,
)
from shared.spec import EnvSpec, Space

A = ("robot-a", "run-1")
B = ("robot-b", "run-1")


def test_steps_become_durable_and_visible_only_after_flush(open_replay, make_steps):
    replay = open_replay()
    result = replay.add(A, 0, make_steps(0, 10))
    assert (result.accepted, result.duplicates, result.gap, result.durable_seq) == (10, 0, 0, -1)
    assert replay.durable_seq(A) == -1
    assert len(replay.sequences(A)) == 0
    with pytest.raises(ReplayEmptyError):
        replay.sample(2)
    assert replay.flush() == {A: 9}
    assert replay.durable_seq(A) == 9
    np.testing.assert_array_equal(replay.sequences(A), np.arange(10))
    assert replay.sample(2)["obs"].shape == (2, 4, 3)


def test_duplicates_are_dropped_counted_and_never_overwrite(open_replay, make_steps):
    replay = open_replay()
    replay.add(A, 0, make_steps(0, 10))
    again = make_steps(5, 10)
    again["reward"][:] = -1.0  # a re-sent step that differs must not replace the stored one
    result = replay.add(A, 5, again)
    assert (result.accepted, result.duplicates) == (5, 5)
    assert replay.add(A, 0, make_steps(0, 3)).duplicates == 3
    replay.flush()
    assert replay.counters.duplicates == 8
    np.testing.assert_array_equal(replay.sequences(A), np.arange(15))
    rewards = replay.read(A, 0, 15)["reward"]
    np.testing.assert_array_equal(rewards[:10], make_steps(0, 10)["reward"])
    np.testing.assert_array_equal(rewards[10:], -1.0)


def test_a_gap_is_counted_recorded_and_closes_the_chunk(open_replay, make_steps):
    replay = open_replay()
    replay.add(A, 0, make_steps(0, 6))
    result = replay.add(A, 10, make_steps(10, 6))
    replay.flush()
    assert result.gap == 4
    assert (replay.counters.gaps, replay.counters.gap_steps) == (1, 4)
    assert list(replay.gaps) == [(A, 6, 10)]
    np.testing.assert_array_equal(replay.sequences(A), [*range(6), *range(10, 16)])
    assert sorted(p.suffix for p in replay.directory.iterdir()) == [".chunk", ".segment"]


def test_streams_are_independent(open_replay, make_steps):
    replay = open_replay()
    replay.add(A, 0, make_steps(0, 20, 1))
    replay.add(B, 500, make_steps(500, 3, 2))
    assert replay.flush() == {A: 19, B: 502}
    assert replay.read(B, 500, 3)["obs"][:, 1].tolist() == [2, 2, 2]


@pytest.mark.parametrize("threads", [1, 4])
def test_full_chunk_replaces_its_segments(open_replay, make_steps, threads):
    replay = open_replay(chunk_size=16, write_threads=threads)
    for start in range(0, 16, 4):
        replay.add(A, start, make_steps(start, 4))
        replay.flush()
    names = sorted(p.name for p in replay.directory.iterdir())
    assert len(names) == 1 and names[0].endswith(".chunk")
    assert replay.counters.files_written == 4


def test_restart_reloads_everything_and_resumes_durable_seq(open_replay, make_steps):
    replay = open_replay(chunk_size=16)
    replay.add(A, 0, make_steps(0, 40, 1))
    replay.add(B, 7, make_steps(7, 5, 2))
    replay.flush()
    replay.add(A, 40, make_steps(40, 3, 1))  # never flushed: lost, robot re-sends it
    del replay
    again = open_replay(chunk_size=16)
    assert (again.durable_seq(A), again.durable_seq(B)) == (39, 11)
    assert again.load_report.segments_compacted == 2  # A 32..39 and B 7..11 were open
    assert not list(again.directory.glob("*.segment"))
    np.testing.assert_array_equal(again.sequences(A), np.arange(40))
    np.testing.assert_array_equal(again.read(A, 0, 40)["obs"], make_steps(0, 40, 1)["obs"])
    result = again.add(A, 30, make_steps(30, 15, 1))
    assert (result.duplicates, result.accepted) == (10, 5)
    again.flush()
    np.testing.assert_array_equal(again.sequences(A), np.arange(45))
    window = again.read(A, 36, 8)["obs"][:, 0]  # crosses the restart's chunk boundary
    np.testing.assert_array_equal(window, np.arange(36, 44))


def test_fifo_eviction_deletes_whole_oldest_chunks(open_replay, make_steps):
    replay = open_replay(chunk_size=16, capacity=40)
    for start in range(0, 80, 8):
        replay.add(A, start, make_steps(start, 8))
        replay.flush()
    assert replay.stored_steps <= 40
    assert replay.counters.evicted_chunks == 3
    assert replay.counters.evicted_steps == 48
    np.testing.assert_array_equal(replay.sequences(A), np.arange(48, 80))
    chunk_files = sorted(p.name for p in replay.directory.glob("*.chunk"))
    assert [int(name.split("-")[1].split(".")[0]) for name in chunk_files] == [48, 64]


def test_eviction_watermark_survives_restart(open_replay, make_steps):
    replay = open_replay(chunk_size=16, capacity=20)
    replay.add(A, 0, make_steps(0, 16))
    replay.flush()
    replay.add(B, 0, make_steps(0, 16))
    replay.flush()  # A's only chunk is evicted
    assert len(replay.sequences(A)) == 0
    again = open_replay(chunk_size=16, capacity=20)
    assert again.durable_seq(A) == 15
    assert again.add(A, 10, make_steps(10, 6)).duplicates == 6


def test_bad_input_raises_and_stores_nothing(open_replay, make_steps):
    replay = open_replay()
    replay.add(A, 0, make_steps(0, 2))
    bad_shape = make_steps(2, 2)
    bad_shape["obs"] = np.zeros((2, 4), np.float32)
    missing = make_steps(2, 2)
    del missing["reward"]
    bad_dtype = make_steps(2, 2)
    bad_dtype["policy_version"] = np.zeros(2, np.float32)
    ragged = make_steps(2, 2)
    ragged["reward"] = np.zeros(3, np.float32)
    for steps, message in ((bad_shape, "shape"), (missing, "missing"), (bad_dtype, "dtype"),
                           (ragged, "lengths")):
        with pytest.raises(ReplayInputError, match=message):
            replay.add(A, 2, steps)
    for stream, seq in (("robot", 0), (("", "x"), 0), (A, -1), (A, 1.5)):
        with pytest.raises(ReplayInputError):
            replay.add(stream, seq, make_steps(2, 2))
    replay.flush()
    assert replay.durable_seq(A) == 1
    assert replay.counters.inserted == 2


def test_float64_input_is_cast_to_the_column_dtype(open_replay, make_steps):
    replay = open_replay()
    replay.add(A, 0, make_steps(0, 2))
    steps = make_steps(2, 2)
    steps["obs"] = steps["obs"].astype(np.float64)
    replay.add(A, 2, steps)
    replay.flush()
    assert replay.read(A, 0, 4)["obs"].dtype == np.float32


def test_first_add_with_an_unsupported_dtype_or_nothing_is_refused(open_replay, make_steps):
    replay = open_replay()
    with pytest.raises(ReplayInputError, match="dtype"):
        replay.add(A, 0, {"name": np.array(["a", "b"])})
    with pytest.raises(ReplayInputError, match="non-empty"):
        replay.add(A, 0, {})
    assert replay.schema is None
    replay.add(A, 0, make_steps(0, 3))
    with pytest.raises(ReplayError, match="batch_size"):
        replay.sample(0)


def test_schema_from_spec_holds_observation_action_and_policy_version(tmp_path):
    spec = EnvSpec.create({"obs": Space(np.float32, (3,)), "log/temperature": Space(np.float32)},
                          {"action": Space(np.float32, (2,), -1, 1)})
    schema = schema_from_spec(spec)
    assert sorted(schema) == ["action", "is_first", "is_last", "is_terminal", "log/temperature",
                              "obs", "policy_version", "reward"]
    assert schema["policy_version"] == Column(np.dtype(np.int64), ())
    replay = Replay(ReplayConfig(directory=str(tmp_path / "r")), spec.hash, schema)
    steps = {key: np.zeros((2, *c.shape), c.dtype) for key, c in schema.items()}
    assert replay.add(A, 0, steps).accepted == 2
    replay.flush()
    again = Replay(ReplayConfig(directory=str(tmp_path / "r")), spec.hash, schema)
    assert again.durable_seq(A) == 1 and again.load_report.mismatched == []


def test_concurrent_add_flush_and_sample_stay_consistent(open_replay, make_steps):
    replay = open_replay(chunk_size=32, sequence_length=8, online_fraction=0.5)
    streams = [(f"robot-{code}", "run") for code in range(3)]
    for code, stream in enumerate(streams):
        replay.add(stream, 0, make_steps(0, 8, code))
    replay.flush()
    failures: list[str] = []
    stop = threading.Event()

    def sampler() -> None:
        while not stop.is_set():
            batch, info = replay.sample_with_info(4)
            for row, start in enumerate(info.starts):
                if not np.array_equal(batch["obs"][row, :, 0], np.arange(start, start + 8)):
                    failures.append(f"row {row} start {start}")

    thread = threading.Thread(target=sampler)
    thread.start()
    try:
        for start in range(8, 400, 7):
            for code, stream in enumerate(streams):
                replay.add(stream, start, make_steps(start, 7, code))
            replay.flush()
    finally:
        stop.set()
        thread.join(timeout=30)
    assert failures == []
    for stream in streams:
        np.testing.assert_array_equal(replay.sequences(stream), np.arange(400))


def test_the_replay_does_not_import_torch():
    import subprocess
    import sys
    from pathlib import Path

    code = "import sys, offboard.replay; assert 'torch' not in sys.modules, 'torch imported'"
    root = Path(__file__).resolve().parents[3]
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60,
                   env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"})


def test_streams_whose_joined_names_agree_get_different_files(open_replay, make_steps):
    replay = open_replay()
    replay.add(("a\0b", "c"), 0, make_steps(0, 3, 1))
    replay.add(("a", "b\0c"), 0, make_steps(0, 3, 2))
    replay.flush()
    assert len(list(replay.directory.glob("*.segment"))) == 2
    again = open_replay()
    assert again.read(("a\0b", "c"), 0, 3)["obs"][:, 1].tolist() == [1, 1, 1]
    assert again.read(("a", "b\0c"), 0, 3)["obs"][:, 1].tolist() == [2, 2, 2]


def test_a_streams_files_are_made_durable_in_sequence_order(open_replay, make_steps,
                                                             monkeypatch) -> None:
    """A flush that seals a chunk also writes the next segment: the chunk (earlier steps) must be
    renamed and its folder fsynced before the segment (later steps) appears, or a crash between
    them leaves a hole in front of stored steps."""
    from offboard.replay import chunkfile

    replay = open_replay(chunk_size=8, write_threads=4)
    stream = ("robot", "run")
    replay.add(stream, 0, make_steps(0, 5))
    replay.flush()
    events: list[tuple[str, int]] = []
    real_write, real_fsync = chunkfile.write_file, chunkfile.fsync_directory
    monkeypatch.setattr(chunkfile, "write_file", lambda path, header, columns: (
        events.append(("write", header.first_seq)), real_write(path, header, columns))[-1])
    monkeypatch.setattr(chunkfile, "fsync_directory", lambda directory: (
        events.append(("fsync", -1)), real_fsync(directory))[-1])
    replay.add(stream, 5, make_steps(5, 6))  # fills the chunk [0, 8) and starts [8, 11)
    replay.add(("other", "run"), 0, make_steps(0, 3, 1))
    replay.flush()
    mine = [e for e in events if e[0] == "fsync" or e[1] in (0, 8)]
    first_chunk, next_segment = mine.index(("write", 0)), mine.index(("write", 8))
    assert first_chunk < next_segment
    assert ("fsync", -1) in mine[first_chunk:next_segment]
    assert list(replay.sequences(stream)) == list(range(11))
