"""Bounds on ZeroMQ messages, shared by the codec and its structural scan."""

from __future__ import annotations

from dataclasses import dataclass

from shared.errors import ConfigError

MiB = 1 << 20


@dataclass(frozen=True)
class CodecLimits:
    """Bounds every decoded (and encoded) message must stay within."""

    max_message_bytes: int = 64 * MiB
    """Largest whole message in bytes (an ONNX policy must fit)."""
    max_array_elements: int = 16 * MiB
    """Most elements in one numpy array (a zero dimension counts as 1 here)."""
    max_array_dims: int = 8
    """Most dimensions of one numpy array."""
    max_depth: int = 16
    """Deepest nesting of maps/arrays (the envelope map is depth 1)."""
    max_map_len: int = 4096
    """Most entries in one msgpack map."""
    max_array_len: int = 65536
    """Most items in one msgpack array (list)."""
    max_str_len: int = 65536
    """Longest msgpack str in bytes (UTF-8), map keys included."""
    max_bin_len: int = 64 * MiB
    """Longest msgpack bin in bytes (an ONNX file)."""
    max_items: int = 262144
    """Most msgpack objects in one message, keys and containers included (bounds decode time)."""
    max_arrays: int = 1024
    """Most numpy arrays in one message (each costs a Python object of ~200 bytes)."""

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"CodecLimits.{name} must be a positive int, got {value!r}")
        if self.max_array_dims > 255:
            raise ConfigError(f"CodecLimits.max_array_dims {self.max_array_dims} > 255 (one byte)")


DEFAULT_LIMITS = CodecLimits()
