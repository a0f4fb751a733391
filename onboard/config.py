"""Configuration of ``daydreamer-onboard`` (composed from the runtime, link and robot configs)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from onboard.link_config import LinkConfig
from onboard.runtime import RuntimeConfig
from shared.errors import ConfigError


@dataclass(frozen=True)
class RobotConfig:
    """Which robot the runtime drives.

    Attributes:
        kind: ``firmware`` (a microcontroller — or ``daydreamer-simfirmware`` — on a serial
            port), ``sim`` (a simulated task in-process, no serial link) or ``env`` (a dm_control
            or gymnasium environment in-process, for benchmarks).
        task: task name (``firmware``: the host-side task; ``sim``: the simulated task).
        port: pyserial URL of the firmware (``/dev/ttyACM0``, the pty the simulated firmware
            printed, ``socket://host:port``).
        camera: camera endpoint for tasks that observe images.
        env: environment name for ``kind = "env"`` (``dmc:cartpole_swingup``, ``gym:...``).
        baud: serial line rate.
        seed: seed of resets and of the in-process simulation.
        clear_estop_on_start: clear a latched firmware e-stop when connecting. Off by default:
            after a crash or a watchdog restart the robot stays stopped until a person restarts
            the runtime with this set (the simulated robots of the demo and tests set it).
        silence_periods: ``firmware``: a STATE older than this many control periods is a fault
            (e-stop); raise it on a loaded host where the serial path itself can lag.
        rearm_after_s: simulated robots and test rigs only: clear an e-stop automatically once
            it has held this long and the robot answers without a fault again
            (:mod:`onboard.rearm`); 0 (default): an e-stop holds until a person restarts.
    """

    kind: Literal["firmware", "sim", "env"] = "firmware"
    task: str = "cartpole_swingup"
    port: str = ""
    camera: str = ""
    env: str = ""
    baud: int = 1_000_000
    seed: int = 0
    clear_estop_on_start: bool = False
    silence_periods: float = 2.0
    rearm_after_s: float = 0.0

    def __post_init__(self) -> None:
        if self.rearm_after_s < 0 or self.silence_periods <= 0:
            raise ConfigError(f"robot.rearm_after_s {self.rearm_after_s} must be >= 0 and "
                              f"robot.silence_periods {self.silence_periods} > 0")


@dataclass(frozen=True)
class OnboardConfig:
    """The onboard runtime.

    Attributes:
        robot: the robot to drive.
        runtime: control rate, mode, safety.
        link: trainer link (ignored with ``offline``).
        offline: run without a trainer (evaluation, demos); steps are not recorded.
        policy: ONNX policy file to start with (its ``.manifest.json`` beside it is verified when
            a verify key is configured); empty: random actions until the trainer sends one.
        allow_unsigned: accept unsigned policies (only for key-less local runs).
        max_seconds: stop after this long (0: until a signal).
        max_episodes: stop after this many episodes (0: no limit).
        summary: write the final summary as JSON to this file (empty: stdout only).
    """

    robot: RobotConfig = field(default_factory=RobotConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    link: LinkConfig = field(default_factory=LinkConfig)
    offline: bool = False
    policy: str = ""
    allow_unsigned: bool = False
    max_seconds: float = 0.0
    max_episodes: int = 0
    summary: str = ""
