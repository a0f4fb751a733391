"""Atomic checkpoint files: save, keep the last K, load the newest valid one.

A checkpoint is a dict the caller builds (model and optimizer ``state_dict()``, normaliser state,
counters): tensors, numbers, strings, lists and dicts only — :func:`torch.load` runs with
``weights_only=True``, so numpy arrays and arbitrary objects are refused on load (convert them to
tensors or lists).

File ``<prefix>-<step, 12 digits>.pt``::

    torch.save zip bytes | b"DDCKPT01" | SHA-256 of the zip bytes (32 bytes)

It is written to ``<name>.tmp``, fsynced, renamed with :func:`os.replace` and the directory fsynced,
so a crash leaves either the previous set of checkpoints or the new one complete. On load the
newest file whose digest matches and that torch can read is returned; each newer file that fails
is logged as a warning, counted and skipped (never deleted, so a person can look at it).
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import torch

from shared.errors import DaydreamerError

LOGGER = logging.getLogger(__name__)
TRAILER_MAGIC = b"DDCKPT01"
_DIGEST = 32
_TMP = ".tmp"


class CheckpointError(DaydreamerError):
    """A checkpoint cannot be written, or a given checkpoint file is invalid."""


@dataclass(frozen=True)
class CheckpointConfig:
    """Where checkpoints go and how many stay."""

    directory: str = "runs/checkpoints"
    """Folder of checkpoint files (created if missing)."""
    keep: int = 3
    """Newest checkpoints kept; older ones are deleted after each successful save."""
    prefix: str = "checkpoint"
    """File name prefix: ``<prefix>-<step>.pt``."""

    def __post_init__(self) -> None:
        if self.keep < 1:
            raise CheckpointError(f"keep must be >= 1, got {self.keep}")
        if not re.fullmatch(r"[A-Za-z0-9_]+", self.prefix):
            raise CheckpointError(f"prefix {self.prefix!r} must be letters, digits or '_'")


@dataclass(frozen=True)
class LoadedCheckpoint:
    """A checkpoint read back.

    Attributes:
        step: the step it was saved under.
        state: the dict that was saved.
        path: its file.
        skipped: newer files that were invalid, as ``(file name, reason)``.
    """

    step: int
    state: dict[str, Any]
    path: Path
    skipped: list[tuple[str, str]]


class _HashingWriter:
    """File wrapper that hashes what torch.save writes through it."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.digest = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        return self.handle.write(data)

    def flush(self) -> None:
        self.handle.flush()


class CheckpointManager:
    """Saves and loads checkpoints in one directory (see the module docstring)."""

    def __init__(self, config: CheckpointConfig) -> None:
        self.config = config
        self.directory = Path(config.directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._pattern = re.compile(rf"{re.escape(config.prefix)}-(\d{{12}})\.pt")
        self.corrupt_skipped = 0
        self.tmp_removed = 0
        for path in self.directory.glob(f"{config.prefix}-*.pt{_TMP}"):
            LOGGER.warning("checkpoint: removing leftover temporary file %s", path.name)
            path.unlink(missing_ok=True)
            self.tmp_removed += 1

    def path_for(self, step: int) -> Path:
        """File of the checkpoint of ``step``."""
        return self.directory / f"{self.config.prefix}-{step:012d}.pt"

    def checkpoints(self) -> list[tuple[int, Path]]:
        """Existing checkpoint files as ``(step, path)``, oldest first."""
        found = []
        for path in self.directory.iterdir():
            match = self._pattern.fullmatch(path.name)
            if match:
                found.append((int(match.group(1)), path))
        return sorted(found)

    def save(self, state: Mapping[str, Any], step: int) -> Path:
        """Write ``state`` atomically as the checkpoint of ``step``; prune to ``keep`` files."""
        if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step < 10**12:
            raise CheckpointError(f"step must be an int in [0, 1e12), got {step!r}")
        path = self.path_for(step)
        tmp = path.with_name(path.name + _TMP)
        try:
            with open(tmp, "wb") as handle:
                writer = _HashingWriter(handle)
                torch.save(dict(state), writer)
                handle.write(TRAILER_MAGIC + writer.digest.digest())
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
            _fsync_directory(self.directory)
        except OSError as error:
            tmp.unlink(missing_ok=True)
            raise CheckpointError(f"cannot write checkpoint {path}: {error}") from error
        for _, old in self.checkpoints()[:-self.config.keep]:
            old.unlink(missing_ok=True)
        return path

    def load_latest(self) -> LoadedCheckpoint | None:
        """The newest valid checkpoint, or None when there is none at all."""
        skipped: list[tuple[str, str]] = []
        for step, path in reversed(self.checkpoints()):
            try:
                state = load_file(path)
            except CheckpointError as error:
                LOGGER.warning("checkpoint: %s is unusable (%s); falling back to an older one",
                               path.name, error)
                self.corrupt_skipped += 1
                skipped.append((path.name, str(error)))
                continue
            return LoadedCheckpoint(step, state, path, skipped)
        if skipped:
            LOGGER.warning("checkpoint: no valid checkpoint in %s", self.directory)
        return None


def load_file(path: Path) -> dict[str, Any]:
    """Verify and read one checkpoint file (tensors on the CPU).

    Raises:
        CheckpointError: unreadable, truncated, digest mismatch, or refused by ``weights_only``.
    """
    try:
        data = path.read_bytes()
    except OSError as error:
        raise CheckpointError(f"{path}: cannot read: {error}") from error
    trailer = len(TRAILER_MAGIC) + _DIGEST
    if len(data) < trailer or data[-trailer:-_DIGEST] != TRAILER_MAGIC:
        raise CheckpointError(f"{path}: torn or truncated ({len(data)} bytes, no trailer)")
    payload = memoryview(data)[:-trailer]
    if hashlib.sha256(payload).digest() != data[-_DIGEST:]:
        raise CheckpointError(f"{path}: checksum mismatch ({len(data)} bytes)")
    try:
        state = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many kinds here; all mean "unusable"
        raise CheckpointError(f"{path}: torch.load refused it: {error}") from error
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: holds a {type(state).__name__}, not a dict")
    return state


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
