"""Parser: every kind of bad frame is typed and counted, resync, bounded memory, 100k fuzz."""

from __future__ import annotations

import random
import time

import pytest

from firmware_bridge.framing import (
    HEADER,
    FrameEncoder,
    cobs_decode,
    cobs_encode,
    crc32,
    encode_frame,
)
from firmware_bridge.messages import MESSAGES, TABLE, Field, Message, MessageTable
from firmware_bridge.parser import BadFrame, BadFrameKind, Frame, FrameParser


def frame(name: str = "HEARTBEAT", values: dict | None = None, seq: int = 0) -> bytes:
    """One wire frame of the default table."""
    message = TABLE.message(name)
    payload = message.encode(values or {"counter": 1, "echo": 0})
    return encode_frame(TABLE, message.id, seq, 99, payload)


def reframe(decoded: bytes) -> bytes:
    """Wire bytes of an arbitrary decoded frame (CRC left as given)."""
    return cobs_encode(decoded) + b"\x00"


def with_crc(body: bytes, type_id: int) -> bytes:
    """Decoded frame ``body`` plus its correct CRC."""
    return body + crc32(body, TABLE.crc_extra(type_id)).to_bytes(4, "little")


def kinds(events: list) -> list:
    return [event.kind if isinstance(event, BadFrame) else event.name for event in events]


def test_bad_frame_kinds_are_typed_counted_and_followed_by_resync() -> None:
    good = frame()
    decoded = cobs_decode(good[:-1])
    body = decoded[:-4]
    cases = {
        BadFrameKind.COBS: b"\x09\x01\x02\x00",
        BadFrameKind.TRUNCATED: reframe(decoded[:8]),
        BadFrameKind.CRC: reframe(decoded[:-1] + bytes([decoded[-1] ^ 0x40])),
        BadFrameKind.VERSION: reframe(with_crc(b"\x02" + body[1:], body[1])),
        BadFrameKind.UNKNOWN_TYPE: reframe(with_crc(body[:1] + b"\x7f" + body[2:], 0x7F)),
        BadFrameKind.BAD_LENGTH: reframe(with_crc(
            HEADER.pack(1, 0x12, 0, 0, 6) + bytes(6), 0x12)),
    }
    parser = FrameParser(TABLE)
    for kind, wire in cases.items():
        events = parser.feed(wire + good)
        assert kinds(events) == [kind, "HEARTBEAT"], kind
        assert parser.stats.bad[kind.value] == 1
    assert parser.stats.frames == len(cases)
    assert parser.stats.per_type["HEARTBEAT"].crc_errors == 1


def test_payload_length_field_disagreeing_with_frame() -> None:
    decoded = cobs_decode(frame()[:-1])
    longer = HEADER.pack(1, 0x12, 0, 0, 9) + decoded[HEADER.size:-4]
    shorter = HEADER.pack(1, 0x12, 0, 0, 1) + decoded[HEADER.size:-4]
    parser = FrameParser(TABLE)
    assert kinds(parser.feed(reframe(with_crc(longer, 0x12)))) == [BadFrameKind.TRUNCATED]
    assert kinds(parser.feed(reframe(with_crc(shorter, 0x12)))) == [BadFrameKind.BAD_LENGTH]


def test_oversize_runs_are_discarded_with_bounded_memory() -> None:
    parser = FrameParser(TABLE)
    events = []
    chunk = bytes(range(1, 256)) * 40  # no delimiter anywhere
    for _ in range(100):
        events += parser.feed(chunk)
        assert len(parser._buffer) < parser.max_frame
    events += parser.feed(b"\x00" + frame())
    assert kinds(events) == [BadFrameKind.TOO_LONG, "HEARTBEAT"]
    assert parser.stats.discarded_bytes == 100 * len(chunk)


def test_empty_frames_are_counted_not_bad() -> None:
    parser = FrameParser(TABLE)
    assert kinds(parser.feed(b"\x00\x00" + frame() + b"\x00")) == ["HEARTBEAT"]
    assert parser.stats.empty == 3 and parser.stats.bad_total == 0


def test_sequence_gaps_duplicates_and_reordering_per_type() -> None:
    parser = FrameParser(TABLE)
    for seq in (0, 1, 2, 5, 5, 3, 6):  # 3 and 4 lost, 5 duplicated, 3 late
        parser.feed(frame(seq=seq))
    parser.feed(frame("FAULT", {"code": 1, "text": "x"}, seq=7))
    heartbeat = parser.stats.per_type["HEARTBEAT"]
    assert (heartbeat.received, heartbeat.lost, heartbeat.duplicates, heartbeat.reordered) == (
        7, 2, 1, 1)
    assert parser.stats.per_type["FAULT"].lost == 0
    wrapping = FrameParser(TABLE)
    for seq in (65534, 65535, 1, 40000):  # 0 lost across the wrap; 40000 is a stale jump
        wrapping.feed(frame(seq=seq))
    stats = wrapping.stats.per_type["HEARTBEAT"]
    assert (stats.lost, stats.reordered) == (1, 1)


def test_frames_of_another_table_fail_crc_but_hello_still_decodes() -> None:
    other = MessageTable(tuple(
        Message(m.id, m.name, (*m.fields, Field("extra", "u8"))) if m.name == "COMMAND" else m
        for m in MESSAGES))
    theirs = FrameEncoder(other, lambda: 0)
    parser = FrameParser(TABLE)
    events = parser.feed(theirs.encode("HEARTBEAT", {"counter": 1, "echo": 0})
                         + theirs.encode("HELLO_REQUEST", {"host_table_hash": other.hash32}))
    assert kinds(events) == [BadFrameKind.CRC, "HELLO_REQUEST"]
    assert events[1].values["host_table_hash"] == other.hash32


def mutate(wire: bytes, rng: random.Random) -> bytes:
    """Flip, delete, insert or duplicate bytes of a valid frame."""
    data = bytearray(wire)
    for _ in range(rng.randint(1, 4)):
        choice = rng.random()
        position = rng.randrange(len(data))
        if choice < 0.5:
            data[position] ^= 1 << rng.randrange(8)
        elif choice < 0.7 and len(data) > 1:
            del data[position]
        elif choice < 0.9:
            data.insert(position, rng.getrandbits(8))
        else:
            data[position:position] = data[position:position + rng.randint(1, 8)]
    return bytes(data)


def test_fuzz_100k_inputs_never_raise_and_always_resync() -> None:
    rng = random.Random(1234)
    encoder = FrameEncoder(TABLE, lambda: 42)
    valid = [encoder.encode("COMMAND", {"command_seq": i, "mode": 0, "targets": [0.5] * (i % 33)})
             for i in range(64)] + [frame("FAULT", {"code": 3, "text": "boom"})]
    marker = frame("HEARTBEAT", {"counter": 777, "echo": 0})
    parser = FrameParser(TABLE)
    started = time.perf_counter()
    bad_before = resynced = 0
    accepted: list[Frame] = []
    for index in range(100_000):
        if index % 2:
            garbage = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 80)))
        else:
            garbage = mutate(rng.choice(valid), rng)
        events = parser.feed(garbage)
        assert all(isinstance(event, Frame | BadFrame) for event in events)
        accepted += [event for event in events if isinstance(event, Frame)]
        tail = parser.feed(b"\x00" + marker)
        resynced += any(isinstance(event, Frame) and event.values.get("counter") == 777
                        for event in tail)
        bad_before = parser.stats.bad_total
    elapsed = time.perf_counter() - started
    assert resynced == 100_000
    assert bad_before > 50_000
    assert parser.stats.bad["internal"] == 0
    assert len(parser._buffer) <= parser.max_frame
    assert elapsed < 30.0, f"fuzz took {elapsed:.1f} s"
    originals = {*valid, marker}
    for event in accepted:  # only frames a mutation left intact (e.g. a deleted delimiter)
        assert encode_frame(TABLE, event.message.id, event.seq, event.timestamp_us,
                            event.message.encode(event.values)) in originals


@pytest.mark.parametrize("seed", range(3))
def test_random_splits_of_a_noisy_stream_give_the_same_events(seed: int) -> None:
    rng = random.Random(seed)
    stream = b"".join(frame(seq=i) if rng.random() < 0.7 else bytes(
        rng.getrandbits(8) for _ in range(20)) for i in range(200))
    whole = kinds(FrameParser(TABLE).feed(stream))
    parser = FrameParser(TABLE)
    pieces, position = [], 0
    while position < len(stream):
        step = rng.randint(1, 50)
        pieces += parser.feed(stream[position:position + step])
        position += step
    assert kinds(pieces) == whole
