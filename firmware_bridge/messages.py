"""The declarative message table of the serial link: the one place where payloads are defined.

Every message is a :class:`Message` with a one-byte id and an ordered tuple of :class:`Field`.
Field types are fixed-size little-endian scalars (``u8 u16 u32 u64 i8 i16 i32 i64 f32 f64``) or
``str`` (UTF-8). A field is one of:

* a scalar (``count=1``, the default),
* a fixed array (``count=N``), e.g. ``imu_quat`` ``(4,)``,
* a variable array or string (``max_count=M``), carried as a length prefix (``u8`` when
  ``M <= 255``, else ``u16``) followed by that many elements (bytes for ``str``).

The table hash (:attr:`MessageTable.hash32`) is folded into every frame's CRC (as MAVLink's
CRC_EXTRA), so a host and a firmware built from different tables reject each other's frames.
The two bootstrap messages (``HELLO_REQUEST``, ``HELLO``) are protected by the hash of their own
frozen layout instead, so a mismatched pair can still shake hands far enough to name both hashes.

Canonical rendering (what the hashes are computed over): one line per message in ascending id,
``<id>:<NAME>:<field>,<field>,...`` with each field ``<name>/<type>/<count>/<max_count>``; lines
joined with ``\\n``; SHA-256 of the ASCII bytes; ``hash32`` is the first 4 digest bytes read as a
little-endian u32.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from firmware_bridge.errors import PayloadError, ProtocolError

#: struct codes of the scalar field types (little-endian).
SCALAR_CODES: dict[str, str] = {
    "u8": "B", "u16": "H", "u32": "I", "u64": "Q",
    "i8": "b", "i16": "h", "i32": "i", "i64": "q",
    "f32": "f", "f64": "d",
}
#: every field type, including variable UTF-8 strings.
FIELD_TYPES: tuple[str, ...] = (*SCALAR_CODES, "str")
#: the most joints / task sensors a STATE or COMMAND can carry.
MAX_JOINTS = 32
MAX_TASK_SENSORS = 64


class CommandMode(IntEnum):
    """How the firmware interprets COMMAND targets."""

    POSITION = 0  #: joint position targets for the firmware's PD loop
    VELOCITY = 1  #: joint velocity targets
    EFFORT = 2  #: raw motor commands (torques / forces / duty)


class Status(IntEnum):
    """Status of an ACK or CONFIG_ACK."""

    OK = 0
    UNKNOWN_KEY = 1
    OUT_OF_RANGE = 2
    READ_ONLY = 3
    REJECTED = 4


class FaultCode(IntEnum):
    """Codes of FAULT messages; STATE ``fault_flags`` has bit ``1 << code`` set while active."""

    NONE = 0
    WATCHDOG = 1  #: no valid COMMAND/HEARTBEAT within the watchdog time: e-stop latched
    ESTOP_REQUESTED = 2  #: the host sent ESTOP
    COMMAND_INVALID = 3  #: a COMMAND had the wrong joint count or a non-finite target
    PHYSICS = 4  #: the (simulated) plant reported an error; e-stop latched
    OVERRUN = 5  #: the firmware loop could not keep its physics rate
    LINK_SILENT = 16  #: host side only: no valid frame from the firmware within the silence time


class ConfigKey(IntEnum):
    """Keys of CONFIG_SET / CONFIG_ACK (values are f32)."""

    WATCHDOG_MS = 1  #: watchdog time in milliseconds, 10..5000
    STATE_RATE_HZ = 2  #: STATE stream rate, 1..physics rate
    ESTOP_ON_INVALID_COMMAND = 3  #: 1: a bad COMMAND latches e-stop; 0: it is only counted


@dataclass(frozen=True)
class Field:
    """One payload field.

    Attributes:
        name: field name, unique in its message.
        type: one of :data:`FIELD_TYPES`.
        count: number of elements of a fixed field (1 = scalar).
        max_count: upper bound of a variable array / string; 0 means fixed.
    """

    name: str
    type: str
    count: int = 1
    max_count: int = 0

    def __post_init__(self) -> None:
        if self.type not in FIELD_TYPES:
            raise ProtocolError(f"field {self.name!r}: type {self.type!r} not in {FIELD_TYPES}")
        if self.count < 1 or self.max_count < 0 or self.max_count > 65535:
            raise ProtocolError(f"field {self.name!r}: bad count {self.count}/{self.max_count}")
        if self.type == "str" and self.max_count == 0:
            raise ProtocolError(f"field {self.name!r}: str needs max_count")
        if self.max_count and self.count != 1:
            raise ProtocolError(f"field {self.name!r}: give count or max_count, not both")

    @property
    def variable(self) -> bool:
        """True for variable arrays and strings (length-prefixed)."""
        return self.max_count > 0

    @property
    def prefix(self) -> str:
        """struct code of the length prefix (``B`` or ``H``); empty for fixed fields."""
        if not self.variable:
            return ""
        return "B" if self.max_count <= 255 else "H"

    @property
    def element_size(self) -> int:
        """Bytes per element."""
        return 1 if self.type == "str" else struct.calcsize("<" + SCALAR_CODES[self.type])

    @property
    def max_size(self) -> int:
        """Most bytes this field can take on the wire."""
        if self.variable:
            return struct.calcsize("<" + self.prefix) + self.max_count * self.element_size
        return self.count * self.element_size

    def render(self) -> str:
        """Canonical text of the field for the table hash."""
        return f"{self.name}/{self.type}/{self.count}/{self.max_count}"


@dataclass(frozen=True)
class Message:
    """One message type.

    Attributes:
        id: message type byte, 1..255.
        name: upper-case name, unique in the table.
        fields: payload fields in wire order.
        doc: one line of semantics (shown in docs/SERIAL.md).
    """

    id: int
    name: str
    fields: tuple[Field, ...]
    doc: str = ""

    def __post_init__(self) -> None:
        if not 1 <= self.id <= 255:
            raise ProtocolError(f"message {self.name!r}: id {self.id} not in 1..255")
        names = [field.name for field in self.fields]
        if len(set(names)) != len(names):
            raise ProtocolError(f"message {self.name!r}: duplicate field names {names}")

    @property
    def max_payload_size(self) -> int:
        """Most payload bytes of this message."""
        return sum(field.max_size for field in self.fields)

    def render(self) -> str:
        """Canonical text line of the message for the table hash."""
        return f"{self.id}:{self.name}:" + ",".join(field.render() for field in self.fields)

    def encode(self, values: Mapping[str, Any]) -> bytes:
        """Payload bytes of ``values`` (one entry per field; arrays as any sequence)."""
        unknown = set(values) - {field.name for field in self.fields}
        if unknown:
            raise PayloadError(f"{self.name}: unknown fields {sorted(unknown)}")
        parts: list[bytes] = []
        for field in self.fields:
            if field.name not in values:
                raise PayloadError(f"{self.name}: missing field {field.name!r}")
            parts.append(_encode_field(self.name, field, values[field.name]))
        return b"".join(parts)

    def decode(self, payload: bytes) -> dict[str, Any]:
        """Field values of ``payload``: ints/floats, tuples for arrays, str for strings."""
        values: dict[str, Any] = {}
        offset = 0
        for field in self.fields:
            values[field.name], offset = _decode_field(self.name, field, payload, offset)
        if offset != len(payload):
            raise PayloadError(f"{self.name}: {len(payload) - offset} trailing payload bytes")
        return values


def _encode_field(message: str, field: Field, value: Any) -> bytes:
    if field.type == "str":
        data = str(value).encode("utf-8")
        if len(data) > field.max_count:
            raise PayloadError(f"{message}.{field.name}: {len(data)} bytes > {field.max_count}")
        return struct.pack("<" + field.prefix, len(data)) + data
    code = SCALAR_CODES[field.type]
    try:
        if not field.variable and field.count == 1:
            return struct.pack("<" + code, value)
        items = list(value)
        if field.variable and len(items) > field.max_count:
            raise PayloadError(
                f"{message}.{field.name}: {len(items)} elements > max {field.max_count}")
        if not field.variable and len(items) != field.count:
            raise PayloadError(
                f"{message}.{field.name}: {len(items)} elements, expected {field.count}")
        body = struct.pack(f"<{len(items)}{code}", *items)
    except (struct.error, TypeError, OverflowError) as error:
        raise PayloadError(f"{message}.{field.name}: cannot encode {value!r}: {error}") from error
    if field.variable:
        return struct.pack("<" + field.prefix, len(items)) + body
    return body


def _decode_field(message: str, field: Field, payload: bytes, offset: int) -> tuple[Any, int]:
    count = field.count
    try:
        if field.variable:
            (count,) = struct.unpack_from("<" + field.prefix, payload, offset)
            offset += 1 if field.prefix == "B" else 2
            if count > field.max_count:
                raise PayloadError(
                    f"{message}.{field.name}: length {count} > max {field.max_count}")
        size = count * field.element_size
        if offset + size > len(payload):
            raise PayloadError(f"{message}.{field.name}: payload too short")
        if field.type == "str":
            text = payload[offset:offset + size].decode("utf-8", errors="replace")
            return text, offset + size
        items = struct.unpack_from(f"<{count}{SCALAR_CODES[field.type]}", payload, offset)
    except struct.error as error:
        raise PayloadError(f"{message}.{field.name}: {error}") from error
    if not field.variable and field.count == 1:
        return items[0], offset + size
    return items, offset + size


class MessageTable:
    """An immutable set of messages with its hashes.

    Args:
        messages: the messages; ids and names must be unique.
        bootstrap_names: names of the messages whose CRC uses :attr:`bootstrap_hash32` (their
            layout must never change).
    """

    def __init__(self, messages: Sequence[Message],
                 bootstrap_names: Sequence[str] = ("HELLO_REQUEST", "HELLO")) -> None:
        self.messages = tuple(sorted(messages, key=lambda message: message.id))
        self.by_id = {message.id: message for message in self.messages}
        self.by_name = {message.name: message for message in self.messages}
        if len(self.by_id) != len(self.messages) or len(self.by_name) != len(self.messages):
            raise ProtocolError(f"duplicate message ids or names in {self.render()!r}")
        missing = [name for name in bootstrap_names if name not in self.by_name]
        if missing:
            raise ProtocolError(f"bootstrap messages {missing} are not in the table")
        self.bootstrap_ids = frozenset(self.by_name[name].id for name in bootstrap_names)
        self.hash_hex = hashlib.sha256(self.render().encode("ascii")).hexdigest()
        self.hash32 = int.from_bytes(bytes.fromhex(self.hash_hex)[:4], "little")
        bootstrap = "\n".join(self.by_name[name].render() for name in sorted(
            bootstrap_names, key=lambda name: self.by_name[name].id))
        self.bootstrap_hash32 = int.from_bytes(
            hashlib.sha256(bootstrap.encode("ascii")).digest()[:4], "little")
        self._extra = {message.id: self._extra_for(message.id) for message in self.messages}
        self._default_extra = self.hash32.to_bytes(4, "little")
        self.max_payload_size = max(message.max_payload_size for message in self.messages)

    def _extra_for(self, type_id: int) -> bytes:
        value = self.bootstrap_hash32 if type_id in self.bootstrap_ids else self.hash32
        return value.to_bytes(4, "little")

    def render(self) -> str:
        """Canonical text of the table (what :attr:`hash_hex` is computed over)."""
        return "\n".join(message.render() for message in self.messages)

    def crc_extra(self, type_id: int) -> bytes:
        """The 4 bytes appended to header+payload before the CRC of a frame of ``type_id``."""
        return self._extra.get(type_id, self._default_extra)

    def message(self, name: str) -> Message:
        """The message called ``name``."""
        try:
            return self.by_name[name]
        except KeyError:
            raise ProtocolError(f"no message {name!r}; known: {sorted(self.by_name)}") from None


def _f(name: str, type_: str, count: int = 1, max_count: int = 0) -> Field:
    return Field(name, type_, count, max_count)


#: the messages of protocol version 1 (see docs/SERIAL.md for semantics).
MESSAGES: tuple[Message, ...] = (
    Message(0x01, "HELLO_REQUEST", (_f("host_table_hash", "u32"),),
            "host -> fw: identify yourself; starts a new session (command seq restarts)"),
    Message(0x02, "HELLO", (
        _f("protocol_version", "u8"), _f("table_hash", "u32"),
        _f("firmware_version", "str", max_count=32), _f("robot_name", "str", max_count=32),
        _f("joint_count", "u8"), _f("task_sensor_count", "u8"), _f("command_mode", "u8"),
        _f("state_rate_hz", "f32"), _f("physics_rate_hz", "f32"),
        _f("watchdog_ms", "u16"), _f("baud", "u32")),
        "fw -> host: identity, table hash and rates"),
    Message(0x10, "STATE", (
        _f("timestamp_us", "u64"),
        _f("joint_pos", "f32", max_count=MAX_JOINTS), _f("joint_vel", "f32", max_count=MAX_JOINTS),
        _f("imu_quat", "f32", count=4), _f("imu_gyro", "f32", count=3),
        _f("imu_accel", "f32", count=3),
        _f("task_sensors", "f32", max_count=MAX_TASK_SENSORS),
        _f("estop", "u8"), _f("fault_flags", "u32"), _f("last_command_seq", "u32")),
        "fw -> host at state rate: sensors, e-stop, faults, last applied command"),
    Message(0x11, "COMMAND", (
        _f("command_seq", "u32"), _f("mode", "u8"),
        _f("targets", "f32", max_count=MAX_JOINTS)),
        "host -> fw: targets; applied only if command_seq > last applied (latest wins)"),
    Message(0x12, "HEARTBEAT", (_f("counter", "u32"), _f("echo", "u8")),
            "host -> fw keeps the watchdog fed (echo=1 asks for a reply); fw -> host echoes it"),
    Message(0x13, "ESTOP", (_f("request_id", "u32"), _f("reason", "u8")),
            "host -> fw: latch e-stop now; answered by ACK"),
    Message(0x14, "CLEAR_ESTOP", (_f("request_id", "u32"),),
            "host -> fw: clear the latched e-stop and its faults; answered by ACK"),
    Message(0x15, "FAULT", (_f("code", "u16"), _f("text", "str", max_count=64)),
            "fw -> host: a fault happened (see FaultCode)"),
    Message(0x20, "CONFIG_SET", (
        _f("request_id", "u32"), _f("key", "u16"), _f("value", "f32")),
        "host -> fw: set a ConfigKey; answered by CONFIG_ACK; idempotent, safe to retry"),
    Message(0x21, "CONFIG_ACK", (
        _f("request_id", "u32"), _f("key", "u16"), _f("value", "f32"), _f("status", "u8")),
        "fw -> host: the value now in force and a Status"),
    Message(0x22, "RESET", (
        _f("request_id", "u32"), _f("task_id", "u16"), _f("seed", "u32")),
        "host -> fw: reset the robot/task for a new episode; answered by ACK"),
    Message(0x23, "FAULT_INJECT", (
        _f("request_id", "u32"), _f("seed", "u32"), _f("message_type", "u8"),
        _f("directions", "u8"), _f("drop_probability", "f32"),
        _f("bit_flip_probability", "f32"), _f("delay_probability", "f32"),
        _f("delay_ms", "f32"), _f("burst_probability", "f32"), _f("burst_length", "u16"),
        _f("garbage_probability", "f32")),
        "host -> fw (tests only): inject link faults; answered by ACK, applied after it"),
    Message(0x24, "ACK", (
        _f("request_id", "u32"), _f("request_type", "u8"), _f("status", "u8"),
        _f("text", "str", max_count=48)),
        "fw -> host: answer to ESTOP, CLEAR_ESTOP, RESET, FAULT_INJECT"),
)

#: the table both ends are built from.
TABLE = MessageTable(MESSAGES)
