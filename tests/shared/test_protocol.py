"""Tests of shared.protocol and shared.messages: round trips of every kind, schema errors."""

from __future__ import annotations

import math
import time
from typing import Any

import msgpack
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from shared.codec import CodecLimits
from shared.errors import (
    MalformedMessageError,
    MessageTooLargeError,
    UnknownKindError,
    VersionMismatchError,
)
from shared.messages import MESSAGE_TYPES, STEP_DTYPES
from shared.protocol import (
    PROTOCOL_VERSION,
    Ack,
    Envelope,
    Heartbeat,
    Hello,
    Policy,
    Reject,
    Stats,
    Transitions,
    Welcome,
    decode_message,
    encode_message,
)
from shared.spec import ALLOWED_DTYPES, EnvSpec, Space

SETTINGS = settings(max_examples=40, deadline=None)
ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True)
keys = st.text(min_size=1, max_size=12).filter(lambda key: key not in STEP_DTYPES)
uint64 = st.integers(0, 2**64 - 1)


@st.composite
def spaces(draw: st.DrawFn) -> Space:
    dtype = np.dtype(draw(st.sampled_from(ALLOWED_DTYPES)))
    shape = tuple(draw(st.lists(st.integers(0, 4), max_size=3)))
    if dtype.kind == "f" and draw(st.booleans()):
        low = draw(st.floats(-10, 0))
        return Space(dtype, shape, low, low + draw(st.floats(0, 5)))
    return Space(dtype, shape)


@st.composite
def env_specs(draw: st.DrawFn) -> EnvSpec:
    observation = draw(st.dictionaries(keys, spaces(), max_size=3))
    action_keys = keys.filter(lambda key: key not in observation)
    return EnvSpec.create(observation, draw(st.dictionaries(action_keys, spaces(), min_size=1,
                                                              max_size=2)))


@st.composite
def transitions(draw: st.DrawFn) -> Transitions:
    length = draw(st.integers(1, 6))
    first = draw(st.integers(0, 2**64 - length))
    rng = np.random.default_rng(draw(st.integers(0, 2**32)))
    steps: dict[str, np.ndarray] = {
        "reward": rng.standard_normal(length).astype(np.float32),
        "is_first": rng.integers(0, 2, length).astype(bool),
        "is_last": rng.integers(0, 2, length).astype(bool),
        "is_terminal": np.zeros(length, bool),
        "policy_version": rng.integers(0, 2**62, length),
    }
    for key, space in draw(st.dictionaries(keys, spaces(), max_size=3)).items():
        steps[key] = draw(hnp.arrays(space.dtype, (length, *space.shape)))
    return Transitions(draw(ids), draw(ids), first, first + length - 1, steps)


numbers = st.integers(-(2**63), 2**64 - 1) | st.floats()
MESSAGES: dict[str, st.SearchStrategy[Any]] = {
    "HELLO": st.builds(Hello, ids, ids, env_specs(), st.integers(0, 2**63 - 1)),
    "WELCOME": st.builds(Welcome, ids, st.booleans(), uint64, st.floats(1e-3, 3600)),
    "REJECT": st.builds(Reject, st.from_regex(r"[a-z][a-z0-9_]{0,20}", fullmatch=True),
                        st.text(min_size=1, max_size=200)),
    "TRANSITIONS": transitions(),
    "ACK": st.builds(Ack, ids, ids, uint64),
    "POLICY": st.builds(
        Policy, st.integers(1, 2**63 - 1), st.binary(min_size=1, max_size=300),
        st.dictionaries(st.text(max_size=8), st.none() | st.text() | st.integers(-5, 5) | st.lists(
            st.floats(allow_nan=False), max_size=3), max_size=4), st.binary(max_size=64)),
    "HEARTBEAT": st.just(Heartbeat()),
    "STATS": st.builds(Stats, st.dictionaries(st.text(min_size=1, max_size=20), numbers,
                                              max_size=8)),
}


def _assert_same(decoded: Any, sent: Any) -> None:
    assert type(decoded) is type(sent)
    if isinstance(sent, Transitions):
        assert (decoded.robot_id, decoded.run_id, decoded.first_seq, decoded.last_seq) == (
            sent.robot_id, sent.run_id, sent.first_seq, sent.last_seq)
        assert decoded.steps.keys() == sent.steps.keys()
        for key, array in sent.steps.items():
            assert decoded.steps[key].dtype == array.dtype
            assert decoded.steps[key].tobytes() == array.tobytes()
    elif isinstance(sent, Stats):
        assert decoded.values.keys() == sent.values.keys()
        for key, value in sent.values.items():
            got = decoded.values[key]
            assert type(got) is type(value)
            assert got == value or (math.isnan(got) and math.isnan(value))
    else:
        assert decoded == sent


@pytest.mark.parametrize("kind", sorted(MESSAGES))
@SETTINGS
@given(data=st.data(), seq=uint64, sent=st.floats(0, 4e9))
def test_every_kind_round_trips(kind: str, data: st.DataObject, seq: int, sent: float) -> None:
    message = data.draw(MESSAGES[kind])
    envelope = decode_message(encode_message(message, seq, time=sent))
    assert isinstance(envelope, Envelope)
    assert (envelope.version, envelope.kind, envelope.seq, envelope.time) == (
        PROTOCOL_VERSION, kind, seq, sent)
    _assert_same(envelope.message, message)


def test_every_kind_has_a_round_trip_strategy() -> None:
    assert set(MESSAGES) == set(MESSAGE_TYPES)
    assert set(MESSAGE_TYPES) == {"HELLO", "WELCOME", "REJECT", "TRANSITIONS", "ACK", "POLICY",
                                  "HEARTBEAT", "STATS"}


def test_time_defaults_to_now() -> None:
    before = time.time()
    envelope = decode_message(encode_message(Heartbeat(), 0))
    assert before <= envelope.time <= time.time()


def _raw(payload: Any, kind: str = "ACK", version: Any = PROTOCOL_VERSION, **extra: Any) -> bytes:
    document = {"version": version, "kind": kind, "seq": 1, "time": 2.0, "payload": payload,
                **extra}
    return msgpack.packb(document, use_bin_type=True)


ACK = {"robot_id": "r", "run_id": "x", "durable_seq": 4}


def test_version_mismatch_is_its_own_error_and_checked_first() -> None:
    with pytest.raises(VersionMismatchError, match="this end speaks 1, the peer sent 2") as caught:
        decode_message(msgpack.packb({"version": 2, "something": "else entirely"}))
    assert (caught.value.local, caught.value.remote) == (1, 2)
    spec = EnvSpec.create({}, {"a": Space(np.float32, (1,))})
    hello = Hello("r", "x", spec, 0).to_payload() | {"protocol_version": 2}
    with pytest.raises(VersionMismatchError):
        decode_message(_raw(hello, "HELLO"))


def test_unknown_kind_is_its_own_error() -> None:
    with pytest.raises(UnknownKindError, match="'PING'"):
        decode_message(_raw({}, "PING"))


@pytest.mark.parametrize("data, match", [
    (_raw(ACK, extra_field=1), "unknown fields \\['extra_field'\\]"),
    (_raw({"robot_id": "r", "run_id": "x"}), "missing fields \\['durable_seq'\\]"),
    (_raw(ACK | {"colour": "red"}), "unknown fields \\['colour'\\]"),
    (_raw(ACK | {"durable_seq": -1}), "ACK.durable_seq: expected an int in"),
    (_raw(ACK | {"durable_seq": True}), "ACK.durable_seq: expected an int"),
    (_raw(ACK | {"robot_id": "../etc"}), "ACK.robot_id: expected a str matching"),
    (_raw(ACK | {"run_id": "x" * 129}), "ACK.run_id"),
    (_raw([1, 2]), "payload must be a map"),
    (msgpack.packb([1]), "a message must be a map"),
    (msgpack.packb({"kind": "ACK"}), "envelope.version: expected an int"),
    (msgpack.packb({"version": 1, "kind": "ACK", "seq": -1, "time": 0.0, "payload": ACK}),
     "envelope.seq"),
    (msgpack.packb({"version": 1, "kind": "ACK", "seq": 0, "time": math.nan, "payload": ACK}),
     "envelope.time: expected a finite number"),
    (_raw({"code": "Bad Code", "reason": "x"}, "REJECT"), "REJECT.code"),
    (_raw({"code": "busy", "reason": ""}, "REJECT"), "REJECT.reason"),
    (_raw({"trainer_id": "t", "accepted": 1, "next_seq": 0, "heartbeat_interval": 1.0},
          "WELCOME"), "WELCOME.accepted: expected a bool"),
    (_raw({"trainer_id": "t", "accepted": True, "next_seq": 0, "heartbeat_interval": 0.0},
          "WELCOME"), "WELCOME.heartbeat_interval"),
    (_raw({"version": 0, "onnx": b"x", "manifest": {}, "signature": b""}, "POLICY"),
     "POLICY.version"),
    (_raw({"version": 1, "onnx": b"", "manifest": {}, "signature": b""}, "POLICY"),
     "POLICY.onnx"),
    (_raw({"version": 1, "onnx": b"x", "manifest": {}, "signature": b"s" * 2000}, "POLICY"),
     "POLICY.signature"),
    (_raw({"values": {"ok": True}}, "STATS"), "must be a number"),
    (_raw({"values": {"ok": "1"}}, "STATS"), "must be a number"),
    (_raw({"x": 1}, "HEARTBEAT"), "unknown fields"),
])
def test_schema_violations_name_the_field(data: bytes, match: str) -> None:
    with pytest.raises(MalformedMessageError, match=match):
        decode_message(data)


def _steps(length: int) -> dict[str, np.ndarray]:
    return {"obs": np.zeros((length, 2), np.float32), "action": np.zeros((length, 1), np.int32),
            "reward": np.zeros(length, np.float32), "is_first": np.zeros(length, bool),
            "is_last": np.zeros(length, bool), "is_terminal": np.zeros(length, bool),
            "policy_version": np.ones(length, np.int64)}


def _transitions(first: int, last: int, steps: dict[str, Any]) -> bytes:
    payload = {"robot_id": "r", "run_id": "x", "first_seq": first, "last_seq": last,
               "steps": steps}
    return msgpack.packb({"version": 1, "kind": "TRANSITIONS", "seq": 0, "time": 0.0,
                          "payload": {key: _wire(value) for key, value in payload.items()}})


def _wire(value: Any) -> Any:
    from shared.codec import ARRAY_EXT_CODE, encode_array_payload

    if isinstance(value, dict):
        return {key: _wire(item) for key, item in value.items()}
    if isinstance(value, np.ndarray):
        return msgpack.ExtType(ARRAY_EXT_CODE, encode_array_payload(value))
    return value


@pytest.mark.parametrize("first, last, change, match", [
    (10, 13, {}, "has shape \\(3, 2\\); expected 4 rows"),
    (10, 9, {}, "last_seq 9 < first_seq 10"),
    (2**64 - 1, 2**64 - 1, {}, "expected 1 rows"),
    (10, 12, {"reward": np.zeros(3, np.float64)}, "'reward'\\] must be float32"),
    (10, 12, {"is_first": np.zeros((3, 1), bool)}, "'is_first'\\] must be bool of shape \\(3,\\)"),
    (10, 12, {"policy_version": np.full(3, -1, np.int64)}, "negative version"),
    (10, 12, {"policy_version": None}, "lacks the reserved keys \\['policy_version'\\]"),
    (10, 12, {"obs": [1, 2, 3]}, "must be an array"),
    (10, 12, {"obs": np.zeros((), np.float32)}, "has shape \\(\\)"),
])
def test_transitions_rows_and_reserved_keys_are_checked(first: int, last: int,
                                                        change: dict[str, Any],
                                                        match: str) -> None:
    steps = {key: value for key, value in (_steps(3) | change).items() if value is not None}
    with pytest.raises(MalformedMessageError, match=match):
        decode_message(_transitions(first, last, steps))
    with pytest.raises(MalformedMessageError, match=match):
        Transitions("r", "x", first, last, steps)  # the sender is stopped the same way


def test_seq_beyond_uint64_is_refused_on_the_sending_side() -> None:
    with pytest.raises(MalformedMessageError, match=r"TRANSITIONS\.last_seq"):
        Transitions("r", "x", 0, 2**64, _steps(3))
    with pytest.raises(MalformedMessageError, match=r"ACK\.durable_seq"):
        Ack("r", "x", 2**64)


def test_hello_checks_spec_hash_and_size() -> None:
    spec = EnvSpec.create({"obs": Space(np.float32, (3,), -1, 1)}, {"a": Space(np.int32, (), 0, 4)})
    payload = Hello("robot", "run", spec, 2).to_payload()
    assert decode_message(_raw(payload, "HELLO")).message.spec.hash == spec.hash
    with pytest.raises(MalformedMessageError, match="does not match the spec"):
        decode_message(_raw(payload | {"spec_hash": "0" * 64}, "HELLO"))
    huge = payload | {"spec": {"observation": {"x": {
        "dtype": "float32", "shape": [100_000, 100_000], "low": 0.0, "high": 1.0}},
        "action": payload["spec"]["action"]}}
    with pytest.raises(MalformedMessageError, match="elements or more"):
        decode_message(_raw(huge, "HELLO"))
    odd_dtype = payload | {"spec": {"observation": payload["spec"]["observation"], "action": {
        "a": {"dtype": {"names": [0], "formats": {"x": 1}}, "shape": [], "low": 0.0,
              "high": 1.0}}}}
    with pytest.raises(MalformedMessageError, match=r"dtype .* is not one of"):
        decode_message(_raw(odd_dtype, "HELLO"))  # np.dtype of this map raises KeyError
    broken = payload | {"spec": {"observation": {}, "action": {}}}
    with pytest.raises(MalformedMessageError, match=r"HELLO\.spec is not a valid spec"):
        decode_message(_raw(broken, "HELLO"))


def test_hello_refuses_specs_whose_keys_would_collide_in_transitions() -> None:
    space = Space(np.float32, (2,))
    with pytest.raises(MalformedMessageError, match=r"both have \['x'\]"):
        Hello("r", "x", EnvSpec.create({"x": space}, {"x": space}), 0)
    with pytest.raises(MalformedMessageError, match="policy_version"):
        Hello("r", "x", EnvSpec.create({"policy_version": space}, {"a": space}), 0)


def test_encode_refuses_bad_envelope_values_and_oversized_messages() -> None:
    with pytest.raises(MalformedMessageError, match=r"envelope\.seq"):
        encode_message(Heartbeat(), -1)
    with pytest.raises(MalformedMessageError, match=r"envelope\.time"):
        encode_message(Heartbeat(), 0, time=math.inf)
    with pytest.raises(MalformedMessageError, match="not a message kind"):
        encode_message({"kind": "ACK"}, 0)  # type: ignore[arg-type]
    policy = Policy(1, b"x" * 10_000, {}, b"")
    with pytest.raises(MessageTooLargeError, match="max_message_bytes exceeded"):
        encode_message(policy, 0, limits=CodecLimits(max_message_bytes=5000))


def test_step_arrays_are_zero_copy_views_of_the_message() -> None:
    data = encode_message(Transitions("r", "x", 0, 63, _steps(64)), 0)
    message = decode_message(data).message
    assert isinstance(message, Transitions)
    whole = np.frombuffer(data, np.uint8)
    assert all(np.shares_memory(array, whole) for array in message.steps.values())
