"""A structural walk over msgpack bytes that builds nothing: the decoder's first fence.

:func:`scan` reads one msgpack object from a buffer and checks, before any Python object is
allocated for it, that every declared length fits in the bytes that are left and within
:class:`~shared.codec_limits.CodecLimits` (nesting depth, map/array/str/bin lengths, total number
of objects, number of ext objects), that every type byte is valid msgpack, that ext objects carry
the one allowed code, and that no bytes trail the object. It returns where each ext payload lies.
Map keys are walked like values; their types and uniqueness are checked while building.

A container that declares ``n`` items needs at least ``n`` more bytes (every item takes one), so
a 5-byte header claiming 4 billion items is refused at once instead of allocating a list for them.
"""

from __future__ import annotations

import struct

from shared.codec_limits import CodecLimits
from shared.errors import LimitExceededError, MalformedMessageError

# Actions of the per-type-byte table.
_SKIP, _STR, _BIN, _ARRAY, _MAP, _EXT, _FIXEXT, _BAD = range(8)
_LENGTH = {1: struct.Struct(">B"), 2: struct.Struct(">H"), 4: struct.Struct(">I")}


def _build_table() -> list[tuple[int, int]]:
    """type byte -> (action, argument): bytes to skip, length width, element count or size."""
    table = [(_BAD, 0)] * 256
    for byte in range(0x00, 0x80):
        table[byte] = (_SKIP, 0)  # positive fixint
    for byte in range(0xE0, 0x100):
        table[byte] = (_SKIP, 0)  # negative fixint
    for byte in range(0x80, 0x90):
        table[byte] = (_MAP, ~(byte & 0x0F))  # fixmap: negative argument = ~count, inline
    for byte in range(0x90, 0xA0):
        table[byte] = (_ARRAY, ~(byte & 0x0F))
    for byte in range(0xA0, 0xC0):
        table[byte] = (_STR, ~(byte & 0x1F))
    fixed = {0xC0: 0, 0xC2: 0, 0xC3: 0, 0xCA: 4, 0xCB: 8, 0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8,
             0xD0: 1, 0xD1: 2, 0xD2: 4, 0xD3: 8}
    for byte, size in fixed.items():
        table[byte] = (_SKIP, size)
    for widths, action in (({0xD9: 1, 0xDA: 2, 0xDB: 4}, _STR), ({0xC4: 1, 0xC5: 2, 0xC6: 4}, _BIN),
                           ({0xDC: 2, 0xDD: 4}, _ARRAY), ({0xDE: 2, 0xDF: 4}, _MAP),
                           ({0xC7: 1, 0xC8: 2, 0xC9: 4}, _EXT)):
        for byte, width in widths.items():
            table[byte] = (action, width)
    for byte, size in {0xD4: 1, 0xD5: 2, 0xD6: 4, 0xD7: 8, 0xD8: 16}.items():
        table[byte] = (_FIXEXT, size)
    return table


_TABLE = _build_table()


def _truncated(what: str, need: int, position: int, end: int) -> MalformedMessageError:
    return MalformedMessageError(
        f"truncated: {what} needs {need} bytes at offset {position}, {end - position} left")


def scan(view: memoryview, limits: CodecLimits, ext_code: int) -> list[tuple[int, int]]:
    """Walk one msgpack object in ``view`` (format ``B``); return ``(offset, length)`` of each ext
    payload (after its code byte), in stream order.

    Raises:
        LimitExceededError: a length, the depth, the object count or the ext count is too large.
        MalformedMessageError: invalid type byte, truncation, wrong ext code, trailing bytes.
    """
    end = view.nbytes
    position = 0
    places: list[tuple[int, int]] = []
    remaining = [1]  # items left to read in each open container; the bottom one is the root
    items = 0
    table = _TABLE
    while remaining:
        if not remaining[-1]:
            remaining.pop()
            continue
        remaining[-1] -= 1
        items += 1
        if items > limits.max_items:
            raise LimitExceededError("max_items", items, limits.max_items)
        if position >= end:
            raise _truncated("a type byte", 1, position, end)
        action, argument = table[view[position]]
        position += 1
        if action == _SKIP:
            size = argument
        elif action == _STR and argument < 0:  # fixstr, the most common by far (map keys)
            size = ~argument
            if size > limits.max_str_len:
                raise LimitExceededError("max_str_len", size, limits.max_str_len, "a str")
        elif action == _BAD:
            raise MalformedMessageError(
                f"type byte 0x{view[position - 1]:02x} at offset {position - 1} is not valid "
                "msgpack")
        else:
            if action == _FIXEXT:
                count = argument
            elif argument < 0:
                count = ~argument
            else:
                if end - position < argument:
                    raise _truncated("a length field", argument, position, end)
                count = _LENGTH[argument].unpack_from(view, position)[0]
                position += argument
            if action in (_ARRAY, _MAP):
                _check_container(action, count, len(remaining), end - position, limits)
                remaining.append(2 * count if action == _MAP else count)
                continue
            size = _check_sized(action, count, position, end, view, ext_code, limits, places)
        if end - position < size:
            raise _truncated("a value", size, position, end)
        position += size
    if position != end:
        raise MalformedMessageError(
            f"{end - position} bytes trail the message at offset {position}")
    return places


def _check_container(action: int, count: int, depth: int, left: int, limits: CodecLimits) -> None:
    """Check a map/array header of ``count`` entries opened at nesting ``depth``."""
    if action == _MAP and count > limits.max_map_len:
        raise LimitExceededError("max_map_len", count, limits.max_map_len)
    if action == _ARRAY and count > limits.max_array_len:
        raise LimitExceededError("max_array_len", count, limits.max_array_len)
    if depth > limits.max_depth:
        raise LimitExceededError("max_depth", depth, limits.max_depth)
    items = 2 * count if action == _MAP else count
    if items > left:  # every item takes at least one byte
        kind = "map" if action == _MAP else "array"
        raise MalformedMessageError(
            f"truncated: a {kind} of {count} entries needs {items} bytes or more, {left} left")


def _check_sized(action: int, size: int, position: int, end: int, view: memoryview,
                 ext_code: int, limits: CodecLimits, places: list[tuple[int, int]]) -> int:
    """Check a str/bin/ext of ``size`` payload bytes; return the bytes to skip."""
    if action == _STR:
        if size > limits.max_str_len:
            raise LimitExceededError("max_str_len", size, limits.max_str_len, "a str")
        return size
    if action == _BIN:
        if size > limits.max_bin_len:
            raise LimitExceededError("max_bin_len", size, limits.max_bin_len, "a bin")
        return size
    if end - position < size + 1:
        raise _truncated("an ext", size + 1, position, end)
    code = struct.unpack_from("b", view, position)[0]
    if code != ext_code:
        raise MalformedMessageError(f"unknown ext type code {code}; only {ext_code} (array)")
    if len(places) >= limits.max_arrays:
        raise LimitExceededError("max_arrays", len(places) + 1, limits.max_arrays)
    places.append((position + 1, size))
    return size + 1
