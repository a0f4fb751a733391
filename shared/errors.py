"""Error hierarchy of the shared contract.

Every error carries the offending values in its message so that a person reading a log can act on
it without a debugger. Packages add their own subclasses of :class:`DaydreamerError`.
"""

from __future__ import annotations

from typing import Any


def short_repr(value: Any, width: int = 80) -> str:
    """Type name and ``repr`` of ``value`` cut to about ``width`` characters, for error messages.

    Never builds the full repr of a long str/bytes/container first (a hostile 64 MiB field must not
    cost 256 MiB of error message).
    """
    if isinstance(value, str | bytes | bytearray):
        shown = repr(value[:width])
    elif isinstance(value, list | tuple | dict | set | frozenset):
        shown = f"of {len(value)} items"
    else:
        shown = repr(value)
    if len(shown) > width:
        shown = shown[:width - 3] + "..."
    return f"{type(value).__name__} {shown}"


class DaydreamerError(Exception):
    """Base of every error raised on purpose by daydreamer code."""


class SpecError(DaydreamerError):
    """A spec itself is malformed (bad dtype, shape, bounds or key)."""


class SpecViolationError(SpecError):
    """A value does not match its spec. The message names key, expected and actual."""


class SpecMismatchError(DaydreamerError):
    """Two ends hold different specs. The message shows both hashes (and both specs if known)."""


class ConfigError(DaydreamerError):
    """A configuration file or override is invalid. The message names the key."""


class ProtocolError(DaydreamerError):
    """A ZeroMQ wire message cannot be encoded or decoded.

    The decoder (:func:`shared.protocol.decode_message`) raises only subclasses of this error,
    whatever bytes it is fed; the message names the field and the offending value or limit.
    """


class MalformedMessageError(ProtocolError):
    """The bytes are not valid msgpack, or the envelope/payload does not match its schema
    (missing or unknown field, wrong type, value out of range, trailing bytes)."""


class LimitExceededError(ProtocolError):
    """A decoded (or to-be-encoded) message exceeds one of :class:`shared.codec.CodecLimits`.

    Attributes:
        limit: name of the limit field, e.g. ``"max_depth"``.
        value: the size that was seen (or declared) in the message.
        maximum: the configured limit.
    """

    def __init__(self, limit: str, value: int, maximum: int, where: str = "") -> None:
        self.limit = limit
        self.value = value
        self.maximum = maximum
        place = f" at {where}" if where else ""
        super().__init__(f"{limit} exceeded{place}: {value} > {maximum}")


class MessageTooLargeError(LimitExceededError):
    """The whole message is larger than ``CodecLimits.max_message_bytes``."""


class UnknownKindError(ProtocolError):
    """The envelope names a message kind this end does not know."""


class VersionMismatchError(ProtocolError):
    """The peer speaks another protocol version.

    Attributes:
        local: this end's :data:`shared.protocol.PROTOCOL_VERSION`.
        remote: the version the peer sent.
    """

    def __init__(self, local: int, remote: object) -> None:
        self.local = local
        self.remote = remote
        super().__init__(
            f"protocol version mismatch: this end speaks {local}, the peer sent {remote!r}; "
            "upgrade the older side so both run the same daydreamer release")


class BadArrayError(ProtocolError):
    """An array (numpy ext type) is invalid: unknown dtype code, bad header, length that does not
    match dtype and shape, a bool byte other than 0/1, or a dtype outside the allow-list."""
