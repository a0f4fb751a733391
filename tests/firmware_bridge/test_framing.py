"""Framing: CRC test vector, COBS vectors, frame round trips at arbitrary split points."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge.errors import ProtocolError
from firmware_bridge.framing import (
    HEADER_SIZE,
    CobsError,
    FrameEncoder,
    cobs_decode,
    cobs_encode,
    crc32,
    encode_frame,
    max_encoded_size,
    max_frame_size,
)
from firmware_bridge.messages import TABLE
from firmware_bridge.parser import Frame, FrameParser


def test_crc32_test_vector() -> None:
    assert crc32(b"123456789") == 0xCBF43926
    assert crc32(b"1234", b"56789") == 0xCBF43926


@pytest.mark.parametrize(("decoded", "encoded"), [
    (b"", b"\x01"),
    (b"\x00", b"\x01\x01"),
    (b"\x00\x00", b"\x01\x01\x01"),
    (b"\x11\x22\x00\x33", b"\x03\x11\x22\x02\x33"),
    (b"\x11\x00\x00\x00", b"\x02\x11\x01\x01\x01"),
    (bytes(range(1, 255)), b"\xff" + bytes(range(1, 255))),
    (bytes(range(0, 255)), b"\x01\xff" + bytes(range(1, 255))),
    (bytes(range(1, 256)), b"\xff" + bytes(range(1, 255)) + b"\x02\xff"),
    (bytes(range(2, 256)) + b"\x00", b"\xff" + bytes(range(2, 256)) + b"\x01\x01"),
    (bytes(range(3, 256)) + b"\x00\x01", b"\xfe" + bytes(range(3, 256)) + b"\x02\x01"),
])
def test_cobs_reference_vectors(decoded: bytes, encoded: bytes) -> None:
    assert cobs_encode(decoded) == encoded
    assert cobs_decode(encoded) == decoded


@pytest.mark.parametrize("bad", [b"\x05\x01\x02", b"\x02\x00", b"\xff\x01"])
def test_cobs_rejects_invalid_encodings(bad: bytes) -> None:
    with pytest.raises(CobsError):
        cobs_decode(bad)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=1200))
def test_cobs_round_trip_has_no_zero_and_bounded_overhead(data: bytes) -> None:
    encoded = cobs_encode(data)
    assert b"\x00" not in encoded
    assert len(encoded) + 1 <= max_encoded_size(len(data))
    assert cobs_decode(encoded) == data


COMMAND_VALUES = st.fixed_dictionaries({
    "command_seq": st.integers(0, 2**32 - 1), "mode": st.integers(0, 2),
    "targets": st.lists(st.floats(-1e6, 1e6, width=32), max_size=32)})
FAULT_VALUES = st.fixed_dictionaries({
    "code": st.integers(0, 65535), "text": st.text(max_size=16)})


@settings(max_examples=200, deadline=None)
@given(messages=st.lists(st.one_of(COMMAND_VALUES.map(lambda v: ("COMMAND", v)),
                                   FAULT_VALUES.map(lambda v: ("FAULT", v))),
                         min_size=1, max_size=8),
       splits=st.lists(st.integers(0, 4000), max_size=12))
def test_frames_round_trip_at_arbitrary_split_points(messages, splits) -> None:
    encoder = FrameEncoder(TABLE, lambda: 1234)
    stream = b"".join(encoder.encode(name, values) for name, values in messages)
    cuts = sorted({0, len(stream), *(split % (len(stream) + 1) for split in splits)})
    parser = FrameParser(TABLE)
    events = []
    for start, end in itertools.pairwise(cuts):
        events += parser.feed(stream[start:end])
    assert all(isinstance(event, Frame) for event in events)
    assert [event.name for event in events] == [name for name, _ in messages]
    for event, (name, values) in zip(events, messages, strict=True):
        if name == "COMMAND":
            assert event.values["command_seq"] == values["command_seq"]
            assert list(event.values["targets"]) == values["targets"]
        else:
            assert event.values["text"] == values["text"]
    assert parser.stats.bad_total == 0
    assert [event.seq for event in events if event.name == "COMMAND"] == list(
        range(sum(name == "COMMAND" for name, _ in messages)))


def test_frame_header_and_size_bounds() -> None:
    wire = encode_frame(TABLE, 0x12, 70000, 2**33 + 5, TABLE.message("HEARTBEAT").encode(
        {"counter": 9, "echo": 1}))
    assert wire.endswith(b"\x00") and wire.count(b"\x00") == 1
    decoded = cobs_decode(wire[:-1])
    assert decoded[:HEADER_SIZE] == bytes([1, 0x12]) + (70000 & 0xFFFF).to_bytes(2, "little") + (
        5).to_bytes(4, "little") + (5).to_bytes(2, "little")
    assert len(wire) <= max_frame_size(TABLE)
    with pytest.raises(ProtocolError, match="payload of"):
        encode_frame(TABLE, 0x12, 0, 0, bytes(TABLE.max_payload_size + 1))
