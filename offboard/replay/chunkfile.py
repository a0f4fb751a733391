"""On-disk format of replay chunk and segment files, and the atomic write that produces them.

Layout of one file (all integers little-endian)::

    offset 0    magic          8 bytes  b"DDREPLY1"
    offset 8    header_length  uint32
    offset 12   header         header_length bytes of UTF-8 JSON (see below)
    ...         payload        the column arrays, raw C-order bytes, one after the other
    last 32     digest         SHA-256 of every byte before it (magic, length, header, payload)

The header is ``{"format": 1, "kind": "chunk"|"segment", "robot_id", "run_id", "first_seq",
"count", "ordinal", "spec_hash", "columns": [{"key", "dtype", "shape", "offset", "nbytes"}]}``
where ``dtype`` is the numpy dtype string with explicit byte order (``"<f4"``, ``"|b1"``),
``shape`` the per-step shape and ``offset`` is relative to the payload start. Column ``key`` holds
``count`` consecutive steps, array shape ``(count, *shape)``. Nothing is ever pickled.

A file is written to ``<name>.tmp``, flushed, fsynced and renamed over ``<name>`` with
:func:`os.replace`; the caller fsyncs the directory once per batch of renames
(:func:`fsync_directory`). A reader therefore sees either no file or a complete one, and a file
damaged later (torn by the disk, a flipped bit) fails the digest and raises
:class:`~offboard.replay.errors.ChunkFileError`.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from offboard.replay.errors import ChunkFileError
from shared.spec import ALLOWED_DTYPES

MAGIC = b"DDREPLY1"
FORMAT_VERSION = 1
DIGEST_SIZE = 32
TMP_SUFFIX = ".tmp"
KINDS = ("chunk", "segment")
_LENGTH = struct.Struct("<I")
_MAX_HEADER = 1 << 20


@dataclass(frozen=True)
class ChunkHeader:
    """What a file says about itself.

    Attributes:
        kind: ``"chunk"`` (a sealed run of steps) or ``"segment"`` (a flushed piece of a chunk).
        robot_id: first half of the stream id.
        run_id: second half of the stream id.
        first_seq: sequence number of the first step in the file.
        count: number of consecutive steps in the file.
        ordinal: global insertion order of chunks (FIFO eviction order across restarts).
        spec_hash: hash of the EnvSpec the steps were recorded under ("" when unknown).
    """

    kind: str
    robot_id: str
    run_id: str
    first_seq: int
    count: int
    ordinal: int
    spec_hash: str


def encode_header(header: ChunkHeader, columns: dict[str, np.ndarray]) -> bytes:
    """Header JSON bytes for ``columns`` (each of shape ``(count, ...)``)."""
    offset = 0
    described = []
    for key, array in columns.items():
        described.append({"key": key, "dtype": array.dtype.str, "shape": list(array.shape[1:]),
                          "offset": offset, "nbytes": int(array.nbytes)})
        offset += int(array.nbytes)
    body = {"format": FORMAT_VERSION, "kind": header.kind, "robot_id": header.robot_id,
            "run_id": header.run_id, "first_seq": header.first_seq, "count": header.count,
            "ordinal": header.ordinal, "spec_hash": header.spec_hash, "columns": described}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")


def write_file(path: Path, header: ChunkHeader, columns: dict[str, np.ndarray]) -> None:
    """Write ``columns`` (each ``(count, ...)``) to ``path`` atomically (tmp, fsync, replace).

    The directory is *not* fsynced here; call :func:`fsync_directory` after a batch of writes.
    """
    for key, array in columns.items():
        if array.shape[:1] != (header.count,):
            raise ChunkFileError(f"{path}: column {key!r} has shape {array.shape}, "
                                 f"expected first dimension {header.count}")
    header_bytes = encode_header(header, columns)
    digest = hashlib.sha256()
    tmp = path.with_name(path.name + TMP_SUFFIX)
    with open(tmp, "wb") as handle:
        for piece in (MAGIC, _LENGTH.pack(len(header_bytes)), header_bytes):
            handle.write(piece)
            digest.update(piece)
        for array in columns.values():
            view = memoryview(np.ascontiguousarray(array)).cast("B")
            handle.write(view)
            digest.update(view)
        handle.write(digest.digest())
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def fsync_directory(directory: Path) -> None:
    """Make renames and creations inside ``directory`` durable."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def read_file(path: Path) -> tuple[ChunkHeader, dict[str, np.ndarray]]:
    """Read and verify one file; columns are read-only arrays of shape ``(count, ...)``.

    Raises:
        ChunkFileError: torn, truncated, corrupt (digest mismatch) or malformed file.
    """
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ChunkFileError(f"{path}: cannot read: {error}") from error
    if len(data) < len(MAGIC) + _LENGTH.size + DIGEST_SIZE:
        raise ChunkFileError(f"{path}: truncated ({len(data)} bytes)")
    if data[:len(MAGIC)] != MAGIC:
        raise ChunkFileError(f"{path}: bad magic {data[:len(MAGIC)]!r}")
    body, digest = memoryview(data)[:-DIGEST_SIZE], data[-DIGEST_SIZE:]
    if hashlib.sha256(body).digest() != digest:
        raise ChunkFileError(f"{path}: checksum mismatch ({len(data)} bytes)")
    (header_length,) = _LENGTH.unpack_from(data, len(MAGIC))
    start = len(MAGIC) + _LENGTH.size
    if header_length > _MAX_HEADER or start + header_length > len(body):
        raise ChunkFileError(f"{path}: header length {header_length} out of range")
    try:
        fields = json.loads(bytes(body[start:start + header_length]).decode("utf-8"))
        header = _parse_header(fields)
        columns = _parse_columns(fields["columns"], header.count, body[start + header_length:])
    except (ValueError, KeyError, TypeError) as error:
        raise ChunkFileError(f"{path}: malformed header: {error}") from error
    return header, columns


def _parse_header(fields: dict) -> ChunkHeader:
    if fields.get("format") != FORMAT_VERSION:
        raise ValueError(f"format {fields.get('format')!r} is not {FORMAT_VERSION}")
    if fields["kind"] not in KINDS:
        raise ValueError(f"kind {fields['kind']!r} not in {KINDS}")
    header = ChunkHeader(kind=fields["kind"], robot_id=str(fields["robot_id"]),
                         run_id=str(fields["run_id"]), first_seq=int(fields["first_seq"]),
                         count=int(fields["count"]), ordinal=int(fields["ordinal"]),
                         spec_hash=str(fields["spec_hash"]))
    if header.first_seq < 0 or header.count <= 0:
        raise ValueError(f"first_seq {header.first_seq} / count {header.count} invalid")
    return header


def _parse_columns(described: list, count: int, payload: memoryview) -> dict[str, np.ndarray]:
    columns: dict[str, np.ndarray] = {}
    for column in described:
        dtype = np.dtype(column["dtype"])
        if dtype.name not in ALLOWED_DTYPES:
            raise ValueError(f"column {column['key']!r} has dtype {dtype.name!r}")
        shape = (count, *(int(size) for size in column["shape"]))
        offset, nbytes = int(column["offset"]), int(column["nbytes"])
        if nbytes != int(np.prod(shape, dtype=np.int64)) * dtype.itemsize:
            raise ValueError(f"column {column['key']!r}: {nbytes} bytes for shape {shape}")
        if offset < 0 or offset + nbytes > len(payload):
            raise ValueError(f"column {column['key']!r} runs past the payload")
        array = np.frombuffer(payload, dtype=dtype, count=nbytes // dtype.itemsize,
                              offset=offset).reshape(shape)
        columns[str(column["key"])] = array
    return columns
