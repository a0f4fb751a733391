"""The ZeroMQ message envelope: ``{version, kind, seq, time, payload}`` packed with msgpack.

Sending::

    data = encode_message(Heartbeat(), seq=41)          # bytes for one ZeroMQ frame
    envelope = decode_message(data)                     # Envelope(version=1, kind="HEARTBEAT", ...)
    envelope.message                                    # Heartbeat()

Fields of the envelope (a msgpack map with exactly these str keys):

``version``  int, :data:`PROTOCOL_VERSION`; checked first, before anything else is read.
``kind``     str, a key of :data:`shared.messages.MESSAGE_TYPES` (``"HELLO"``, ``"ACK"`` ...).
``seq``      uint64, the sender's message counter on this connection (+1 per message).
``time``     float, sender wall-clock ``time.time()`` in seconds at encoding (for latency stats;
             never used for ordering).
``payload``  map, the message fields (see :mod:`shared.messages`).

:func:`decode_message` returns an :class:`Envelope` or raises a
:class:`~shared.errors.ProtocolError` subclass, whatever bytes it is given (see docs/PROTOCOL.md).
"""

from __future__ import annotations

import time as time_module
from dataclasses import dataclass
from typing import Any

from shared import message_fields as check
from shared.codec import DEFAULT_LIMITS, CodecLimits, decode, encode
from shared.errors import (
    MalformedMessageError,
    UnknownKindError,
    VersionMismatchError,
    short_repr,
)
from shared.messages import (
    MESSAGE_TYPES,
    PROTOCOL_VERSION,
    Ack,
    Heartbeat,
    Hello,
    Message,
    Policy,
    Reject,
    RejectCode,
    Stats,
    Transitions,
    Welcome,
)

__all__ = [
    "MESSAGE_TYPES", "PROTOCOL_VERSION", "Ack", "Envelope", "Heartbeat", "Hello", "Message",
    "Policy", "Reject", "RejectCode", "Stats", "Transitions", "Welcome", "decode_message",
    "encode_message",
]

ENVELOPE_FIELDS = ("version", "kind", "seq", "time", "payload")


@dataclass(frozen=True)
class Envelope:
    """One decoded message with its envelope fields."""

    version: int
    """Protocol version the sender speaks (always :data:`PROTOCOL_VERSION` once decoded)."""
    kind: str
    """Wire name of the message kind, e.g. ``"TRANSITIONS"``."""
    seq: int
    """Sender's message counter (uint64)."""
    time: float
    """Sender's ``time.time()`` when it encoded the message, seconds."""
    message: Message
    """The typed message (its class matches ``kind``)."""


def encode_message(message: Message, seq: int, time: float | None = None,
                   limits: CodecLimits = DEFAULT_LIMITS) -> bytes:
    """Pack ``message`` in an envelope; ``time`` defaults to ``time.time()``.

    Raises:
        MalformedMessageError: ``seq``/``time`` out of range or an unencodable field.
        MessageTooLargeError, LimitExceededError: the packed message exceeds ``limits`` (the
            same check a receiver with the same limits makes).
    """
    kind = getattr(type(message), "KIND", None)
    if MESSAGE_TYPES.get(kind) is not type(message):
        raise MalformedMessageError(f"{type(message).__name__} is not a message kind")
    envelope = {
        "version": PROTOCOL_VERSION,
        "kind": kind,
        "seq": check.integer("envelope", "seq", seq),
        "time": check.real("envelope", "time", time_module.time() if time is None else time),
        "payload": message.to_payload(),
    }
    return encode(envelope, limits)


def decode_message(data: bytes | bytearray | memoryview,
                   limits: CodecLimits = DEFAULT_LIMITS) -> Envelope:
    """Unpack and validate one message; arrays in it are read-only views over ``data``.

    Raises:
        VersionMismatchError: the peer speaks another :data:`PROTOCOL_VERSION`.
        UnknownKindError: ``kind`` is not a known message kind.
        MessageTooLargeError, LimitExceededError, BadArrayError, MalformedMessageError:
            anything else wrong. No other exception escapes, whatever ``data`` holds.
    """
    document = decode(data, limits)
    if not isinstance(document, dict):
        raise MalformedMessageError(
            f"a message must be a map, got {type(document).__name__}")
    _check_version(document.get("version"))
    fields = check.check_names("envelope", document, ENVELOPE_FIELDS)
    kind = fields["kind"]
    message_type = MESSAGE_TYPES.get(kind) if isinstance(kind, str) else None
    if message_type is None:
        raise UnknownKindError(
            f"unknown message kind {short_repr(kind)}; known kinds: {sorted(MESSAGE_TYPES)}")
    seq = check.integer("envelope", "seq", fields["seq"])
    sent = check.real("envelope", "time", fields["time"])
    message = message_type.from_payload(fields["payload"])
    if isinstance(message, Hello) and message.protocol_version != PROTOCOL_VERSION:
        raise VersionMismatchError(PROTOCOL_VERSION, message.protocol_version)
    return Envelope(PROTOCOL_VERSION, kind, seq, sent, message)


def _check_version(version: Any) -> None:
    if isinstance(version, bool) or not isinstance(version, int):
        raise MalformedMessageError(
            f"envelope.version: expected an int, got {short_repr(version, 40)}")
    if version != PROTOCOL_VERSION:
        raise VersionMismatchError(PROTOCOL_VERSION, version)

