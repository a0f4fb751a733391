"""The example deployment files of docs/systemd/ are usable as written: the units have the keys
docs/DEPLOY.md relies on and start console programs that exist, the TOML configs load."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from shared.config import load_config

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
UNITS = ROOT / "docs" / "systemd"


def parse_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """``{section: {key: [values...]}}`` of a systemd unit file (comments and blanks skipped)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, sep, value = line.partition("=")
        assert sep and current is not None, f"{path.name}:{number}: not key=value: {raw!r}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def console_scripts() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return project["scripts"]


def seconds(value: str) -> float:
    assert value.endswith("s") or value.isdigit(), value
    return float(value.rstrip("s"))


def exec_start(unit: dict[str, dict[str, list[str]]]) -> list[str]:
    (command,) = unit["Service"]["ExecStart"]
    return command.split()


def config_file(command: list[str]) -> Path:
    """The example TOML beside the units that ``--config /etc/daydreamer/<name>`` names."""
    path = Path(command[command.index("--config") + 1])
    assert path.parent == Path("/etc/daydreamer"), path
    return UNITS / path.name


def test_onboard_unit() -> None:
    unit = parse_unit(UNITS / "daydreamer-onboard.service")
    service = unit["Service"]
    assert service["Type"] == ["notify"] and service["NotifyAccess"] == ["main"]
    assert service["Restart"] == ["always"] and service["KillSignal"] == ["SIGTERM"]
    assert seconds(service["RestartSec"][0]) > 0
    # link.stop waits 5 s (+2 s join), the policy verifier 5 s: the stop timeout must cover both
    assert seconds(service["TimeoutStopSec"][0]) >= 15
    assert seconds(service["WatchdogSec"][0]) >= 1
    assert service["User"] and service["WorkingDirectory"] and "dialout" in (
        service["SupplementaryGroups"][0])
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]
    command = exec_start(unit)
    assert Path(command[0]).name == "daydreamer-onboard" in console_scripts()
    assert console_scripts()["daydreamer-onboard"] == "onboard.cli:main"


def test_trainer_unit() -> None:
    unit = parse_unit(UNITS / "daydreamer-trainer.service")
    service = unit["Service"]
    command = exec_start(unit)
    assert Path(command[0]).name == "daydreamer-trainer" in console_scripts()
    assert command[1] == "serve"
    assert service["KillSignal"] == ["SIGTERM"] and seconds(service["TimeoutStopSec"][0]) >= 60
    assert service["Restart"] == ["always"] and service["WorkingDirectory"]


def test_example_configs_load() -> None:
    from onboard.config import OnboardConfig

    onboard_unit = parse_unit(UNITS / "daydreamer-onboard.service")
    config = load_config(OnboardConfig, config_file(exec_start(onboard_unit)))
    assert config.robot.kind == "firmware" and config.link.keys_dir.endswith(
        f"robot-{config.link.robot_id}")
    assert not Path(config.link.spool_dir).is_absolute()  # inside WorkingDirectory
    rules = (UNITS / "99-daydreamer-serial.rules").read_text()
    assert f'SYMLINK+="{Path(config.robot.port).name}"' in rules

    from offboard.service import ServeConfig

    trainer_unit = parse_unit(UNITS / "daydreamer-trainer.service")
    serve = load_config(ServeConfig, config_file(exec_start(trainer_unit)))
    assert serve.ingest.keys_dir.endswith("/trainer") and serve.spec
    assert serve.ingest.bind.rsplit(":", 1)[1] == config.link.endpoint.rsplit(":", 1)[1]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_analyze_finds_nothing_to_complain_about(tmp_path: Path) -> None:
    for name in ("daydreamer-onboard.service", "daydreamer-trainer.service"):
        text = (UNITS / name).read_text()
        runnable = "\n".join("ExecStart=/bin/true" if line.startswith("ExecStart=") else line
                             for line in text.splitlines())
        (tmp_path / name).write_text(runnable + "\n")
    out = subprocess.run(["systemd-analyze", "verify", *sorted(map(str, tmp_path.iterdir()))],
                         capture_output=True, text=True, timeout=60)
    assert "daydreamer-" not in out.stdout + out.stderr, out.stdout + out.stderr
