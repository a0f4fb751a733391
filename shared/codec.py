"""msgpack codec with numpy arrays as an explicit ext type, hardened against hostile bytes.

Wire format
-----------
Plain msgpack (``str`` is UTF-8, ``bin`` is raw bytes, maps have ``str`` keys only, no duplicate
keys) plus one ext type, code :data:`ARRAY_EXT_CODE`, whose payload is::

    offset  size       field
    0       1          layout version, always 1
    1       1          dtype code (see DTYPE_CODES: 0 bool, 1 uint8, ... 11 float64)
    2       1          ndim (0 for a scalar array)
    3       1          reserved, always 0
    4       4 * ndim   dimensions, each uint32 little-endian
    4+4*ndim  rest     the elements, little-endian, C (row-major) order, no padding

The byte length of ``rest`` must equal ``prod(shape) * itemsize`` exactly. ``bool`` elements are
one byte each, 0 or 1. No other ext code (the msgpack timestamp ``-1`` included) is accepted.

Decoding
--------
:func:`decode` first walks the bytes once without building anything (:func:`_scan`): it checks
every declared length against the bytes that are left and against :class:`CodecLimits` *before*
anything is allocated, and records where each array payload lies. Only then does msgpack's C
unpacker build the objects (with its own ``max_*_len`` options as a second fence). Arrays are
read-only ``np.frombuffer`` views over the caller's buffer (zero-copy); the caller must not mutate
that buffer while the arrays live. Every failure is a :class:`~shared.errors.ProtocolError`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import msgpack
import numpy as np

from shared.errors import (
    BadArrayError,
    ConfigError,
    LimitExceededError,
    MalformedMessageError,
    MessageTooLargeError,
)
from shared.spec import ALLOWED_DTYPES

#: msgpack ext type code of a numpy array.
ARRAY_EXT_CODE = 1
#: version byte at the start of every array ext payload.
ARRAY_LAYOUT_VERSION = 1
#: dtype code (index) -> dtype name. Fixed forever: new dtypes are appended.
DTYPE_CODES: tuple[str, ...] = (
    "bool", "uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64",
    "float16", "float32", "float64",
)
assert set(DTYPE_CODES) == set(ALLOWED_DTYPES), "codec dtype table out of step with the spec"
_DTYPES = tuple(np.dtype(name).newbyteorder("<") for name in DTYPE_CODES)
_CODE_OF = {dtype.name: code for code, dtype in enumerate(_DTYPES)}
_HEADER = struct.Struct("<BBBB")
MiB = 1 << 20


@dataclass(frozen=True)
class CodecLimits:
    """Bounds every decoded (and encoded) message must stay within."""

    max_message_bytes: int = 64 * MiB
    """Largest whole message in bytes (an ONNX policy must fit)."""
    max_array_elements: int = 16 * MiB
    """Most elements in one numpy array."""
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
    """Most msgpack objects in one message (bounds decode time of many tiny objects)."""

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"CodecLimits.{name} must be a positive int, got {value!r}")
        if self.max_array_dims > 255:
            raise ConfigError(f"CodecLimits.max_array_dims {self.max_array_dims} > 255 (one byte)")


DEFAULT_LIMITS = CodecLimits()


# ----------------------------------------------------------------------------- encoding


def encode_array_payload(array: np.ndarray) -> bytes:
    """The ext payload of one array: header, then little-endian C-order bytes.

    ``array`` may have any shape (0-d, empty, non-contiguous); its dtype must be in the allow-list.
    """
    code = _CODE_OF.get(array.dtype.name)
    if code is None or array.dtype.kind not in "biuf":
        raise BadArrayError(f"cannot send dtype {array.dtype.str!r}; allowed: {DTYPE_CODES}")
    if array.ndim > 255 or any(dim > 0xFFFFFFFF for dim in array.shape):
        raise BadArrayError(f"cannot send shape {array.shape}: ndim <= 255, dims < 2**32")
    contiguous = np.ascontiguousarray(array, dtype=_DTYPES[code])
    header = _HEADER.pack(ARRAY_LAYOUT_VERSION, code, array.ndim, 0)
    dims = struct.pack(f"<{array.ndim}I", *array.shape)
    return b"".join((header, dims, contiguous.reshape(-1).view(np.uint8).data))


def _default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return msgpack.ExtType(ARRAY_EXT_CODE, encode_array_payload(value))
    if isinstance(value, np.bool_ | np.integer | np.floating):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    raise MalformedMessageError(f"cannot encode a value of type {type(value).__name__}")


def encode(value: Any, limits: CodecLimits = DEFAULT_LIMITS) -> bytes:
    """Pack ``value`` (dicts with str keys, lists, str, bytes, numbers, bool, None, arrays).

    Raises:
        MalformedMessageError: a value of an unsupported type (the message names it).
        BadArrayError: an array with a dtype outside the allow-list.
        MessageTooLargeError: the packed bytes exceed ``limits.max_message_bytes``.
    """
    try:
        data = msgpack.packb(value, default=_default, use_bin_type=True, strict_types=False)
    except (TypeError, ValueError, OverflowError) as error:
        raise MalformedMessageError(f"cannot encode message: {error}") from error
    if len(data) > limits.max_message_bytes:
        raise MessageTooLargeError("max_message_bytes", len(data), limits.max_message_bytes)
    return data


# ----------------------------------------------------------------------------- decoding


@dataclass(frozen=True)
class _ArrayPlace:
    offset: int
    dtype: np.dtype
    shape: tuple[int, ...]
    count: int


def decode(data: bytes | bytearray | memoryview, limits: CodecLimits = DEFAULT_LIMITS) -> Any:
    """Unpack one msgpack object from ``data``; arrays are read-only views over ``data``.

    Raises:
        MessageTooLargeError, LimitExceededError, MalformedMessageError, BadArrayError: and
        nothing else, whatever ``data`` holds.
    """
    try:
        view = memoryview(data).cast("B")
    except TypeError as error:
        raise MalformedMessageError(f"cannot read {type(data).__name__} as bytes") from error
    if view.nbytes > limits.max_message_bytes:
        raise MessageTooLargeError("max_message_bytes", view.nbytes, limits.max_message_bytes)
    places = _scan(view, limits)
    arrays = iter([_array_view(view, place) for place in places])
    try:
        return msgpack.unpackb(
            view, raw=False, strict_map_key=True, use_list=True, timestamp=0,
            ext_hook=lambda code, payload: _next_array(arrays, code),
            max_str_len=limits.max_str_len, max_bin_len=limits.max_bin_len,
            max_array_len=limits.max_array_len, max_map_len=limits.max_map_len,
            max_ext_len=limits.max_message_bytes)
    except (msgpack.UnpackException, ValueError, TypeError, OverflowError) as error:
        raise MalformedMessageError(f"not valid msgpack: {error}") from error


def _next_array(arrays: Iterator[np.ndarray], code: int) -> np.ndarray:
    # The scan accepted only ARRAY_EXT_CODE exts and recorded them in stream order, which is the
    # order in which msgpack calls this hook.
    assert code == ARRAY_EXT_CODE, code
    return next(arrays)


def _array_view(view: memoryview, place: _ArrayPlace) -> np.ndarray:
    array = np.frombuffer(view, dtype=place.dtype, count=place.count, offset=place.offset)
    array = array.reshape(place.shape)
    array.flags.writeable = False
    if place.dtype.kind == "b" and place.count and int(array.view(np.uint8).max()) > 1:
        raise BadArrayError("bool array holds a byte other than 0 or 1")
    return array


def _parse_array_header(view: memoryview, start: int, length: int,
                        limits: CodecLimits) -> _ArrayPlace:
    """Check one array ext payload at ``view[start:start+length]`` and locate its elements."""
    if length < _HEADER.size:
        raise BadArrayError(f"array payload of {length} bytes is shorter than its header")
    layout, code, ndim, reserved = _HEADER.unpack_from(view, start)
    if layout != ARRAY_LAYOUT_VERSION or reserved != 0:
        raise BadArrayError(f"array layout {layout} reserved {reserved}; expected 1 and 0")
    if code >= len(_DTYPES):
        raise BadArrayError(f"unknown dtype code {code}; known 0..{len(_DTYPES) - 1}")
    if ndim > limits.max_array_dims:
        raise LimitExceededError("max_array_dims", ndim, limits.max_array_dims)
    data_start = _HEADER.size + 4 * ndim
    if length < data_start:
        raise BadArrayError(f"array payload of {length} bytes too short for {ndim} dims")
    shape = struct.unpack_from(f"<{ndim}I", view, start + _HEADER.size)
    # Zero dims are counted as 1 here so that (2**32-1, 2**32-1, 0) is refused too: numpy
    # cannot represent it even though it holds no element.
    count, bound = 1, 1
    for dim in shape:
        count *= dim
        bound *= max(dim, 1)
    if bound > limits.max_array_elements:
        raise LimitExceededError("max_array_elements", bound, limits.max_array_elements)
    dtype = _DTYPES[code]
    if length - data_start != count * dtype.itemsize:
        raise BadArrayError(
            f"{dtype.name} array of shape {shape} needs {count * dtype.itemsize} bytes, "
            f"payload has {length - data_start}")
    return _ArrayPlace(start + data_start, dtype, shape, count)


_FIXED_SIZES = {
    0xC0: 0, 0xC2: 0, 0xC3: 0, 0xCA: 4, 0xCB: 8, 0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8,
    0xD0: 1, 0xD1: 2, 0xD2: 4, 0xD3: 8,
}
_LENGTH_FORMATS = {1: "B", 2: ">H", 4: ">I"}
_STR_WIDTH = {0xD9: 1, 0xDA: 2, 0xDB: 4}
_BIN_WIDTH = {0xC4: 1, 0xC5: 2, 0xC6: 4}
_EXT_WIDTH = {0xC7: 1, 0xC8: 2, 0xC9: 4}
_FIXEXT_SIZE = {0xD4: 1, 0xD5: 2, 0xD6: 4, 0xD7: 8, 0xD8: 16}
_ARRAY_WIDTH = {0xDC: 2, 0xDD: 4}
_MAP_WIDTH = {0xDE: 2, 0xDF: 4}


class _Cursor:
    """Position in the buffer, with bounds-checked reads."""

    def __init__(self, view: memoryview) -> None:
        self.view = view
        self.position = 0
        self.end = view.nbytes

    def need(self, size: int, what: str) -> None:
        if self.end - self.position < size:
            raise MalformedMessageError(
                f"truncated: {what} needs {size} bytes at offset {self.position}, "
                f"{self.end - self.position} left")

    def length(self, width: int, what: str) -> int:
        self.need(width, what)
        (value,) = struct.unpack_from(_LENGTH_FORMATS[width], self.view, self.position)
        self.position += width
        return value


def _scan(view: memoryview, limits: CodecLimits) -> list[_ArrayPlace]:
    """Walk one msgpack object without building it; return the array payload places in order.

    Checks every declared length against the remaining bytes and the limits, nesting depth,
    total object count, map key types and duplicates, ext codes and array headers, and that no
    bytes trail the object.
    """
    cursor = _Cursor(view)
    places: list[_ArrayPlace] = []
    # One frame per open container: [items left, keys seen (maps) or None (arrays)].
    stack: list[list[Any]] = [[1, None]]
    items = 0
    while stack:
        frame = stack[-1]
        if frame[0] == 0:
            stack.pop()
            continue
        frame[0] -= 1
        items += 1
        if items > limits.max_items:
            raise LimitExceededError("max_items", items, limits.max_items)
        cursor.need(1, "a type byte")
        first = view[cursor.position]
        cursor.position += 1
        is_key = frame[1] is not None and frame[0] % 2 == 1
        if is_key:
            _scan_key(cursor, first, frame[1], limits)
            continue
        opened = _scan_value(cursor, first, limits, places)
        if opened is not None:
            if len(stack) > limits.max_depth:
                raise LimitExceededError("max_depth", len(stack), limits.max_depth)
            stack.append(opened)
    if cursor.position != cursor.end:
        raise MalformedMessageError(
            f"{cursor.end - cursor.position} bytes trail the message at offset {cursor.position}")
    return places


def _scan_key(cursor: _Cursor, first: int, seen: set[str], limits: CodecLimits) -> None:
    if 0xA0 <= first <= 0xBF:
        size = first & 0x1F
    elif first in _STR_WIDTH:
        size = cursor.length(_STR_WIDTH[first], "a key length")
    else:
        raise MalformedMessageError(
            f"map key at offset {cursor.position - 1} is not a str (type byte 0x{first:02x})")
    if size > limits.max_str_len:
        raise LimitExceededError("max_str_len", size, limits.max_str_len, "a map key")
    cursor.need(size, "a map key")
    raw = bytes(cursor.view[cursor.position:cursor.position + size])
    cursor.position += size
    if raw in seen:
        raise MalformedMessageError(f"duplicate map key {raw[:64]!r}")
    seen.add(raw)


def _scan_value(cursor: _Cursor, first: int, limits: CodecLimits,
                places: list[_ArrayPlace]) -> list[Any] | None:
    """Skip one non-key object; return a new stack frame if it opens a container."""
    if first <= 0x7F or first >= 0xE0:
        return None
    if first <= 0x8F:
        return _open(cursor, first & 0x0F, True, limits)
    if first <= 0x9F:
        return _open(cursor, first & 0x0F, False, limits)
    if first <= 0xBF:
        _skip(cursor, first & 0x1F, limits.max_str_len, "max_str_len", "a str")
    elif first in _FIXED_SIZES:
        cursor.need(_FIXED_SIZES[first], f"a scalar (0x{first:02x})")
        cursor.position += _FIXED_SIZES[first]
    elif first in _STR_WIDTH:
        size = cursor.length(_STR_WIDTH[first], "a str length")
        _skip(cursor, size, limits.max_str_len, "max_str_len", "a str")
    elif first in _BIN_WIDTH:
        size = cursor.length(_BIN_WIDTH[first], "a bin length")
        _skip(cursor, size, limits.max_bin_len, "max_bin_len", "a bin")
    elif first in _ARRAY_WIDTH:
        return _open(cursor, cursor.length(_ARRAY_WIDTH[first], "an array length"), False, limits)
    elif first in _MAP_WIDTH:
        return _open(cursor, cursor.length(_MAP_WIDTH[first], "a map length"), True, limits)
    elif first in _FIXEXT_SIZE or first in _EXT_WIDTH:
        places.append(_scan_ext(cursor, first, limits))
    else:
        raise MalformedMessageError(
            f"type byte 0x{first:02x} at offset {cursor.position - 1} is not valid msgpack")
    return None


def _skip(cursor: _Cursor, size: int, maximum: int, limit: str, what: str) -> None:
    if size > maximum:
        raise LimitExceededError(limit, size, maximum, what)
    cursor.need(size, what)
    cursor.position += size


def _open(cursor: _Cursor, count: int, is_map: bool, limits: CodecLimits) -> list[Any]:
    limit, maximum = ("max_map_len", limits.max_map_len) if is_map else (
        "max_array_len", limits.max_array_len)
    if count > maximum:
        raise LimitExceededError(limit, count, maximum)
    items = 2 * count if is_map else count
    # Every item takes at least one byte: refuse counts the remaining bytes cannot hold.
    cursor.need(items, f"a {'map' if is_map else 'list'} of {count}")
    return [items, set() if is_map else None]


def _scan_ext(cursor: _Cursor, first: int, limits: CodecLimits) -> _ArrayPlace:
    if first in _FIXEXT_SIZE:
        size = _FIXEXT_SIZE[first]
    else:
        size = cursor.length(_EXT_WIDTH[first], "an ext length")
    cursor.need(1 + size, "an ext")
    code = struct.unpack_from("b", cursor.view, cursor.position)[0]
    if code != ARRAY_EXT_CODE:
        raise MalformedMessageError(f"unknown ext type code {code}; only {ARRAY_EXT_CODE} (array)")
    place = _parse_array_header(cursor.view, cursor.position + 1, size, limits)
    cursor.position += 1 + size
    return place
