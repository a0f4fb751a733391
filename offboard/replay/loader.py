"""Start-up of the replay: read every file in the directory, verify it, rebuild the blocks.

What happens, in order (each outcome is counted in :class:`LoadReport` and logged):

1. Leftover ``*.tmp`` files (a write interrupted before its rename) are deleted.
2. Every ``*.chunk`` and ``*.segment`` file is read and its SHA-256 verified. A torn, truncated
   or corrupt file, or one whose name disagrees with its header, is skipped and (by default)
   moved into ``corrupt/``; files of another spec hash or other columns are skipped and left.
3. Per stream, chunks are accepted in sequence order; a chunk overlapping an accepted one is
   skipped. Segments wholly covered by a chunk are leftovers of a compaction and deleted.
4. The remaining segments (the open chunk at the time of the crash) are compacted: each
   contiguous group is written as sealed chunk files, then its segments are deleted.
5. ``durable_seq`` of each stream resumes at its highest stored (or evicted) sequence number.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from offboard.replay import chunkfile
from offboard.replay.blocks import CHUNK_SUFFIX, SEGMENT_SUFFIX, Block, StreamId, file_name
from offboard.replay.errors import ChunkFileError
from offboard.replay.schema import Schema, same_schema, schema_of

LOGGER = logging.getLogger(__name__)
EVICTED_FILE = "evicted.json"
CORRUPT_FOLDER = "corrupt"


@dataclass
class LoadReport:
    """What start-up found. Lists hold ``(file name, reason)`` or file names."""

    files_loaded: int = 0
    steps_loaded: int = 0
    tmp_removed: int = 0
    corrupt: list[tuple[str, str]] = field(default_factory=list)
    mismatched: list[tuple[str, str]] = field(default_factory=list)
    overlapping: list[str] = field(default_factory=list)
    stale_segments_removed: int = 0
    segments_compacted: int = 0
    holes: list[tuple[StreamId, int, int]] = field(default_factory=list)
    """``(stream, first missing seq, first seq after the hole)`` between stored blocks."""


@dataclass
class _Loaded:
    path: Path
    header: chunkfile.ChunkHeader
    columns: dict[str, np.ndarray]

    @property
    def stream(self) -> StreamId:
        return (self.header.robot_id, self.header.run_id)

    @property
    def end(self) -> int:
        return self.header.first_seq + self.header.count


def remove_tmp_files(directory: Path) -> int:
    """Delete leftover ``*.tmp`` files; return how many."""
    removed = 0
    for path in sorted(directory.glob("*" + chunkfile.TMP_SUFFIX)):
        LOGGER.warning("replay: removing leftover temporary file %s", path.name)
        path.unlink(missing_ok=True)
        removed += 1
    return removed


def read_evicted(directory: Path, report: LoadReport) -> dict[StreamId, int]:
    """Highest evicted sequence number per stream (empty when the file is absent or corrupt)."""
    path = directory / EVICTED_FILE
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text("utf-8"))
        return {(str(r["robot_id"]), str(r["run_id"])): int(r["evicted_seq"])
                for r in data["streams"]}
    except (ValueError, KeyError, TypeError) as error:
        LOGGER.error("replay: %s is unreadable (%s); ignoring it", path, error)
        report.corrupt.append((EVICTED_FILE, str(error)))
        return {}


def write_evicted(directory: Path, evicted: dict[StreamId, int]) -> None:
    """Atomically write the per-stream eviction watermarks."""
    rows = [{"robot_id": stream[0], "run_id": stream[1], "evicted_seq": seq}
            for stream, seq in sorted(evicted.items())]
    tmp = directory / (EVICTED_FILE + chunkfile.TMP_SUFFIX)
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump({"format": 1, "streams": rows}, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, directory / EVICTED_FILE)


def _read_all(directory: Path, spec_hash: str, schema: Schema | None, quarantine: bool,
              report: LoadReport) -> tuple[list[_Loaded], Schema | None]:
    loaded: list[_Loaded] = []
    paths = sorted([*directory.glob("*" + CHUNK_SUFFIX), *directory.glob("*" + SEGMENT_SUFFIX)])
    for path in paths:
        try:
            header, columns = chunkfile.read_file(path)
            if path.name != file_name((header.robot_id, header.run_id), header.first_seq,
                                      header.kind):
                raise ChunkFileError(f"{path}: name does not match header {header}")
        except ChunkFileError as error:
            LOGGER.error("replay: skipping corrupt file: %s", error)
            report.corrupt.append((path.name, str(error)))
            if quarantine:
                (directory / CORRUPT_FOLDER).mkdir(exist_ok=True)
                os.replace(path, directory / CORRUPT_FOLDER / path.name)
            continue
        if spec_hash and header.spec_hash != spec_hash:
            reason = f"spec hash {header.spec_hash[:16]!r} is not {spec_hash[:16]!r}"
        elif schema is not None and not same_schema(schema_of(columns), schema):
            reason = f"columns {sorted(columns)} differ from the replay's {sorted(schema)}"
        else:
            reason = ""
        if reason:
            LOGGER.error("replay: skipping %s: %s", path.name, reason)
            report.mismatched.append((path.name, reason))
            continue
        schema = schema if schema is not None else schema_of(columns)
        loaded.append(_Loaded(path, header, columns))
    return loaded, schema


def _accept_chunks(files: list[_Loaded], report: LoadReport) -> list[_Loaded]:
    accepted: list[_Loaded] = []
    for item in sorted(files, key=lambda f: f.header.first_seq):
        if accepted and item.header.first_seq < accepted[-1].end:
            LOGGER.error("replay: skipping %s: overlaps %s", item.path.name, accepted[-1].path.name)
            report.overlapping.append(item.path.name)
            continue
        accepted.append(item)
    return accepted


def _covered(item: _Loaded, chunks: list[_Loaded]) -> str:
    """'all', 'some' or 'none' of item's range is covered by ``chunks``."""
    start, end = item.header.first_seq, item.end
    inside = sum(max(0, min(end, c.end) - max(start, c.header.first_seq)) for c in chunks)
    return "all" if inside == end - start else ("some" if inside else "none")


def _segment_groups(segments: list[_Loaded], chunks: list[_Loaded],
                    report: LoadReport) -> list[list[_Loaded]]:
    groups: list[list[_Loaded]] = []
    for item in sorted(segments, key=lambda f: f.header.first_seq):
        coverage = _covered(item, chunks)
        if coverage == "all":
            item.path.unlink(missing_ok=True)
            report.stale_segments_removed += 1
            continue
        if coverage == "some" or (groups and item.header.first_seq < groups[-1][-1].end):
            LOGGER.error("replay: skipping %s: overlaps stored steps", item.path.name)
            report.overlapping.append(item.path.name)
            continue
        if groups and groups[-1][-1].end == item.header.first_seq:
            groups[-1].append(item)
        else:
            groups.append([item])
    return groups


def _compact(directory: Path, group: list[_Loaded], chunk_size: int,
             next_ordinal: int) -> list[_Loaded]:
    """Write a contiguous group of segments as chunk files (<= chunk_size steps each)."""
    keys = group[0].columns.keys()
    merged = {key: np.concatenate([item.columns[key] for item in group]) for key in keys}
    stream, first = group[0].stream, group[0].header.first_seq
    total = sum(item.header.count for item in group)
    written: list[_Loaded] = []
    for offset in range(0, total, chunk_size):
        count = min(chunk_size, total - offset)
        header = chunkfile.ChunkHeader("chunk", stream[0], stream[1], first + offset, count,
                                       next_ordinal + len(written), group[0].header.spec_hash)
        columns = {key: array[offset:offset + count] for key, array in merged.items()}
        path = directory / file_name(stream, first + offset, "chunk")
        chunkfile.write_file(path, header, columns)
        written.append(_Loaded(path, header, columns))
    return written


def _to_block(item: _Loaded) -> Block:
    count = item.header.count
    return Block(item.stream, item.header.first_seq, item.columns, item.header.ordinal,
                 filled=count, durable=count, sealed=True, written=True)


def load_directory(directory: Path, spec_hash: str, schema: Schema | None, chunk_size: int,
                   quarantine: bool) -> tuple[dict[StreamId, list[Block]], Schema | None,
                                              dict[StreamId, int], LoadReport]:
    """Rebuild blocks from ``directory`` (see the module docstring for the steps).

    Returns (blocks per stream sorted by first_seq, schema, eviction watermarks, report).
    """
    report = LoadReport()
    report.tmp_removed = remove_tmp_files(directory)
    evicted = read_evicted(directory, report)
    files, schema = _read_all(directory, spec_hash, schema, quarantine, report)
    next_ordinal = max((f.header.ordinal for f in files), default=-1) + 1
    streams: dict[StreamId, list[Block]] = {}
    to_delete: list[Path] = []
    for stream in sorted({f.stream for f in files}):
        mine = [f for f in files if f.stream == stream]
        chunks = _accept_chunks([f for f in mine if f.header.kind == "chunk"], report)
        for group in _segment_groups([f for f in mine if f.header.kind == "segment"], chunks,
                                     report):
            if (directory / file_name(stream, group[0].header.first_seq, "chunk")).exists():
                LOGGER.error("replay: cannot compact segments from seq %d of %s: a chunk file of "
                             "that name exists (other spec?)", group[0].header.first_seq, stream)
                report.overlapping.extend(item.path.name for item in group)
                continue
            compacted = _compact(directory, group, chunk_size, next_ordinal)
            next_ordinal += len(compacted)
            chunks.extend(compacted)
            to_delete.extend(item.path for item in group)
            report.segments_compacted += len(group)
        chunks.sort(key=lambda f: f.header.first_seq)
        streams[stream] = [_to_block(item) for item in chunks]
        for before, after in itertools.pairwise(chunks):
            if before.end != after.header.first_seq:
                report.holes.append((stream, before.end, after.header.first_seq))
    chunkfile.fsync_directory(directory)
    for path in to_delete:
        path.unlink(missing_ok=True)
    report.files_loaded = sum(len(blocks) for blocks in streams.values())
    report.steps_loaded = sum(b.filled for blocks in streams.values() for b in blocks)
    return streams, schema, evicted, report
