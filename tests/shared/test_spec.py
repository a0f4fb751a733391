"""Specs: canonical hash stability, validation errors that name the problem."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.errors import SpecError, SpecMismatchError, SpecViolationError
from shared.spec import EnvSpec, Space, check_same, model_keys, validate, validate_all


def quadruped_spec() -> EnvSpec:
    return EnvSpec.create(
        {"joints": Space(np.float32, (12,), -3.0, 3.0), "imu": Space(np.float32, (4,)),
         "image": Space(np.uint8, (64, 64, 3)), "log/velocity": Space(np.float32, (3,))},
        {"action": Space(np.float32, (12,), -1.0, 1.0)},
    )


# The canonical bytes are part of the protocol: if this constant changes, every deployed robot
# and trainer disagree. Change it only with a protocol version bump.
KNOWN_HASH = "c6d6af35bfab4cac6b61392a9d09a0e219adc51dd79eb2e143dd8a501dff98e6"


def test_hash_is_independent_of_key_order() -> None:
    a = quadruped_spec()
    obs = dict(reversed(list(a.observation.items())))
    b = EnvSpec(obs, a.action)
    assert a.hash == b.hash
    assert len(a.hash) == 64


def test_hash_is_the_same_in_another_process() -> None:
    code = ("import numpy as np; from shared.spec import EnvSpec, Space;"
            "s = EnvSpec.create({'x': Space(np.float32, (3,), [-1, -2, -3], 1)},"
            "{'action': Space(np.int32, (), 0, 5)}); print(s.hash)")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, env={"PYTHONHASHSEED": "123", "PATH": ""}).stdout.strip()
    here = EnvSpec.create({"x": Space(np.float32, (3,), [-1, -2, -3], 1)},
                          {"action": Space(np.int32, (), 0, 5)})
    assert other == here.hash == KNOWN_HASH


def test_canonical_encoding_is_documented_form() -> None:
    spec = EnvSpec.create({"x": Space(np.float32, (2,), [-1, -2], np.inf)},
                          {"action": Space(np.int32, (), 0, 5)})
    data = json.loads(spec.canonical_bytes())
    assert data["observation"]["x"] == {"dtype": "float32", "shape": [2], "low": [-1.0, -2.0],
                                        "high": "inf"}
    assert data["action"]["action"] == {"dtype": "int32", "shape": [], "low": 0.0, "high": 5.0}
    assert spec.canonical_bytes().startswith(b'{"action":{"action":{"dtype":"int32"')


def test_hash_changes_with_any_field() -> None:
    base = quadruped_spec()
    variants = [
        EnvSpec.create({**base.observation, "joints": Space(np.float64, (12,), -3.0, 3.0)},
                       base.action),
        EnvSpec.create({**base.observation, "joints": Space(np.float32, (11,), -3.0, 3.0)},
                       base.action),
        EnvSpec.create({**base.observation, "joints": Space(np.float32, (12,), -3.0, 3.5)},
                       base.action),
        EnvSpec.create(base.observation, {"action": Space(np.float32, (12,), -1.0, 0.5)}),
    ]
    hashes = {base.hash, *(v.hash for v in variants)}
    assert len(hashes) == 5


def test_round_trip_canonical() -> None:
    spec = quadruped_spec()
    again = EnvSpec.from_canonical(json.loads(spec.canonical_bytes()))
    assert again.hash == spec.hash
    assert again.observation["joints"] == spec.observation["joints"]


@pytest.mark.parametrize("bad", [
    {"observation": {}},
    {"observation": {"x": {"dtype": "object", "shape": [], "low": 0, "high": 1}}, "action": {}},
    {"observation": {"x": {"dtype": "float32", "shape": ["a"], "low": 0, "high": 1}},
     "action": {}},
    {"observation": {"x": {"dtype": "float32", "shape": [2], "low": [0, 1, 2], "high": 1}},
     "action": {}},
    {"observation": {"x": {"dtype": "float32", "shape": [], "low": 2, "high": 1}}, "action": {}},
    "not a mapping",
])
def test_malformed_canonical_raises_spec_error(bad: object) -> None:
    with pytest.raises(SpecError):
        EnvSpec.from_canonical(bad)  # type: ignore[arg-type]


def test_reserved_keys_are_required_and_fixed() -> None:
    with pytest.raises(SpecError, match="reward"):
        EnvSpec({"x": Space(np.float32, ())}, {"action": Space(np.float32, ())})
    spec = quadruped_spec()
    obs = {**spec.observation, "reward": Space(np.float64, ())}
    with pytest.raises(SpecError, match="reward"):
        EnvSpec(obs, spec.action)


def test_model_keys_exclude_reserved_and_log() -> None:
    spec = quadruped_spec()
    assert spec.model_keys == ["image", "imu", "joints"]
    assert model_keys({"log/a": Space(np.float32, ()), "b": Space(np.float32, ())}) == ["b"]


def test_validate_names_key_and_expectation() -> None:
    space = Space(np.float32, (3,), -1.0, 1.0)
    with pytest.raises(SpecViolationError, match=r"joints: expected shape \(3,\), got \(4,\)"):
        validate(np.zeros(4, np.float32), space, "joints")
    with pytest.raises(SpecViolationError, match="joints: expected dtype float32, got int64"):
        validate(np.zeros(3, np.int64), space, "joints")
    with pytest.raises(SpecViolationError, match=r"joints: value .*2\.5.* at index \(1,\)"):
        validate(np.array([0.0, 2.5, 0.0], np.float32), space, "joints")
    with pytest.raises(SpecViolationError, match="NaN"):
        validate(np.array([0.0, np.nan, 0.0], np.float32), space, "joints")
    out = validate(np.array([0.0, 1.0, -1.0], np.float64), space, "joints")
    assert out.dtype == np.float32


def test_validate_all_reports_missing_and_extra() -> None:
    spec = {"a": Space(np.float32, ()), "b": Space(np.float32, ())}
    with pytest.raises(SpecViolationError, match=r"missing keys \['b'\], unexpected keys \['c'\]"):
        validate_all({"a": np.float32(0), "c": 1}, spec)


def test_discrete_space() -> None:
    space = Space(np.int32, (), 0, 5)
    assert space.discrete and space.classes == 6
    assert not Space(np.float32, ()).discrete
    with pytest.raises(SpecError):
        _ = Space(np.float32, ()).classes
    with pytest.raises(SpecViolationError):
        validate(np.int32(6), space, "action")


def test_check_same_shows_both_sides() -> None:
    a = quadruped_spec()
    b = EnvSpec.create(a.observation, {"action": Space(np.float32, (12,), -1.0, 0.5)})
    check_same(a, a.hash)
    with pytest.raises(SpecMismatchError) as info:
        check_same(a, b.hash, b, who="trainer")
    text = str(info.value)
    assert a.hash[:16] in text and b.hash[:16] in text and "action['action']" in text


@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=5))
def test_sample_is_valid(values: list[float]) -> None:
    low = np.asarray(values) - 1.0
    space = Space(np.float32, (len(values),), low, np.asarray(values) + 1.0)
    rng = np.random.default_rng(0)
    validate(space.sample(rng), space)


@pytest.mark.parametrize("space", [
    Space(np.float32, ()), Space(np.uint64, ()), Space(np.int64, (2,)), Space(bool, (3,)),
    Space(np.int32, (), 0, 5), Space(np.float64, (2, 2), -np.inf, 0.0),
])
def test_sample_every_kind_of_space(space: Space) -> None:
    value = space.sample(np.random.default_rng(1))
    assert value.shape == space.shape and value.dtype == space.dtype
    validate(value, space)
