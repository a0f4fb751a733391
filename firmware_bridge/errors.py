"""Errors of the serial firmware bridge.

Every message carries the offending values (hashes, keys, sizes) so a log line is actionable.
"""

from __future__ import annotations

from shared.errors import DaydreamerError, SpecMismatchError


class BridgeError(DaydreamerError):
    """Base of every error raised on purpose by :mod:`firmware_bridge`."""


class ProtocolError(BridgeError):
    """A message table, payload or frame is malformed."""


class PayloadError(ProtocolError):
    """Values do not fit a message's field layout (missing/unknown field, count, range)."""


class TableMismatchError(BridgeError, SpecMismatchError):
    """Host and firmware were built from different message tables; both hashes are named."""


class TransportError(BridgeError):
    """The byte transport failed (port cannot be opened, write timed out, port closed)."""


class LinkTimeoutError(BridgeError):
    """A request got no reply within the configured retries (handshake, config, e-stop)."""


class CommandError(BridgeError):
    """A command is invalid for the connected firmware (wrong joint count, non-finite)."""


class RequestRejectedError(BridgeError):
    """The firmware answered a request with a non-OK status (unknown key, out of range)."""


class NotConnectedError(BridgeError):
    """The driver was used before a successful handshake or after it was closed."""
