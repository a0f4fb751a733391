"""Errors raised by the persistent replay."""

from __future__ import annotations

from shared.errors import DaydreamerError


class ReplayError(DaydreamerError):
    """Base of the replay's errors."""


class ReplayInputError(ReplayError):
    """Steps handed to :meth:`Replay.add` do not match the replay's columns or are malformed."""


class ChunkFileError(ReplayError):
    """A chunk or segment file is torn, corrupt or not in this format. Names path and reason."""


class ReplayEmptyError(ReplayError):
    """Sampling was asked for but no window of the requested length is stored yet."""
