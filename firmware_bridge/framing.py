"""Frame layout of the serial link: header, payload, CRC-32 with the table hash, COBS, 0x00.

Decoded frame (little-endian), before COBS::

    offset size field
    0      1    version        PROTOCOL_VERSION (1)
    1      1    msg_type       message id of the table
    2      2    seq            per-sender, per-message-type counter, wraps at 65536
    4      4    timestamp_us   sender's monotonic clock in microseconds, wraps at 2**32
    8      2    payload_len    bytes of payload that follow
    10     N    payload        the message fields (see :mod:`firmware_bridge.messages`)
    10+N   4    crc            CRC-32 of bytes [0, 10+N) followed by the 4 crc_extra bytes

CRC-32 is the IEEE 802.3 / zlib CRC (reflected polynomial 0xEDB88320, init 0xFFFFFFFF, xorout
0xFFFFFFFF); ``crc32(b"123456789") == 0xCBF43926``. ``crc_extra`` is the table hash (or, for the
bootstrap messages, the bootstrap hash) as 4 little-endian bytes; it is never transmitted.

On the wire the decoded frame is COBS-encoded (no 0x00 inside) and followed by one 0x00
delimiter. A receiver resynchronises at the next 0x00 after any error.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable

from firmware_bridge.errors import ProtocolError
from firmware_bridge.messages import Message, MessageTable

PROTOCOL_VERSION = 1
HEADER = struct.Struct("<BBHIH")
HEADER_SIZE = HEADER.size
CRC_SIZE = 4
DELIMITER = 0


class CobsError(ProtocolError):
    """Bytes are not a valid COBS encoding."""


def crc32(data: bytes, extra: bytes = b"") -> int:
    """CRC-32 (IEEE, zlib) of ``data`` followed by ``extra``."""
    return zlib.crc32(extra, zlib.crc32(data))


def cobs_encode(data: bytes) -> bytes:
    """COBS encoding of ``data`` (no 0x00 in the result; delimiter not included)."""
    out = bytearray()
    blocks = bytes(data).split(b"\x00")
    last = len(blocks) - 1
    for index, block in enumerate(blocks):
        position, size = 0, len(block)
        while size - position >= 254:
            out.append(0xFF)
            out += block[position:position + 254]
            position += 254
        if index == last and position == size and size > 0:
            break
        out.append(size - position + 1)
        out += block[position:]
    return bytes(out)


def cobs_decode(data: bytes) -> bytes:
    """Inverse of :func:`cobs_encode`; raises :class:`CobsError` on an invalid encoding."""
    zero = data.find(b"\x00")
    if zero >= 0:
        raise CobsError(f"0x00 inside a COBS block at offset {zero}")
    out = bytearray()
    index, size = 0, len(data)
    while index < size:
        code = data[index]
        end = index + code
        if end > size:
            raise CobsError(f"code {code} at offset {index} runs past the end ({size} bytes)")
        out += data[index + 1:end]
        index = end
        if code != 0xFF and index < size:
            out.append(0)
    return bytes(out)


def max_encoded_size(decoded_size: int) -> int:
    """Most wire bytes (COBS + delimiter) of a decoded frame of ``decoded_size`` bytes."""
    return decoded_size + (decoded_size + 253) // 254 + 1 + 1


def max_frame_size(table: MessageTable) -> int:
    """Most wire bytes of any frame of ``table`` (the receiver's buffer bound)."""
    return max_encoded_size(HEADER_SIZE + table.max_payload_size + CRC_SIZE)


def encode_frame(table: MessageTable, type_id: int, seq: int, timestamp_us: int,
                 payload: bytes) -> bytes:
    """Wire bytes of one frame: COBS(header + payload + crc) + 0x00."""
    if len(payload) > table.max_payload_size:
        raise ProtocolError(
            f"payload of {len(payload)} bytes > table maximum {table.max_payload_size}")
    body = HEADER.pack(PROTOCOL_VERSION, type_id, seq & 0xFFFF, timestamp_us & 0xFFFFFFFF,
                       len(payload)) + payload
    crc = crc32(body, table.crc_extra(type_id))
    return cobs_encode(body + crc.to_bytes(4, "little")) + b"\x00"


class FrameEncoder:
    """Builds frames of one sender, keeping one sequence counter per message type.

    Args:
        table: the message table.
        clock_us: returns the sender's monotonic time in microseconds (header timestamp).
    """

    def __init__(self, table: MessageTable, clock_us: Callable[[], float]) -> None:
        self.table = table
        self._clock_us = clock_us
        self._seq: dict[int, int] = {}

    def encode(self, name: str, values: dict) -> bytes:
        """Wire bytes of message ``name`` with ``values``; advances that type's sequence."""
        message: Message = self.table.message(name)
        seq = self._seq.get(message.id, 0)
        self._seq[message.id] = (seq + 1) & 0xFFFF
        return encode_frame(self.table, message.id, seq, int(self._clock_us()),
                            message.encode(values))

    def reset(self) -> None:
        """Restart every sequence counter at 0 (a new session)."""
        self._seq.clear()
