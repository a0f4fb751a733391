"""Tests of shared.codec: array ext round trips, zero-copy decoding, limits, hostile bytes."""

from __future__ import annotations

import builtins
import dataclasses
import pickle
import struct
import tracemalloc

import msgpack
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from shared.codec import (
    ARRAY_EXT_CODE,
    DEFAULT_LIMITS,
    DTYPE_CODES,
    CodecLimits,
    decode,
    encode,
    encode_array_payload,
)
from shared.errors import (
    BadArrayError,
    ConfigError,
    LimitExceededError,
    MalformedMessageError,
    MessageTooLargeError,
    ProtocolError,
)
from shared.spec import ALLOWED_DTYPES

SETTINGS = settings(max_examples=150, deadline=None)


def _arrays() -> st.SearchStrategy[np.ndarray]:
    dtypes = st.sampled_from(ALLOWED_DTYPES).map(np.dtype)
    shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5)
    return dtypes.flatmap(lambda dtype: hnp.arrays(dtype, shapes))


def _views(array: np.ndarray, choice: int) -> np.ndarray:
    """The same values laid out differently: non-contiguous, Fortran, big-endian."""
    if choice == 1 and array.ndim:
        return np.repeat(array, 2, axis=0)[::2]
    if choice == 2 and array.ndim:
        return np.asfortranarray(array)  # (of a 0-d array it would be 1-d)
    if choice == 3:
        return array.astype(array.dtype.newbyteorder(">"))
    return array


@SETTINGS
@given(array=_arrays(), layout=st.integers(0, 3))
def test_array_round_trip_every_dtype_and_shape(array: np.ndarray, layout: int) -> None:
    source = _views(array, layout)
    decoded = decode(encode({"a": source, "nested": [source]}))
    for value in (decoded["a"], decoded["nested"][0]):
        assert value.dtype == array.dtype.newbyteorder("<")
        assert value.dtype.byteorder in "<=|"
        assert value.shape == array.shape
        np.testing.assert_array_equal(value, array)
        assert value.tobytes() == np.ascontiguousarray(array).astype(
            array.dtype.newbyteorder("<")).tobytes()  # bit-exact, NaN payloads included


@SETTINGS
@given(value=st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats() | st.text(
        max_size=20) | st.binary(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.text(max_size=8), children, max_size=4), max_leaves=20))
def test_plain_values_round_trip(value: object) -> None:
    assert _same(decode(encode(value)), value)


def _same(left: object, right: object) -> bool:
    if isinstance(left, float) and isinstance(right, float) and np.isnan(left):
        return bool(np.isnan(right))
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(_same, left, right))
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_same(left[k], right[k]) for k in left)
    return type(left) is type(right) and left == right


def test_array_payload_layout_is_the_documented_one() -> None:
    array = np.arange(6, dtype=np.int16).reshape(2, 3)
    payload = encode_array_payload(array)
    assert payload[:4] == bytes([1, DTYPE_CODES.index("int16"), 2, 0])
    assert struct.unpack("<2I", payload[4:12]) == (2, 3)
    assert payload[12:] == array.astype("<i2").tobytes()
    assert encode_array_payload(np.array(1.5))[:4] == bytes([1, 11, 0, 0])


def test_decoded_arrays_share_memory_with_the_input_and_are_read_only() -> None:
    image = np.random.default_rng(0).integers(0, 255, (8, 64, 64, 3), dtype=np.uint8)
    data = encode({"image": image, "reward": np.ones(8, np.float32)})
    decoded = decode(data)
    whole = np.frombuffer(data, np.uint8)
    for value in decoded.values():
        assert np.shares_memory(value, whole)
        assert not value.flags.writeable
        with pytest.raises(ValueError):
            value[...] = 0
    mutable = bytearray(data)
    from_bytearray = decode(mutable)["image"]
    assert np.shares_memory(from_bytearray, np.frombuffer(mutable, np.uint8))
    assert not from_bytearray.flags.writeable
    assert np.array_equal(decode(memoryview(data))["image"], image)


@pytest.mark.parametrize("value", [
    np.zeros(2, np.complex64), np.array(["a"]), np.array([object()]),
    np.zeros(2, "datetime64[s]"), np.zeros(2, [("x", "f4")])])
def test_dtypes_outside_the_allow_list_are_refused_on_encode(value: np.ndarray) -> None:
    with pytest.raises(BadArrayError, match="dtype"):
        encode({"a": value})


def test_unsupported_python_values_are_refused_not_pickled() -> None:
    class Thing:
        pass

    for value in (Thing(), {1, 2}, {"a": Thing()}, 1 + 2j):
        with pytest.raises(MalformedMessageError, match="cannot encode"):
            encode(value)


def _raw_array(code: int, ndim: int, dims: list[int], body: bytes, layout: int = 1,
               ext: int = ARRAY_EXT_CODE) -> bytes:
    payload = struct.pack("<BBBB", layout, code, ndim, 0) + struct.pack(f"<{len(dims)}I", *dims)
    return msgpack.packb({"a": msgpack.ExtType(ext, payload + body)})


@pytest.mark.parametrize("data, match", [
    (_raw_array(0, 1, [2], b"\x00\x02"), "bool array holds a byte"),
    (_raw_array(12, 1, [1], b"\x00"), "unknown dtype code 12"),
    (_raw_array(10, 1, [2], b"\x00" * 7), "needs 8 bytes, payload has 7"),
    (_raw_array(10, 1, [2], b"\x00" * 9), "needs 8 bytes, payload has 9"),
    (_raw_array(10, 2, [2], b""), "too short for 2 dims"),
    (_raw_array(10, 1, [1], b"\x00" * 4, layout=2), "layout 2"),
    (msgpack.packb({"a": msgpack.ExtType(1, b"\x01")}), "shorter than its header"),
])
def test_bad_array_payloads_are_refused(data: bytes, match: str) -> None:
    with pytest.raises(BadArrayError, match=match):
        decode(data)


@pytest.mark.parametrize("data, match", [
    (msgpack.packb({"a": msgpack.ExtType(2, b"xx")}), "unknown ext type code 2"),
    (b"\x81\xa1a\xd6\xff\x00\x00\x00\x00", "unknown ext type code -1"),  # msgpack timestamp
    (b"\x82\xa1a\x01\xa1a\x02", "duplicate map key str 'a'"),
    (b"\x81\x01\x02", "map key"),
    (b"\x81\xc4\x01a\x02", "map key bytes b'a' is not a str"),
    (b"\x91\x01\x02", "1 bytes trail"),
    (b"\xc1", "not valid msgpack"),
    (b"", "truncated"),
    (b"\x92\x01", "truncated"),
    (b"\x81\xa2\xff\xfe\x01", "not valid msgpack"),  # key is not UTF-8
])
def test_malformed_msgpack_is_refused(data: bytes, match: str) -> None:
    with pytest.raises(MalformedMessageError, match=match):
        decode(data)


SMALL = CodecLimits(max_message_bytes=4096, max_array_elements=10, max_array_dims=2, max_depth=3,
                    max_map_len=3, max_array_len=4, max_str_len=5, max_bin_len=6, max_items=20,
                    max_arrays=2)
LIMIT_CASES = {
    "max_message_bytes": msgpack.packb(b"x" * 5000),
    "max_array_elements": encode(np.zeros(11, np.uint8)),
    "max_array_dims": encode(np.zeros((1, 1, 1), np.uint8)),
    "max_depth": msgpack.packb([[[[1]]]]),
    "max_map_len": msgpack.packb({"a": 1, "b": 2, "c": 3, "d": 4}),
    "max_array_len": msgpack.packb([1, 2, 3, 4, 5]),
    "max_str_len": msgpack.packb("abcdef"),
    "max_bin_len": msgpack.packb(b"abcdefg"),
    "max_items": msgpack.packb([[1, 2, 3, 4]] * 4),
    "max_arrays": encode([np.zeros(1, np.uint8)] * 3),
}


def test_every_limit_has_a_case() -> None:
    assert set(LIMIT_CASES) == {field.name for field in dataclasses.fields(CodecLimits)}


@pytest.mark.parametrize("limit", sorted(LIMIT_CASES))
def test_each_limit_raises_its_own_error(limit: str) -> None:
    with pytest.raises(LimitExceededError) as caught:
        decode(LIMIT_CASES[limit], SMALL)
    assert caught.value.limit == limit
    assert caught.value.maximum == getattr(SMALL, limit)
    assert caught.value.value > caught.value.maximum
    assert str(caught.value.maximum) in str(caught.value)
    if limit == "max_message_bytes":
        assert isinstance(caught.value, MessageTooLargeError)
    decode(LIMIT_CASES[limit], DEFAULT_LIMITS)  # within the defaults: accepted


@pytest.mark.parametrize("limit", sorted(set(LIMIT_CASES) - {"max_message_bytes"}))
def test_each_limit_is_also_enforced_when_encoding(limit: str) -> None:
    value = decode(LIMIT_CASES[limit])
    with pytest.raises(LimitExceededError) as caught:
        encode(value, SMALL)
    assert caught.value.limit == limit


def test_map_keys_count_against_max_str_len() -> None:
    with pytest.raises(LimitExceededError, match="max_str_len exceeded at a str: 8 > 5"):
        decode(msgpack.packb({"abcdefgh": 1}), SMALL)


def test_encode_refuses_messages_over_the_size_limit() -> None:
    with pytest.raises(MessageTooLargeError, match="5"):
        encode(b"x" * 5000, SMALL)


def test_limits_are_validated() -> None:
    with pytest.raises(ConfigError, match="max_depth"):
        CodecLimits(max_depth=0)
    with pytest.raises(ConfigError, match="max_array_dims"):
        CodecLimits(max_array_dims=300)


@pytest.mark.parametrize("data", [
    b"\xc6\xff\xff\xff\xff",  # bin of 4 GiB declared
    b"\xdb\xff\xff\xff\xff",  # str of 4 GiB declared
    b"\xdd\x00\x00\xff\xff" + b"\xdd\x00\x00\xff\xff" * 500,  # nested lists of 65535 declared
    b"\xdf\x00\x00\x0f\xff" + b"\xc0" * 100,  # map of 4095 pairs, 100 bytes left
    b"\x91" * 1_000_000,  # nesting bomb
    msgpack.packb({"a": msgpack.ExtType(1, struct.pack("<BBBB3I", 1, 11, 3, 0, 4096, 4096, 64))}),
])
def test_huge_declared_sizes_fail_before_allocating(data: bytes) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(ProtocolError):
            decode(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 200_000, f"decoder allocated {peak} bytes for a {len(data)}-byte input"


def test_pickle_payloads_are_never_executed() -> None:
    payload = pickle.dumps(_Exploit())
    with pytest.raises(ProtocolError):
        decode(payload)
    # As a bin field a pickle is just bytes: returned as such, never loaded.
    assert decode(msgpack.packb({"blob": payload}))["blob"] == payload
    assert not hasattr(builtins, _FLAG)
    try:
        pickle.loads(payload)  # the payload really does act when unpickled
        assert getattr(builtins, _FLAG) is True
    finally:
        delattr(builtins, _FLAG)


_FLAG = "_daydreamer_pickle_ran"


class _Exploit:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (exec, (f"import builtins; builtins.{_FLAG} = True",))
