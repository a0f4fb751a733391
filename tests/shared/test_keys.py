"""Key tool: a full deployment key set that zmq and PyNaCl read back."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest

from shared.keys import (
    KeyMaterialError,
    generate_deployment,
    load_curve_keys,
    load_signing_key,
    load_verify_key,
)


def test_deployment_keys_are_consistent(tmp_path: Path) -> None:
    folders = generate_deployment(tmp_path, ["a1", "arm"])
    trainer_pub, trainer_sec = load_curve_keys(folders["trainer"] / "trainer.key_secret")
    assert trainer_sec is not None and len(trainer_pub) == 40
    robot_pub, _ = load_curve_keys(folders["a1"] / "a1.key_secret")
    allowed_pub, allowed_sec = load_curve_keys(folders["trainer"] / "allowed_robots" / "a1.key")
    assert allowed_pub == robot_pub and allowed_sec is None
    assert load_curve_keys(folders["a1"] / "trainer.key")[0] == trainer_pub
    signer = load_signing_key(folders["trainer"] / "policy_signing.secret")
    verifier = load_verify_key(folders["arm"] / "policy_signing.pub")
    assert verifier.verify(signer.sign(b"manifest")) == b"manifest"
    mode = stat.S_IMODE((folders["a1"] / "a1.key_secret").stat().st_mode)
    assert mode == 0o600


def test_refuses_to_overwrite_and_bad_ids(tmp_path: Path) -> None:
    generate_deployment(tmp_path, ["a1"])
    with pytest.raises(KeyMaterialError, match="refusing to overwrite"):
        generate_deployment(tmp_path, ["a1"])
    with pytest.raises(KeyMaterialError, match="robot id"):
        generate_deployment(tmp_path / "x", ["../evil"])


def test_bad_key_files(tmp_path: Path) -> None:
    (tmp_path / "bad.pub").write_text("zz\n")
    with pytest.raises(KeyMaterialError, match="not hex"):
        load_verify_key(tmp_path / "bad.pub")
    (tmp_path / "short.pub").write_text("abcd\n")
    with pytest.raises(KeyMaterialError, match="2 bytes"):
        load_verify_key(tmp_path / "short.pub")
    with pytest.raises(KeyMaterialError, match="does not exist"):
        load_curve_keys(tmp_path / "missing.key")


def test_cli(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "shared.keys", "--out", str(tmp_path / "k"),
                          "--robots", "r1,r2"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "k" / "robot-r2" / "r2.key_secret").is_file()
    again = subprocess.run([sys.executable, "-m", "shared.keys", "--out", str(tmp_path / "k")],
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 2 and "refusing to overwrite" not in again.stdout
