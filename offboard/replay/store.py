"""The trainer's persistent replay: durable inserts per robot stream, FIFO eviction, sampling.

Durability contract
-------------------
:meth:`Replay.add` copies steps into the stream's open chunk in memory and returns at once.
:meth:`Replay.flush` writes everything added since the last flush — the open chunk's new steps as
one *segment* file per stream, a full (or gap-closed) chunk as one *chunk* file that replaces its
segments — each with write-to-tmp, fsync, rename, then one directory fsync for the batch. Only
after that does :meth:`Replay.durable_seq` advance and do the steps become visible to sampling.
So ACK a robot's sequence number ``n`` once ``durable_seq(stream) >= n`` after a flush.

Sequence numbers per stream
---------------------------
The next expected number is one past the last accepted step (durable or not). Steps below it are
duplicates: dropped and counted (a robot re-sending after a lost ACK). Steps above it leave a gap:
counted, recorded in :attr:`Replay.gaps`, the open chunk is sealed and the new steps start a new
chunk (windows never cross a gap). A stream seen for the first time starts wherever it starts.

Threads: ``add``/``sample``/queries take one lock; ``flush`` writes files outside it, so sampling
is not held up by fsync. Concurrent ``flush`` calls are serialised.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from offboard.replay import chunkfile, loader
from offboard.replay.blocks import Block, StreamId, allocate, copy_window, file_name
from offboard.replay.config import ReplayConfig
from offboard.replay.errors import ReplayError, ReplayInputError
from offboard.replay.sampler import SampleInfo, Sampler
from offboard.replay.schema import Schema, check_schema, schema_of, validate_steps

LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class AddResult:
    """Outcome of one :meth:`Replay.add`.

    Attributes:
        accepted: steps appended (not yet durable until the next flush).
        duplicates: steps dropped because their sequence numbers were already received.
        gap: sequence numbers skipped between the last accepted step and these steps.
        durable_seq: the stream's durable sequence number now (-1 when none).
    """

    accepted: int
    duplicates: int
    gap: int
    durable_seq: int


@dataclass
class ReplayCounters:
    """Running totals; every dropped or skipped step and file is counted here."""

    inserted: int = 0
    duplicates: int = 0
    gaps: int = 0
    gap_steps: int = 0
    flushes: int = 0
    files_written: int = 0
    evicted_chunks: int = 0
    evicted_steps: int = 0
    corrupt_files: int = 0
    mismatched_files: int = 0
    tmp_removed: int = 0


@dataclass(frozen=True)
class _Write:
    block: Block
    kind: str
    path: Path
    header: chunkfile.ChunkHeader
    columns: dict[str, np.ndarray]
    replaces: tuple[Path, ...]


class Replay:
    """Persistent, chunked replay of robot streams (see the module docstring)."""

    def __init__(self, config: ReplayConfig, spec_hash: str = "",
                 schema: Schema | None = None) -> None:
        """Open (and reload) ``config.directory``.

        Args:
            config: the replay's settings.
            spec_hash: ``EnvSpec.hash`` stored in every file; files of another hash are skipped.
            schema: the stored columns (see :func:`schema_from_spec`); taken from the files or
                the first :meth:`add` when None.
        """
        self.config = config
        self.directory = Path(config.directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.spec_hash = spec_hash
        schema = None if schema is None else check_schema(schema)
        self._lock = threading.RLock()
        self._flush_lock = threading.Lock()
        streams, self._schema, self._evicted, self.load_report = loader.load_directory(
            self.directory, spec_hash, schema, config.chunk_size, config.quarantine_corrupt)
        self._streams: dict[StreamId, list[Block]] = streams
        self._order = sorted((b for bs in streams.values() for b in bs), key=lambda b: b.ordinal)
        self._next_ordinal = self._order[-1].ordinal + 1 if self._order else 0
        self._durable: dict[StreamId, int] = dict(self._evicted)
        for stream, blocks in streams.items():
            if blocks:
                self._durable[stream] = max(self._durable.get(stream, -1), blocks[-1].end_seq - 1)
        self._next_seq = {stream: seq + 1 for stream, seq in self._durable.items()}
        self._total = sum(block.filled for block in self._order)
        self._dirty: dict[int, Block] = {}
        self._pool = (ThreadPoolExecutor(config.write_threads, "replay-write")
                      if config.write_threads > 1 else None)
        self._version = 0
        self.gaps: deque[tuple[StreamId, int, int]] = deque(maxlen=config.gap_log_limit)
        self.counters = ReplayCounters(corrupt_files=len(self.load_report.corrupt),
                                       mismatched_files=len(self.load_report.mismatched),
                                       tmp_removed=self.load_report.tmp_removed)
        self.sampler = Sampler(config.sequence_length, config.online_fraction,
                               config.online_queue_limit, config.seed)
        LOGGER.info("replay: loaded %d steps in %d chunks of %d streams from %s",
                    self._total, len(self._order), len(streams), self.directory)
        self._finish_evictions(self._evict())

    # ----------------------------------------------------------------- inserting
    def add(self, stream: StreamId, first_seq: int, steps: dict[str, np.ndarray]) -> AddResult:
        """Append ``n`` steps (each column ``(n, ...)``) numbered ``first_seq .. first_seq+n-1``.

        Raises:
            ReplayInputError: bad stream id, sequence number or columns (nothing is stored).
        """
        stream = _check_stream(stream)
        if isinstance(first_seq, bool) or not isinstance(first_seq, int | np.integer) \
                or first_seq < 0:
            raise ReplayInputError(f"first_seq must be an int >= 0, got {first_seq!r}")
        first_seq = int(first_seq)
        if not isinstance(steps, Mapping) or not steps:
            raise ReplayInputError(f"steps must be a non-empty dict of arrays, got {steps!r:.100}")
        with self._lock:
            schema = self._schema or check_schema(schema_of({k: np.asarray(v)
                                                             for k, v in steps.items()}))
            arrays, count = validate_steps(steps, schema)
            self._schema = schema
            expected = self._next_seq.get(stream)
            skip = 0 if expected is None else min(count, max(0, expected - first_seq))
            gap = 0 if expected is None or count == 0 else max(0, first_seq - expected)
            self.counters.duplicates += skip
            if gap:
                self._record_gap(stream, expected, first_seq)
            if count > skip:
                self._append(stream, first_seq + skip, arrays, skip, count)
            return AddResult(count - skip, skip, gap, self._durable.get(stream, -1))

    def _record_gap(self, stream: StreamId, expected: int, got: int) -> None:
        LOGGER.warning("replay: gap in stream %s: expected seq %d, got %d", stream, expected, got)
        self.counters.gaps += 1
        self.counters.gap_steps += got - expected
        self.gaps.append((stream, expected, got))
        blocks = self._streams.get(stream, [])
        if blocks and not blocks[-1].sealed:
            self._seal(blocks[-1])

    def _seal(self, block: Block) -> None:
        block.sealed = True
        block.columns = {key: array[:block.filled].copy() for key, array in block.columns.items()}
        self._dirty[id(block)] = block

    def _append(self, stream: StreamId, seq: int, arrays: dict[str, np.ndarray], position: int,
                count: int) -> None:
        blocks = self._streams.setdefault(stream, [])
        size = self.config.chunk_size
        self.counters.inserted += count - position
        self._total += count - position
        while position < count:
            if not blocks or blocks[-1].sealed:
                block = Block(stream, seq, allocate(self._schema, size), self._next_ordinal)
                self._next_ordinal += 1
                blocks.append(block)
                self._order.append(block)
            block = blocks[-1]
            take = min(count - position, size - block.filled)
            end = block.filled + take
            for key, array in arrays.items():
                block.columns[key][block.filled:end] = array[position:position + take]
            block.filled += take
            position += take
            seq += take
            self._dirty[id(block)] = block
            if block.filled == size:
                block.sealed = True
        self._next_seq[stream] = seq

    # ----------------------------------------------------------------- durability
    def flush(self) -> dict[StreamId, int]:
        """Make every added step durable; return ``durable_seq`` of every stream."""
        with self._flush_lock:
            with self._lock:
                writes = self._plan()
            try:
                self._write_all(writes)
                if writes:
                    chunkfile.fsync_directory(self.directory)
            except OSError as error:
                with self._lock:
                    self._dirty.update((id(w.block), w.block) for w in writes)
                raise ReplayError(f"replay flush into {self.directory} failed: {error}") from error
            for write in writes:
                for path in write.replaces:
                    path.unlink(missing_ok=True)
            with self._lock:
                self._commit(writes)
                evicted = self._evict()
            self._finish_evictions(evicted)
            with self._lock:
                return dict(self._durable)

    def _write_all(self, writes: list[_Write]) -> None:
        """Write the files: streams in parallel (their fsyncs share journal commits), each
        stream's files in sequence order (see :meth:`_write_stream`)."""
        by_stream: dict[StreamId, list[_Write]] = {}
        for write in writes:
            by_stream.setdefault(write.block.stream, []).append(write)
        if len(by_stream) <= 1 or self._pool is None:
            for group in by_stream.values():
                self._write_stream(group)
            return
        futures = [self._pool.submit(self._write_stream, group) for group in by_stream.values()]
        for future in futures:
            future.result()

    def _write_stream(self, writes: list[_Write]) -> None:
        """One stream's files in sequence order, the directory fsynced between two of them: a
        crash can never leave a later file of a stream without an earlier one (a hole that would
        hide steps the robot still has to resend)."""
        ordered = sorted(writes, key=lambda w: w.header.first_seq)
        for index, write in enumerate(ordered):
            if index:
                chunkfile.fsync_directory(self.directory)
            chunkfile.write_file(write.path, write.header, write.columns)

    def _plan(self) -> list[_Write]:
        writes = []
        for block in self._dirty.values():
            if block.sealed and not block.written:
                kind, start, replaces = "chunk", 0, tuple(block.segments)
            elif not block.sealed and block.durable < block.filled:
                kind, start, replaces = "segment", block.durable, ()
            else:
                continue
            first = block.first_seq + start
            header = chunkfile.ChunkHeader(kind, block.stream[0], block.stream[1], first,
                                           block.filled - start, block.ordinal, self.spec_hash)
            columns = {k: v[start:block.filled] for k, v in block.columns.items()}
            path = self.directory / file_name(block.stream, first, kind)
            writes.append(_Write(block, kind, path, header, columns, replaces))
        self._dirty.clear()
        return writes

    def _commit(self, writes: list[_Write]) -> None:
        for write in writes:
            block, before = write.block, write.block.durable
            block.durable = write.header.first_seq + write.header.count - block.first_seq
            if write.kind == "chunk":
                block.written, block.segments = True, []
            else:
                block.segments.append(write.path)
            self._durable[block.stream] = max(self._durable.get(block.stream, -1),
                                              block.durable_end - 1)
            if block.durable > before:
                self.sampler.on_durable(block.stream, block.first_seq + before, block.durable_end)
        self.counters.flushes += 1
        self.counters.files_written += len(writes)
        self._version += 1

    def _evict(self) -> list[Path]:
        """Drop whole oldest written chunks while over capacity; return their paths."""
        removed = []
        while self._total > self.config.capacity:
            block = next((b for b in self._order if b.written), None)
            if block is None:
                break
            self._order.remove(block)
            self._streams[block.stream].remove(block)
            self._total -= block.filled
            self._evicted[block.stream] = max(self._evicted.get(block.stream, -1),
                                              block.end_seq - 1)
            self.counters.evicted_chunks += 1
            self.counters.evicted_steps += block.filled
            removed.append(self.directory / file_name(block.stream, block.first_seq, "chunk"))
        if removed:
            self._version += 1
        return removed

    def _finish_evictions(self, paths: list[Path]) -> None:
        if not paths:
            return
        with self._lock:
            evicted = dict(self._evicted)
        loader.write_evicted(self.directory, evicted)
        chunkfile.fsync_directory(self.directory)  # watermark durable before any chunk goes
        for path in paths:
            path.unlink(missing_ok=True)
        chunkfile.fsync_directory(self.directory)

    # ----------------------------------------------------------------- queries
    def durable_seq(self, stream: StreamId) -> int:
        """Highest sequence number of ``stream`` that is on disk (-1 when none)."""
        with self._lock:
            return self._durable.get(_check_stream(stream), -1)

    def streams(self) -> list[StreamId]:
        """Every stream known (stored, evicted or only buffered)."""
        with self._lock:
            return sorted(set(self._streams) | set(self._durable))

    def sequences(self, stream: StreamId) -> np.ndarray:
        """Every durable sequence number stored for ``stream``, ascending, ``(N,)`` int64."""
        with self._lock:
            blocks = self._streams.get(_check_stream(stream), [])
            parts = [np.arange(b.first_seq, b.durable_end, dtype=np.int64) for b in blocks]
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    @property
    def stored_steps(self) -> int:
        """Steps held (durable or not); capacity applies to this number."""
        return self._total

    @property
    def schema(self) -> Schema | None:
        """Stored columns (None until known)."""
        return self._schema

    def read(self, stream: StreamId, start: int, length: int) -> dict[str, np.ndarray]:
        """Durable steps ``start .. start+length-1`` of ``stream``, columns ``(length, ...)``."""
        with self._lock:
            if self._schema is None:
                raise ReplayError("the replay holds no steps yet")
            out = {k: np.empty((1, length, *c.shape), c.dtype) for k, c in self._schema.items()}
            if not copy_window(self._streams.get(_check_stream(stream), []), start, length, out, 0):
                raise ReplayError(f"steps {start}..{start + length - 1} of {stream} are not all "
                                  "stored, durable and contiguous")
        return {key: array[0] for key, array in out.items()}

    def sample(self, batch_size: int) -> dict[str, np.ndarray]:
        """A batch of ``(B, T, ...)`` arrays (see :mod:`offboard.replay.sampler`)."""
        return self.sample_with_info(batch_size)[0]

    def sample_with_info(self, batch_size: int) -> tuple[dict[str, np.ndarray], SampleInfo]:
        """Like :meth:`sample`, also returning where each row came from."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ReplayError(f"batch_size must be an int >= 1, got {batch_size!r}")
        with self._lock:
            if self._schema is None:
                return self.sampler.sample(batch_size, {}, {}, self._version)
            return self.sampler.sample(batch_size, self._streams, self._schema, self._version)

    def stats(self) -> dict[str, int]:
        """Counters of the replay and its sampler plus current sizes, as one flat dict."""
        with self._lock:
            values = {f.name: getattr(self.counters, f.name) for f in fields(self.counters)}
            values.update(self.sampler.counters)
            values.update(stored_steps=self._total, chunks=len(self._order),
                          streams=len(self._streams), online_queue=self.sampler.queue_length)
            return values

    def close(self) -> None:
        """Flush what is buffered and stop the writer threads."""
        self.flush()
        if self._pool is not None:
            self._pool.shutdown()

    def __enter__(self) -> Replay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_stream(stream: object) -> StreamId:
    if (not isinstance(stream, tuple) or len(stream) != 2
            or not all(isinstance(part, str) and 0 < len(part) <= 200 for part in stream)):
        raise ReplayInputError(f"stream must be (robot_id, run_id), two non-empty strings of at "
                               f"most 200 characters, got {stream!r}")
    return stream
