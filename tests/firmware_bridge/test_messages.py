"""Message table: payload round trips, value checks, table hashes."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

from firmware_bridge.errors import PayloadError, ProtocolError
from firmware_bridge.messages import MESSAGES, TABLE, Field, Message, MessageTable


def sample_values(message: Message, rng: random.Random) -> dict:
    """Random valid values for every field of ``message``."""
    values = {}
    for field in message.fields:
        count = rng.randint(0, field.max_count) if field.variable else field.count
        if field.type == "str":
            values[field.name] = "".join(rng.choice("abcxyz-_ 0") for _ in range(count))
            continue
        if field.type.startswith("f"):
            items = [float(rng.randint(-1000, 1000)) / 8 for _ in range(count)]
        else:
            bits = int(field.type[1:])
            low, high = (0, 2**bits - 1) if field.type[0] == "u" else (
                -(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
            items = [rng.randint(low, high) for _ in range(count)]
        values[field.name] = items[0] if (not field.variable and field.count == 1) else items
    return values


@pytest.mark.parametrize("message", MESSAGES, ids=lambda message: message.name)
def test_every_message_round_trips(message: Message) -> None:
    rng = random.Random(message.id)
    for _ in range(20):
        values = sample_values(message, rng)
        payload = message.encode(values)
        assert len(payload) <= message.max_payload_size
        decoded = message.decode(payload)
        for name, value in values.items():
            expected = tuple(value) if isinstance(value, list) else value
            assert decoded[name] == expected, (message.name, name)


def test_state_layout_size_is_what_the_docs_say() -> None:
    # 12 joints, 4 task sensors: 8 + (1+48) * 2 + 40 + (1+16) + 1 + 4 + 4
    state = TABLE.message("STATE")
    payload = state.encode({
        "timestamp_us": 1, "joint_pos": [0.0] * 12, "joint_vel": [0.0] * 12,
        "imu_quat": [1, 0, 0, 0], "imu_gyro": [0, 0, 0], "imu_accel": [0, 0, 0],
        "task_sensors": [0.0] * 4, "estop": 0, "fault_flags": 0, "last_command_seq": 0})
    assert len(payload) == 8 + 49 * 2 + 40 + 17 + 1 + 4 + 4


@pytest.mark.parametrize(("values", "match"), [
    ({"command_seq": 1, "mode": 0}, "missing field 'targets'"),
    ({"command_seq": 1, "mode": 0, "targets": [], "extra": 1}, "unknown fields"),
    ({"command_seq": 1, "mode": 256, "targets": []}, "mode"),
    ({"command_seq": -1, "mode": 0, "targets": []}, "command_seq"),
    ({"command_seq": 1, "mode": 0, "targets": [0.0] * 33}, "33 elements > max 32"),
    ({"command_seq": 1, "mode": 0, "targets": ["a"]}, "targets"),
])
def test_encode_rejects_bad_values(values: dict, match: str) -> None:
    with pytest.raises(PayloadError, match=match):
        TABLE.message("COMMAND").encode(values)


def test_fixed_arrays_and_strings_are_checked() -> None:
    state = TABLE.message("STATE")
    values = sample_values(state, random.Random(0))
    with pytest.raises(PayloadError, match="expected 4"):
        state.encode({**values, "imu_quat": [1.0, 0.0, 0.0]})
    with pytest.raises(PayloadError, match="bytes > 64"):
        TABLE.message("FAULT").encode({"code": 1, "text": "x" * 65})


def test_decode_rejects_short_and_trailing_payloads() -> None:
    command = TABLE.message("COMMAND")
    payload = command.encode({"command_seq": 7, "mode": 0, "targets": [1.0, 2.0]})
    with pytest.raises(PayloadError, match="too short"):
        command.decode(payload[:-1])
    with pytest.raises(PayloadError, match="trailing"):
        command.decode(payload + b"\x00")
    with pytest.raises(PayloadError, match="length 40 > max 32"):
        command.decode(payload[:5] + bytes([40]) + bytes(160))


def test_table_hash_is_pinned() -> None:
    # Changing messages.py changes this on purpose: update it together with docs/SERIAL.md.
    assert f"{TABLE.hash32:#010x}" == "0x10742a01"
    assert f"{TABLE.bootstrap_hash32:#010x}" == "0x816a8660"
    assert TABLE.hash32 == int.from_bytes(bytes.fromhex(TABLE.hash_hex)[:4], "little")


def test_table_hash_changes_with_any_field_but_bootstrap_hash_does_not() -> None:
    changed = tuple(
        Message(m.id, m.name, (*m.fields[:-1], Field(m.fields[-1].name, "f64")))
        if m.name == "STATE" else m for m in MESSAGES)
    other = MessageTable(changed)
    assert other.hash32 != TABLE.hash32
    assert other.bootstrap_hash32 == TABLE.bootstrap_hash32
    assert other.crc_extra(TABLE.message("HELLO").id) == TABLE.crc_extra(
        TABLE.message("HELLO").id)
    assert other.crc_extra(TABLE.message("STATE").id) != TABLE.crc_extra(
        TABLE.message("STATE").id)
    assert MessageTable(tuple(reversed(MESSAGES))).hash32 == TABLE.hash32


@pytest.mark.parametrize("build", [
    lambda: MessageTable((*MESSAGES, Message(0x10, "OTHER", ()))),
    lambda: MessageTable(MESSAGES[2:]),
    lambda: Field("x", "f16"),
    lambda: Field("x", "str"),
    lambda: Field("x", "f32", count=2, max_count=4),
    lambda: Message(0, "ZERO", ()),
    lambda: Message(9, "DUP", (Field("a", "u8"), Field("a", "u8"))),
])
def test_malformed_tables_are_rejected(build) -> None:
    with pytest.raises(ProtocolError):
        build()


def test_float_fields_keep_f32_precision() -> None:
    command = TABLE.message("COMMAND")
    decoded = command.decode(command.encode({"command_seq": 1, "mode": 0,
                                             "targets": [math.pi, math.inf]}))
    assert decoded["targets"][0] == pytest.approx(math.pi, rel=1e-7)
    assert decoded["targets"][1] == math.inf


def test_serial_doc_names_the_current_hashes_and_every_message() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "SERIAL.md").read_text()
    assert f"{TABLE.hash32:#010X}".replace("0X", "0x") in doc
    assert f"{TABLE.bootstrap_hash32:#010X}".replace("0X", "0x") in doc
    assert TABLE.hash_hex in doc and TABLE.render() in doc
    for message in MESSAGES:
        assert f"### 0x{message.id:02X} {message.name} " in doc
