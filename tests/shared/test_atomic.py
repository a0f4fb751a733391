"""Atomic writes replace a file whole and leave no temporary behind."""

from __future__ import annotations

from pathlib import Path

from shared.atomic import atomic_write


def test_atomic_write_replaces_and_cleans_up(tmp_path: Path) -> None:
    target = tmp_path / "a.json"
    atomic_write(target, "old")
    atomic_write(target, b"new bytes")
    assert target.read_bytes() == b"new bytes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]
