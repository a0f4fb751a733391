"""Fuzzing decode_message: whatever the bytes, only ProtocolError subclasses escape.

The input generator is bench/fuzz_protocol.py (the same fuzzing runs there at any count).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from shared.protocol import MESSAGE_TYPES, decode_message, encode_message

ROOT = Path(__file__).resolve().parents[2]


def _load_fuzzer() -> ModuleType:
    path = ROOT / "bench" / "fuzz_protocol.py"
    spec = importlib.util.spec_from_file_location("fuzz_protocol", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_100k_fuzz_inputs_raise_only_protocol_errors() -> None:
    result = _load_fuzzer().run(100_000, seed=12345)
    assert result["failure_count"] == 0, result["failures"]
    assert result["count"] == 100_000
    # The generator reaches every error class and also produces valid messages.
    for name in ("MalformedMessageError", "LimitExceededError", "BadArrayError",
                 "UnknownKindError", "VersionMismatchError"):
        assert result["errors"].get(name, 0) > 20, (name, result["errors"])
    assert result["accepted"] > 1000


def test_fuzz_corpus_covers_every_kind_and_is_valid() -> None:
    samples = _load_fuzzer().sample_messages()
    assert {type(message).KIND for message in samples} == set(MESSAGE_TYPES)
    for message in samples:
        assert type(decode_message(encode_message(message, 1)).message) is type(message)


def test_fuzz_bench_cli_prints_json_and_exit_code() -> None:
    completed = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "fuzz_protocol.py"), "--count", "300"],
        capture_output=True, text=True, timeout=120, check=False)
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result["count"] == 300 and result["failure_count"] == 0


def test_fuzz_bench_fails_when_another_exception_escapes(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    fuzzer = _load_fuzzer()

    def broken_decoder(data: bytes) -> None:
        raise KeyError("a decoder bug")

    monkeypatch.setattr(fuzzer, "decode_message", broken_decoder)
    assert fuzzer.main(["--count", "5"]) == 1
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["failure_count"] == 5
    assert result["failures"][0].startswith("KeyError: 'a decoder bug'")
