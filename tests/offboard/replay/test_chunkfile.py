"""Chunk file format: round trip, and every kind of damage is detected."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from offboard.replay.chunkfile import ChunkHeader, read_file, write_file
from offboard.replay.errors import ChunkFileError


def _write(tmp_path: Path, make_steps) -> tuple[Path, dict[str, np.ndarray]]:
    columns = make_steps(100, 10)
    path = tmp_path / "a.chunk"
    write_file(path, ChunkHeader("chunk", "robot", "run", 100, 10, 7, "hash"), columns)
    return path, columns


def test_round_trip_keeps_header_values_dtypes_and_leaves_no_tmp(tmp_path, make_steps):
    path, columns = _write(tmp_path, make_steps)
    header, loaded = read_file(path)
    assert header == ChunkHeader("chunk", "robot", "run", 100, 10, 7, "hash")
    assert list(loaded) == list(columns)
    for key, array in columns.items():
        assert loaded[key].dtype == array.dtype
        np.testing.assert_array_equal(loaded[key], array)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.chunk"]


@pytest.mark.parametrize("where", [0, 10, 40, 0.5, -1, -40])
def test_a_flipped_byte_anywhere_is_detected(tmp_path, make_steps, where):
    path, _ = _write(tmp_path, make_steps)
    data = bytearray(path.read_bytes())
    index = int(len(data) * where) if isinstance(where, float) else where
    data[index] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ChunkFileError):
        read_file(path)


@pytest.mark.parametrize("keep", [0, 5, 13, 200, -1])
def test_a_truncated_file_is_detected(tmp_path, make_steps, keep):
    path, _ = _write(tmp_path, make_steps)
    data = path.read_bytes()
    path.write_bytes(data[:keep])
    with pytest.raises(ChunkFileError, match=r"truncated|checksum|magic"):
        read_file(path)


def test_columns_must_hold_count_steps(tmp_path, make_steps):
    with pytest.raises(ChunkFileError, match="first dimension 5"):
        write_file(tmp_path / "b.chunk", ChunkHeader("chunk", "r", "u", 0, 5, 0, ""),
                   make_steps(0, 6))
    assert not list(tmp_path.iterdir())
