"""``daydreamer-simfirmware``: a simulated robot microcontroller on a serial port.

    daydreamer-simfirmware --task cartpole_swingup --pty
    # first stdout line: /dev/pts/7   <- give it to the robot computer as its serial port
    daydreamer-simfirmware --task sphere_goal --pty --camera ipc:///tmp/robot-camera

The program runs the task's MuJoCo physics and the MCU inner loop in real time, speaks the
serial protocol of ``docs/SERIAL.md`` (HELLO, STATE stream, COMMAND, watchdog e-stop, RESET) and,
with ``--camera``, publishes rendered frames on a ZeroMQ endpoint (the robot's USB camera).
SIGINT/SIGTERM stop it cleanly; it then prints one line of JSON with its counters.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING

from firmware_bridge.errors import BridgeError
from firmware_bridge.sim.faults import RX, TX, FaultSettings
from firmware_bridge.sim.model import FirmwareConfig
from firmware_bridge.sim.robot_model import PROFILES, TaskRobotModel
from shared.errors import DaydreamerError

if TYPE_CHECKING:  # imported lazily by build_firmware
    from firmware_bridge.sim.engine import SimFirmware

LOGGER = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (``--help`` lists the tasks)."""
    parser = argparse.ArgumentParser(
        prog="daydreamer-simfirmware", description=__doc__.split("\n\n")[0],
        epilog="Tasks: " + "; ".join(
            f"{name} (STATE {profile.state_rate_hz:g} Hz, "
            f"{'resettable' if profile.resettable else 'no physical reset'})"
            for name, profile in PROFILES.items()),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--task", "--robot", dest="task", choices=sorted(PROFILES),
                        default="cartpole_swingup", help="task (and robot) to simulate")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--pty", action="store_true",
                       help="open a pseudo-terminal and print its path as the first line")
    where.add_argument("--port", default="", help="attach to this pyserial URL instead")
    parser.add_argument("--baud", type=int, default=1_000_000, help="modelled line rate")
    parser.add_argument("--watchdog-ms", type=float, default=100.0,
                        help="e-stop after this long without COMMAND/HEARTBEAT")
    parser.add_argument("--state-hz", type=float, default=0.0,
                        help="STATE rate (0: the task's default)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first episode")
    parser.add_argument("--camera", default="",
                        help="publish rendered frames on this ZeroMQ endpoint, e.g. "
                             "ipc:///tmp/robot-camera")
    parser.add_argument("--menagerie-dir", default="",
                        help="a1_walk: load unitree_a1/scene.xml from this Menagerie copy")
    parser.add_argument("--realtime", action=argparse.BooleanOptionalAction, default=True,
                        help="pace physics to the wall clock (--no-realtime runs the firmware "
                             "clock --speed times faster, watchdog included)")
    parser.add_argument("--speed", type=float, default=4.0,
                        help="firmware clock speed-up with --no-realtime")
    parser.add_argument("--report-s", type=float, default=10.0,
                        help="log the counters every this many seconds (stderr)")
    faults = parser.add_argument_group("link faults (tests)")
    faults.add_argument("--fault-seed", type=int, default=0)
    faults.add_argument("--fault-drop", type=float, default=0.0, help="drop probability/frame")
    faults.add_argument("--fault-flip", type=float, default=0.0, help="bit-flip probability")
    faults.add_argument("--fault-delay", type=float, default=0.0, help="delay probability")
    faults.add_argument("--fault-delay-ms", type=float, default=0.0, help="delay of a frame")
    faults.add_argument("--fault-burst", type=float, default=0.0, help="burst probability")
    faults.add_argument("--fault-burst-length", type=int, default=0, help="frames per burst")
    faults.add_argument("--fault-garbage", type=float, default=0.0, help="garbage probability")
    faults.add_argument("--fault-direction", choices=("both", "tx", "rx"), default="both",
                        help="tx: frames the firmware sends; rx: frames it receives")
    parser.add_argument("--record-commands", default="", metavar="PATH",
                        help="write every COMMAND received (time, seq, targets, outcome) to "
                             "this file as JSON lines (safety audits in tests)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


def fault_settings(args: argparse.Namespace) -> FaultSettings:
    """The link-fault settings of the parsed arguments."""
    directions = {"both": TX | RX, "tx": TX, "rx": RX}[args.fault_direction]
    return FaultSettings(
        seed=args.fault_seed, directions=directions, drop_probability=args.fault_drop,
        bit_flip_probability=args.fault_flip, delay_probability=args.fault_delay,
        delay_ms=args.fault_delay_ms, burst_probability=args.fault_burst,
        burst_length=args.fault_burst_length, garbage_probability=args.fault_garbage)


def scaled_clock(speed: float) -> Callable[[], float]:
    """A monotonic clock running ``speed`` times faster than the wall clock."""
    origin = time.monotonic()
    return lambda: origin + (time.monotonic() - origin) * speed


def build_firmware(args: argparse.Namespace) -> SimFirmware:
    """The firmware of the parsed arguments (imports MuJoCo)."""
    from firmware_bridge.camera import CameraPublisher
    from firmware_bridge.sim.engine import SimFirmware
    from firmware_bridge.sim.tasks import make_task

    overrides = {"menagerie_dir": args.menagerie_dir} if args.task == "a1_walk" else {}
    camera = CameraPublisher(args.camera) if args.camera else None
    model = TaskRobotModel(make_task(args.task, **overrides), args.task, seed=args.seed,
                           camera=camera)
    config = FirmwareConfig(watchdog_ms=args.watchdog_ms, baud=args.baud,
                            state_rate_hz=args.state_hz)
    kwargs = {"config": config, "faults": fault_settings(args)}
    if args.record_commands:
        from firmware_bridge.sim.command_log import CommandLog

        kwargs["on_command"] = CommandLog(args.record_commands)
    if not args.realtime:
        kwargs["clock"] = scaled_clock(args.speed)
    if args.port:
        return SimFirmware.attach(model, args.port, **kwargs)
    return SimFirmware.open_pty(model, **kwargs)


def summary(firmware: SimFirmware) -> dict:
    """Counters of a stopped firmware (JSON-ready)."""
    model = firmware.model
    assert isinstance(model, TaskRobotModel)
    return {"task": model.task_name, "physics_steps": model.physics_steps,
            "frames": model.frames_rendered, "clipped": model.robot.clipped,
            **asdict(firmware.stats), "injected": asdict(firmware.injector.counters),
            "bad_frames": firmware.parser.stats.bad_total}


def run(args: argparse.Namespace, stop: threading.Event) -> int:
    """Run the firmware until ``stop`` is set; print the port first and the summary last."""
    firmware = build_firmware(args)
    print(firmware.port_path or args.port, flush=True)
    firmware.start()
    LOGGER.info("simulated firmware %r on %s", firmware.model.name,
                firmware.port_path or args.port)
    try:
        while not stop.wait(args.report_s):
            LOGGER.info("%s", firmware.stats)
    finally:
        firmware.close()
        close_log = getattr(firmware.on_command, "close", None)
        if close_log is not None:
            close_log()  # the CommandLog of --record-commands: flushed now
        try:
            firmware.model.close()
        except Exception:  # a renderer bound to the stopped thread may refuse; exiting anyway
            LOGGER.debug("closing the model failed", exc_info=True)
        print(json.dumps(summary(firmware)), flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``daydreamer-simfirmware``."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    stop = threading.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: stop.set())
    try:
        return run(args, stop)
    except (BridgeError, DaydreamerError) as error:
        print(f"daydreamer-simfirmware: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
