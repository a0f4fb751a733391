"""Start-up: torn, corrupt, leftover and mismatched files are reported and skipped, never loaded."""

from __future__ import annotations

import logging
import os

import numpy as np

A = ("robot-a", "run-1")


def _fill(open_replay, make_steps, steps: int = 48, open_steps: int = 5):
    replay = open_replay(chunk_size=16)
    replay.add(A, 0, make_steps(0, steps))
    replay.flush()
    if open_steps:
        replay.add(A, steps, make_steps(steps, open_steps))
        replay.flush()
    return replay.directory


def _chunk(directory, first_seq: int):
    (path,) = [p for p in directory.glob("*.chunk") if p.name.endswith(f"{first_seq:020d}.chunk")]
    return path


def test_flipped_byte_chunk_is_skipped_reported_and_quarantined(open_replay, make_steps, caplog):
    directory = _fill(open_replay, make_steps)
    damaged = _chunk(directory, 16)
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0x40
    damaged.write_bytes(bytes(data))
    with caplog.at_level(logging.ERROR, logger="offboard.replay.loader"):
        replay = open_replay(chunk_size=16)
    report = replay.load_report
    assert [name for name, _ in report.corrupt] == [damaged.name]
    assert "checksum" in report.corrupt[0][1]
    assert replay.counters.corrupt_files == 1
    assert damaged.name in caplog.text
    assert (directory / "corrupt" / damaged.name).exists() and not damaged.exists()
    assert report.holes == [(A, 16, 32)]
    np.testing.assert_array_equal(replay.sequences(A), [*range(16), *range(32, 53)])
    np.testing.assert_array_equal(replay.read(A, 32, 21)["obs"], make_steps(32, 21)["obs"])
    assert replay.durable_seq(A) == 52
    again = open_replay(chunk_size=16)  # reported once: the file is out of the way
    assert again.load_report.corrupt == []


def test_truncated_segment_is_skipped(open_replay, make_steps):
    directory = _fill(open_replay, make_steps)
    (segment,) = directory.glob("*.segment")
    os.truncate(segment, segment.stat().st_size - 7)
    replay = open_replay(chunk_size=16)
    assert [name for name, _ in replay.load_report.corrupt] == [segment.name]
    np.testing.assert_array_equal(replay.sequences(A), np.arange(48))


def test_tmp_leftovers_are_removed_and_counted(open_replay, make_steps):
    directory = _fill(open_replay, make_steps)
    (directory / (_chunk(directory, 0).name + ".tmp")).write_bytes(b"half a chunk")
    (directory / "evicted.json.tmp").write_bytes(b"{")
    replay = open_replay(chunk_size=16)
    assert replay.load_report.tmp_removed == 2
    assert replay.counters.tmp_removed == 2
    assert not list(directory.glob("*.tmp"))
    np.testing.assert_array_equal(replay.sequences(A), np.arange(53))


def test_segments_left_behind_by_a_compaction_are_removed(open_replay, make_steps):
    replay = open_replay(chunk_size=16)
    replay.add(A, 0, make_steps(0, 8))
    replay.flush()
    (segment,) = replay.directory.glob("*.segment")
    kept = segment.read_bytes()
    replay.add(A, 8, make_steps(8, 8))
    replay.flush()  # chunk 0..15 written, segments deleted
    segment.write_bytes(kept)  # as if the crash came between the rename and the unlink
    again = open_replay(chunk_size=16)
    assert again.load_report.stale_segments_removed == 1
    assert not segment.exists()
    np.testing.assert_array_equal(again.sequences(A), np.arange(16))


def test_a_renamed_file_is_corrupt(open_replay, make_steps):
    directory = _fill(open_replay, make_steps, open_steps=0)
    chunk = _chunk(directory, 16)
    chunk.rename(chunk.with_name(chunk.name.replace("016.chunk", "017.chunk")))
    replay = open_replay(chunk_size=16)
    assert "does not match" in replay.load_report.corrupt[0][1]
    np.testing.assert_array_equal(replay.sequences(A), [*range(16), *range(32, 48)])


def test_files_of_another_spec_are_skipped_and_left_alone(open_replay, make_steps, tmp_path):
    _fill(open_replay, make_steps, open_steps=0)
    from offboard.replay import Replay, ReplayConfig

    other = Replay(ReplayConfig(directory=str(tmp_path / "replay"), chunk_size=16),
                   spec_hash="spec-b")
    assert len(other.load_report.mismatched) == 3
    assert other.counters.mismatched_files == 3
    assert other.sequences(A).size == 0
    assert len(list((tmp_path / "replay").glob("*.chunk"))) == 3
