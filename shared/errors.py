"""Error hierarchy of the shared contract.

Every error carries the offending values in its message so that a person reading a log can act on
it without a debugger. Packages add their own subclasses of :class:`DaydreamerError`.
"""

from __future__ import annotations


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
