"""Config loading: strict keys and types, overrides, resolved config round trip."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from shared.config import dump_toml, load_config, parse_override, write_resolved
from shared.errors import ConfigError


@dataclass(frozen=True)
class OptimConfig:
    """Test config."""

    lr: float = 4e-5
    """learning rate"""
    warmup: int = 1000
    """warm-up steps"""


@dataclass(frozen=True)
class RunConfig:
    """Test config."""

    name: str = "run"
    preset: str = "debug"
    sizes: tuple[int, ...] = (1, 2)
    directory: Path = Path("runs")
    seed: int | None = None
    verbose: bool = False
    optim: OptimConfig = field(default_factory=OptimConfig)


def test_defaults_file_then_overrides(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('name = "a1"\n[optim]\nlr = 1e-4\n')
    config = load_config(RunConfig, path, ["optim.warmup=10", "preset=size12m", "sizes=[3, 4]",
                                           "seed=7", "verbose=true"])
    assert config == RunConfig(name="a1", preset="size12m", sizes=(3, 4), seed=7, verbose=True,
                               optim=OptimConfig(lr=1e-4, warmup=10))


def test_int_accepted_for_float() -> None:
    assert load_config(RunConfig, None, ["optim.lr=1"]).optim.lr == 1.0


@pytest.mark.parametrize(("override", "message"), [
    ("optim.lrr=1", r"unknown config key 'optim\.lrr'.*allowed here: lr, warmup"),
    ("nme=x", r"unknown config key 'nme'"),
    ("optim.warmup=1.5", r"optim\.warmup: expected an integer, got 1\.5"),
    ("optim.warmup=true", r"optim\.warmup: expected an integer"),
    ("verbose=1", r"verbose: expected true or false"),
    ("sizes=[1, \"a\"]", r"sizes\[1\]: expected an integer"),
    ("optim=3", r"optim: expected a table"),
    ("seed=x", r"seed: 'x' matches none of"),
])
def test_errors_name_the_key(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(RunConfig, None, [override])


def test_bad_override_syntax() -> None:
    with pytest.raises(ConfigError, match=r"key\.path=value"):
        parse_override("novalue")
    with pytest.raises(ConfigError, match=r"key\.path=value"):
        parse_override("a..b=1")


def test_bad_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(RunConfig, tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(RunConfig, bad)
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("[optim]\nbeta = 0.9\n")
    with pytest.raises(ConfigError, match=r"optim\.beta"):
        load_config(RunConfig, unknown)


def test_resolved_config_round_trips(tmp_path: Path) -> None:
    config = load_config(RunConfig, None, ['name="say \\"hi\\""', "optim.lr=3e-5", "seed=3"])
    path = write_resolved(config, tmp_path / "run")
    assert load_config(RunConfig, path) == config
    assert "[optim]" in dump_toml(config)
