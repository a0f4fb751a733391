"""Incremental frame parser: bytes in any split -> decoded frames and typed, counted bad frames.

:meth:`FrameParser.feed` never raises on bad input and never holds more than one maximum frame of
bytes: garbage, truncated frames, flipped bits and oversize runs each produce a :class:`BadFrame`
(also counted in :class:`ParserStats`) and the parser resynchronises at the next 0x00 delimiter.
Per message type it counts received frames, sequence gaps (frames lost), duplicates, reordered
frames and CRC errors.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from firmware_bridge.errors import PayloadError
from firmware_bridge.framing import (
    CRC_SIZE,
    HEADER,
    HEADER_SIZE,
    PROTOCOL_VERSION,
    CobsError,
    cobs_decode,
    crc32,
    max_frame_size,
)
from firmware_bridge.messages import Message, MessageTable

LOGGER = logging.getLogger(__name__)


class BadFrameKind(str, Enum):
    """Why a frame was rejected."""

    COBS = "cobs"  #: invalid COBS encoding (garbage or a flipped code byte)
    TOO_LONG = "too_long"  #: no delimiter within the maximum frame size: bytes discarded
    TRUNCATED = "truncated"  #: fewer bytes than the header, CRC and announced payload need
    BAD_LENGTH = "bad_length"  #: payload length disagrees with the frame or the message layout
    CRC = "crc"  #: CRC mismatch (corruption, or a peer built from another table)
    VERSION = "version"  #: unsupported protocol version byte
    UNKNOWN_TYPE = "unknown_type"  #: valid CRC but a message id not in the table
    INTERNAL = "internal"  #: a parser bug caught so that it cannot escape (logged)


@dataclass(frozen=True)
class Frame:
    """One valid frame.

    Attributes:
        message: its message definition.
        seq: the header sequence number.
        timestamp_us: the sender's header timestamp (wraps at 2**32).
        values: decoded field values.
        size: decoded size in bytes (header + payload + CRC).
    """

    message: Message
    seq: int
    timestamp_us: int
    values: dict[str, Any]
    size: int

    @property
    def name(self) -> str:
        """The message name."""
        return self.message.name


@dataclass(frozen=True)
class BadFrame:
    """One rejected frame.

    Attributes:
        kind: why it was rejected.
        detail: human-readable reason with the offending values.
        size: bytes discarded.
        type_id: the claimed message id when the header was readable, else None.
    """

    kind: BadFrameKind
    detail: str
    size: int
    type_id: int | None = None


@dataclass
class TypeStats:
    """Counters of one message type.

    Attributes:
        received: valid frames.
        lost: frames missing according to sequence gaps.
        duplicates: frames with the same sequence as the previous one.
        reordered: frames with an older sequence than the previous one.
        crc_errors: frames of this claimed type that failed the CRC.
    """

    received: int = 0
    lost: int = 0
    duplicates: int = 0
    reordered: int = 0
    crc_errors: int = 0


@dataclass
class ParserStats:
    """Counters of a parser.

    Attributes:
        bytes_received: every byte fed.
        frames: valid frames.
        empty: empty frames (consecutive delimiters; used to flush/resync, not an error).
        bad: bad frames by kind.
        discarded_bytes: bytes thrown away in bad frames.
        per_type: counters by message name (claimed type id as ``"0x.."`` when unknown).
    """

    bytes_received: int = 0
    frames: int = 0
    empty: int = 0
    bad: dict[str, int] = field(default_factory=lambda: {kind.value: 0 for kind in BadFrameKind})
    discarded_bytes: int = 0
    per_type: dict[str, TypeStats] = field(default_factory=dict)

    @property
    def bad_total(self) -> int:
        """All bad frames."""
        return sum(self.bad.values())


class FrameParser:
    """Feed bytes, get frames.

    Args:
        table: the message table this end was built from.
        max_frame: most wire bytes of one frame (default: the table's maximum).
    """

    def __init__(self, table: MessageTable, max_frame: int | None = None) -> None:
        self.table = table
        self.max_frame = max_frame or max_frame_size(table)
        self.stats = ParserStats()
        self._buffer = bytearray()
        self._discarding = False
        self._last_seq: dict[int, int] = {}

    def snapshot(self) -> ParserStats:
        """A copy of the counters."""
        return copy.deepcopy(self.stats)

    def reset_sequences(self) -> None:
        """Forget the last sequence numbers (the peer started a new session)."""
        self._last_seq.clear()

    def feed(self, data: bytes) -> list[Frame | BadFrame]:
        """Parse ``data`` (any split of the stream); returns frames and bad frames in order."""
        events: list[Frame | BadFrame] = []
        self.stats.bytes_received += len(data)
        start = 0
        while True:
            end = data.find(b"\x00", start)
            if end < 0:
                self._accumulate(data[start:], events)
                return events
            self._accumulate(data[start:end], events)
            if self._discarding:
                self._discarding = False
            else:
                encoded = bytes(self._buffer)
                self._buffer.clear()
                event = self._safe_decode(encoded)
                if event is not None:
                    events.append(event)
            start = end + 1

    def _accumulate(self, piece: bytes, events: list[Frame | BadFrame]) -> None:
        if self._discarding:
            self.stats.discarded_bytes += len(piece)
            return
        if len(self._buffer) + len(piece) + 1 > self.max_frame:
            size = len(self._buffer) + len(piece)
            self._buffer.clear()
            self._discarding = True
            events.append(self._bad(BadFrameKind.TOO_LONG,
                                    f"more than {self.max_frame} bytes without a delimiter", size))
            return
        self._buffer += piece

    def _bad(self, kind: BadFrameKind, detail: str, size: int,
             type_id: int | None = None) -> BadFrame:
        self.stats.bad[kind.value] += 1
        self.stats.discarded_bytes += size
        return BadFrame(kind, detail, size, type_id)

    def _safe_decode(self, encoded: bytes) -> Frame | BadFrame | None:
        try:
            return self._decode(encoded)
        except Exception as error:  # the parser must never raise on input
            LOGGER.exception("parser bug on %d bytes", len(encoded))
            return self._bad(BadFrameKind.INTERNAL, repr(error), len(encoded))

    def _decode(self, encoded: bytes) -> Frame | BadFrame | None:
        if not encoded:
            self.stats.empty += 1
            return None
        try:
            decoded = cobs_decode(encoded)
        except CobsError as error:
            return self._bad(BadFrameKind.COBS, str(error), len(encoded))
        if len(decoded) < HEADER_SIZE + CRC_SIZE:
            return self._bad(BadFrameKind.TRUNCATED,
                             f"{len(decoded)} bytes < header+crc {HEADER_SIZE + CRC_SIZE}",
                             len(encoded))
        version, type_id, seq, timestamp_us, payload_len = HEADER.unpack_from(decoded)
        actual = len(decoded) - HEADER_SIZE - CRC_SIZE
        if payload_len != actual:
            kind = BadFrameKind.TRUNCATED if payload_len > actual else BadFrameKind.BAD_LENGTH
            return self._bad(kind, f"payload_len {payload_len} but {actual} payload bytes",
                             len(encoded), type_id)
        body = decoded[:-CRC_SIZE]
        received_crc = int.from_bytes(decoded[-CRC_SIZE:], "little")
        if crc32(body, self.table.crc_extra(type_id)) != received_crc:
            self._type_stats(type_id).crc_errors += 1
            return self._bad(BadFrameKind.CRC, f"crc {received_crc:#010x} wrong for type "
                             f"{type_id:#04x} seq {seq}", len(encoded), type_id)
        if version != PROTOCOL_VERSION:
            return self._bad(BadFrameKind.VERSION,
                             f"version {version}, expected {PROTOCOL_VERSION}", len(encoded),
                             type_id)
        message = self.table.by_id.get(type_id)
        if message is None:
            return self._bad(BadFrameKind.UNKNOWN_TYPE, f"type {type_id:#04x} not in table",
                             len(encoded), type_id)
        try:
            values = message.decode(body[HEADER_SIZE:])
        except PayloadError as error:
            return self._bad(BadFrameKind.BAD_LENGTH, str(error), len(encoded), type_id)
        self._count_sequence(type_id, seq)
        self.stats.frames += 1
        return Frame(message, seq, timestamp_us, values, len(decoded))

    def _type_stats(self, type_id: int) -> TypeStats:
        message = self.table.by_id.get(type_id)
        name = message.name if message else f"{type_id:#04x}"
        stats = self.stats.per_type.get(name)
        if stats is None:
            stats = self.stats.per_type[name] = TypeStats()
        return stats

    def _count_sequence(self, type_id: int, seq: int) -> None:
        stats = self._type_stats(type_id)
        stats.received += 1
        last = self._last_seq.get(type_id)
        self._last_seq[type_id] = seq if last is None else self._newest(last, seq, stats)

    @staticmethod
    def _newest(last: int, seq: int, stats: TypeStats) -> int:
        step = (seq - last) & 0xFFFF
        if step == 0:
            stats.duplicates += 1
            return last
        if step >= 0x8000:
            stats.reordered += 1
            return last
        stats.lost += step - 1
        return seq
