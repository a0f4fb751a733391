"""Errors raised on purpose by the learning core."""

from __future__ import annotations

from shared.errors import DaydreamerError


class LearnerError(DaydreamerError):
    """The learner cannot work with a spec, config or state (message names the values)."""


class BatchError(LearnerError):
    """A training batch has missing keys or wrong shapes (message names key and shapes)."""
