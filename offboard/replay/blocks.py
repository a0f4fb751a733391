"""In-memory chunks (blocks) of one stream, file naming, and window reads across blocks.

A *stream* is ``(robot_id, run_id)``; its steps are numbered by a per-stream sequence number.
A :class:`Block` is the in-memory twin of one chunk: consecutive steps ``first_seq ..
first_seq + filled - 1`` of one stream, never containing a gap. Only its first ``durable`` steps
are on disk (as segment files, or as the sealed chunk file) and only those are ever sampled.
"""

from __future__ import annotations

import bisect
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from offboard.replay.schema import Schema

StreamId = tuple[str, str]
CHUNK_SUFFIX = ".chunk"
SEGMENT_SUFFIX = ".segment"


def stream_tag(stream: StreamId) -> str:
    """Filesystem-safe 16-hex-digit tag of a stream (the full id is in every file header)."""
    encoded = json.dumps(list(stream), ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(encoded.encode("ascii")).hexdigest()[:16]


def file_name(stream: StreamId, first_seq: int, kind: str) -> str:
    """``<tag>-<first_seq, 20 digits>.chunk`` or ``.segment``."""
    suffix = CHUNK_SUFFIX if kind == "chunk" else SEGMENT_SUFFIX
    return f"{stream_tag(stream)}-{first_seq:020d}{suffix}"


@dataclass(eq=False)
class Block:
    """Consecutive steps of one stream held in memory.

    Attributes:
        stream: the stream the steps belong to.
        first_seq: sequence number of row 0.
        columns: arrays of shape ``(rows, ...)``, ``rows >= filled``.
        ordinal: global creation order (FIFO eviction order).
        filled: rows accepted so far.
        durable: rows on disk (``<= filled``); only these are visible to sampling.
        sealed: no more rows will be appended (full, or closed by a gap or a restart).
        written: the sealed chunk file is on disk (segments no longer needed).
        segments: segment files holding the durable rows until the chunk file is written.
    """

    stream: StreamId
    first_seq: int
    columns: dict[str, np.ndarray]
    ordinal: int
    filled: int = 0
    durable: int = 0
    sealed: bool = False
    written: bool = False
    segments: list[Path] = field(default_factory=list)

    @property
    def end_seq(self) -> int:
        """One past the last accepted sequence number."""
        return self.first_seq + self.filled

    @property
    def durable_end(self) -> int:
        """One past the last durable sequence number."""
        return self.first_seq + self.durable


def allocate(schema: Schema, rows: int) -> dict[str, np.ndarray]:
    """Empty columns of ``rows`` steps, each ``(rows, *shape)``."""
    return {key: np.empty((rows, *column.shape), column.dtype) for key, column in schema.items()}


def copy_window(blocks: list[Block], start: int, length: int, out: dict[str, np.ndarray],
                row: int, starts: list[int] | None = None) -> bool:
    """Copy durable steps ``start .. start + length - 1`` into ``out[key][row]`` (``(B, T, ...)``).

    ``starts`` (the blocks' ``first_seq`` values, when the caller has them) saves rebuilding them.
    Returns False (``out`` possibly half written) when any of those steps is missing, not durable,
    or the steps are not contiguous in one stream.
    """
    if starts is None:
        starts = [block.first_seq for block in blocks]
    index = bisect.bisect_right(starts, start) - 1
    position, written = start, 0
    while written < length:
        if index < 0 or index >= len(blocks):
            return False
        block = blocks[index]
        if not block.first_seq <= position < block.durable_end:
            return False
        take = min(length - written, block.durable_end - position)
        offset = position - block.first_seq
        for key, target in out.items():
            target[row, written:written + take] = block.columns[key][offset:offset + take]
        written += take
        position += take
        index += 1
    return True


def visible_runs(blocks: list[Block]) -> list[tuple[int, int]]:
    """Maximal ranges ``(first_seq, length)`` of contiguous durable steps of one stream."""
    runs: list[tuple[int, int]] = []
    run_start, run_end = None, None
    for block in blocks:
        if block.durable == 0:
            continue
        if run_end is not None and block.first_seq == run_end:
            run_end = block.durable_end
        else:
            if run_start is not None:
                runs.append((run_start, run_end - run_start))
            run_start, run_end = block.first_seq, block.durable_end
        if block.durable < block.filled:
            runs.append((run_start, run_end - run_start))
            run_start, run_end = None, None
    if run_start is not None:
        runs.append((run_start, run_end - run_start))
    return runs
