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
:func:`decode` first walks the bytes once without building anything
(:func:`shared.msgpack_scan.scan`): it checks every declared length against the bytes that are
left and against :class:`CodecLimits` *before* anything is allocated, and records where each
array payload lies. Only then does msgpack's C unpacker build the objects (with its own
``max_*_len`` options as a second fence; map keys must be str and unique). Arrays are read-only
``np.frombuffer`` views over the caller's buffer (zero-copy); the caller must not mutate that
buffer while the arrays live. Every failure is a :class:`~shared.errors.ProtocolError`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

import msgpack
import numpy as np

from shared.codec_limits import DEFAULT_LIMITS, CodecLimits
from shared.errors import (
    BadArrayError,
    LimitExceededError,
    MalformedMessageError,
    MessageTooLargeError,
    short_repr,
)
from shared.msgpack_scan import scan
from shared.spec import ALLOWED_DTYPES

__all__ = [
    "ARRAY_EXT_CODE", "DEFAULT_LIMITS", "DTYPE_CODES", "CodecLimits", "decode", "encode",
    "encode_array_payload",
]

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
_CODE_OF = {dtype: code for code, dtype in enumerate(_DTYPES)}
_HEADER = struct.Struct("<BBBB")


# ----------------------------------------------------------------------------- encoding


def encode_array_payload(array: np.ndarray) -> bytes:
    """The ext payload of one array: header, then little-endian C-order bytes.

    ``array`` may have any shape (0-d, empty, non-contiguous); its dtype must be in the allow-list.
    """
    code = _CODE_OF.get(array.dtype)
    if code is None and array.dtype.kind in "biuf":
        code = _CODE_OF.get(array.dtype.newbyteorder("<"))  # big-endian input
    if code is None:
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

    The packed bytes are walked against ``limits`` as a receiver would, so that a message the
    receiver would refuse for its size fails here, at the sender. (Map keys are not checked here:
    a non-str key fails at the receiver.)

    Raises:
        MalformedMessageError: a value of an unsupported type (the message names it).
        BadArrayError: an array with a dtype outside the allow-list.
        MessageTooLargeError, LimitExceededError: the message exceeds ``limits``.
    """
    try:
        data = msgpack.packb(value, default=_default, use_bin_type=True, strict_types=False)
    except (TypeError, ValueError, OverflowError) as error:
        raise MalformedMessageError(f"cannot encode message: {error}") from error
    if len(data) > limits.max_message_bytes:
        raise MessageTooLargeError("max_message_bytes", len(data), limits.max_message_bytes)
    view = memoryview(data)
    for start, length in scan(view, limits, ARRAY_EXT_CODE):
        _array_at(view, start, length, limits)
    return data


# ----------------------------------------------------------------------------- decoding


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
    places = scan(view, limits, ARRAY_EXT_CODE)
    arrays = iter([(length, _array_at(view, start, length, limits)) for start, length in places])
    try:
        return msgpack.unpackb(
            view, raw=False, strict_map_key=True, use_list=True, timestamp=0,
            ext_hook=lambda code, payload: _next_array(arrays, code, payload),
            object_pairs_hook=_to_dict,
            max_str_len=limits.max_str_len, max_bin_len=limits.max_bin_len,
            max_array_len=limits.max_array_len, max_map_len=limits.max_map_len,
            max_ext_len=limits.max_message_bytes)
    except (msgpack.UnpackException, ValueError, TypeError, OverflowError) as error:
        raise MalformedMessageError(f"not valid msgpack: {error}") from error


def _to_dict(pairs: list[tuple[Any, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[Any] = set()
        for key, _ in pairs:
            if key in seen:
                raise MalformedMessageError(f"duplicate map key {short_repr(key, 64)}")
            seen.add(key)
    for key in result:
        if type(key) is not str:
            raise MalformedMessageError(f"map key {short_repr(key, 64)} is not a str")
    return result


def _next_array(arrays: Iterator[tuple[int, np.ndarray]], code: int,
                payload: bytes) -> np.ndarray:
    # The scan accepted only ARRAY_EXT_CODE exts and recorded them in stream order, which is the
    # order in which msgpack calls this hook. Checked anyway: a disagreement between the scan and
    # msgpack must surface as a ProtocolError, never as another exception.
    length, array = next(arrays, (-1, None))
    if array is None or code != ARRAY_EXT_CODE or length != len(payload):
        raise MalformedMessageError(f"ext {code} of {len(payload)} bytes was not scanned")
    return array


def _array_at(view: memoryview, start: int, length: int, limits: CodecLimits) -> np.ndarray:
    """The array whose ext payload is ``view[start:start+length]``, as a read-only view."""
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
            f"{DTYPE_CODES[code]} array of shape {shape} needs {count * dtype.itemsize} bytes, "
            f"payload has {length - data_start}")
    array = np.frombuffer(view, dtype, count, start + data_start).reshape(shape)
    array.flags.writeable = False
    if code == 0 and count and int(array.view(np.uint8).max()) > 1:
        raise BadArrayError("bool array holds a byte other than 0 or 1")
    return array
