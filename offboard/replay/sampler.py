"""Sampling of training sequences: uniform windows plus an online queue of new sequences.

A window is ``T`` consecutive durable steps of one stream (``T = sequence_length``); it may span
several chunks but never a stream boundary or a gap in the sequence numbers.

*Uniform*: every valid window start of every stream has the same probability.
*Online* (DreamerV3's ``online`` fraction): as steps become durable, each stream's new steps are
cut into consecutive non-overlapping windows of ``T`` which enter a FIFO queue; a batch first takes
``round(B * online_fraction)`` windows from that queue (each queued window is returned exactly
once) and fills the rest uniformly. Windows evicted before they are sampled, or pushed out of a
full queue, are dropped and counted.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from offboard.replay.blocks import Block, StreamId, copy_window, visible_runs
from offboard.replay.errors import ReplayEmptyError
from offboard.replay.schema import Schema


@dataclass(frozen=True)
class SampleInfo:
    """Where each row of a batch came from.

    Attributes:
        streams: stream of each row, length ``B``.
        starts: first sequence number of each row, ``(B,)`` int64.
        online: True for rows taken from the online queue, ``(B,)`` bool.
    """

    streams: list[StreamId]
    starts: np.ndarray
    online: np.ndarray


class Sampler:
    """Uniform + online window sampling over a replay's blocks (the caller holds its lock)."""

    def __init__(self, sequence_length: int, online_fraction: float, queue_limit: int,
                 seed: int) -> None:
        self.sequence_length = sequence_length
        self.online_fraction = online_fraction
        self.queue_limit = queue_limit
        self._rng = np.random.default_rng(seed)
        self._queue: deque[tuple[StreamId, int]] = deque()
        self._cursor: dict[StreamId, int] = {}
        self._frontier: dict[StreamId, int] = {}
        self._index_version = -1
        self._runs: list[tuple[StreamId, int]] = []
        self._cumulative = np.zeros(0, np.int64)
        self._starts: dict[StreamId, list[int]] = {}
        self.counters = {"online_queued": 0, "online_sampled": 0, "online_dropped_full": 0,
                         "online_dropped_evicted": 0, "uniform_sampled": 0}

    @property
    def queue_length(self) -> int:
        """Online windows waiting to be sampled."""
        return len(self._queue)

    def on_durable(self, stream: StreamId, start: int, end: int) -> None:
        """Steps ``start .. end - 1`` of ``stream`` just became durable: queue new windows."""
        if self.online_fraction <= 0.0:
            return
        if self._frontier.get(stream) != start:
            self._cursor[stream] = start
        self._frontier[stream] = end
        cursor = self._cursor[stream]
        while cursor + self.sequence_length <= end:
            self._queue.append((stream, cursor))
            self.counters["online_queued"] += 1
            cursor += self.sequence_length
            if len(self._queue) > self.queue_limit:
                self._queue.popleft()
                self.counters["online_dropped_full"] += 1
        self._cursor[stream] = cursor

    def windows(self, streams: Mapping[StreamId, list[Block]], version: int) -> int:
        """Number of valid uniform window starts (rebuilds the index when ``version`` changed)."""
        if version != self._index_version:
            self._runs, counts = [], []
            self._starts = {stream: [b.first_seq for b in blocks]
                            for stream, blocks in streams.items()}
            for stream, blocks in streams.items():
                for first, length in visible_runs(blocks):
                    if length >= self.sequence_length:
                        self._runs.append((stream, first))
                        counts.append(length - self.sequence_length + 1)
            self._cumulative = np.cumsum(np.asarray(counts, np.int64))
            self._index_version = version
        return int(self._cumulative[-1]) if len(self._cumulative) else 0

    def sample(self, batch_size: int, streams: Mapping[StreamId, list[Block]], schema: Schema,
               version: int) -> tuple[dict[str, np.ndarray], SampleInfo]:
        """A batch of ``(B, T, ...)`` arrays per column, online windows first.

        Raises:
            ReplayEmptyError: no stream holds ``T`` contiguous durable steps yet.
        """
        total = self.windows(streams, version)
        if total == 0:
            raise ReplayEmptyError(f"no window of {self.sequence_length} contiguous durable "
                                   f"steps stored yet (streams: {len(streams)})")
        length = self.sequence_length
        out = {key: np.empty((batch_size, length, *c.shape), c.dtype) for key, c in schema.items()}
        rows: list[tuple[StreamId, int]] = []
        online_wanted = round(batch_size * self.online_fraction)
        while len(rows) < online_wanted and self._queue:
            stream, start = self._queue.popleft()
            if copy_window(streams.get(stream, []), start, length, out, len(rows),
                           self._starts.get(stream, [])):
                rows.append((stream, start))
                self.counters["online_sampled"] += 1
            else:
                self.counters["online_dropped_evicted"] += 1
        online_rows = len(rows)
        picks = self._rng.integers(total, size=batch_size - online_rows)
        for pick in picks:
            run = int(np.searchsorted(self._cumulative, pick, side="right"))
            before = int(self._cumulative[run - 1]) if run else 0
            stream, first = self._runs[run]
            start = first + int(pick) - before
            copied = copy_window(streams[stream], start, length, out, len(rows),
                                 self._starts[stream])
            assert copied, f"index out of date: {stream} {start}"
            rows.append((stream, start))
        self.counters["uniform_sampled"] += len(picks)
        online = np.arange(batch_size) < online_rows
        info = SampleInfo([s for s, _ in rows], np.asarray([p for _, p in rows], np.int64), online)
        return out, info
