"""The fault suite's deployment: firmware, trainer and onboard processes under one folder.

:func:`deployment` generates the keys and the spec, and yields a :class:`Deployment` whose
processes are all stopped (and their logs kept in ``<folder>/logs``) when the block ends. The
simulated firmware records every COMMAND it receives (``--record-commands``) for the safety audit
of :mod:`tests.faults.checks`. Scheduling, command lines and the replay audit come from
:mod:`tests.whole_system`, as in ``tests/test_end_to_end.py``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from firmware_bridge.sim.command_log import read_command_log
from shared.keys import generate_deployment
from shared.spec import EnvSpec
from tests.processes import Process, free_port
from tests.whole_system import (
    FIRMWARE,
    ONBOARD,
    ROBOT,
    SILENCE_PERIODS,
    TASK,
    TRAINER,
    onboard_args,
    print_spec,
    processes,
    trainer_args,
)

#: the onboard log line of every WELCOME (one per connection to a trainer).
WELCOMED = "link: welcomed by"


@dataclass
class Deployment:
    """One robot (simulated firmware + ``daydreamer-onboard``) and its trainer, on loopback.

    Attributes:
        folder: everything lives here: ``keys``, ``spec.json``, ``run`` (the trainer's run
            folder), ``spool`` (the robot's), ``commands.jsonl``, ``summary-<name>.json``.
        keys: the generated key folders (``trainer``, the robot's).
        spec: the robot's spec.
        port: the trainer's port (the same across trainer restarts).
        running: every process started, in order (stopped at the end of :func:`deployment`).
        firmware: the firmware process; ``pty`` its serial port.
        trainer: the current trainer process.
        trainers: every trainer process started.
        firmware_summary: the firmware's final counters (after :meth:`stop_firmware`).
    """

    folder: Path
    keys: dict[str, Path]
    spec: EnvSpec
    port: int
    running: list[Process]
    firmware: Process | None = None
    pty: str = ""
    trainer: Process | None = None
    trainers: list[Process] = field(default_factory=list)
    firmware_summary: dict[str, Any] = field(default_factory=dict)

    @property
    def run_dir(self) -> Path:
        """The trainer's run folder."""
        return self.folder / "run"

    @property
    def spool_dir(self) -> Path:
        """The robot's spool folder (kept across onboard restarts)."""
        return self.folder / "spool"

    def start_firmware(self) -> Process:
        """The simulated cart-pole firmware on a pty, recording every COMMAND."""
        self.firmware = Process("firmware", "firmware_bridge.sim.cli", [
            "--task", TASK, "--pty", "--record-commands", str(self.folder / "commands.jsonl")],
            **FIRMWARE)
        self.running.append(self.firmware)
        self.pty = self.firmware.first_line(60)
        assert self.pty.startswith("/dev/"), self.firmware.output()
        return self.firmware

    def start_trainer(self) -> Process:
        """A trainer on :attr:`port` and the run folder (the spec is given on the first start
        only, as an operator restarting a run would); waits until it listens."""
        spec = None if self.trainers else self.folder / "spec.json"
        self.trainer = Process(f"trainer{len(self.trainers)}", "offboard.cli", trainer_args(
            spec, self.port, self.keys["trainer"], self.run_dir), **TRAINER)
        self.running.append(self.trainer)
        self.trainers.append(self.trainer)
        self.trainer.wait_for_line("trainer listening on", 120)
        return self.trainer

    def start_onboard(self, name: str, port: int | None = None, clear_estop: bool = True
                      ) -> Process:
        """``daydreamer-onboard`` on the firmware, streaming to ``port`` (default: the
        trainer's), spooling to :attr:`spool_dir`, writing ``summary-<name>.json``."""
        robot = {"kind": "firmware", "port": self.pty, "task": TASK,
                 "silence_periods": str(SILENCE_PERIODS),
                 "clear_estop_on_start": str(clear_estop).lower()}
        onboard = Process(name, "onboard.cli", onboard_args(
            robot, port or self.port, self.keys[ROBOT], self.folder,
            summary=str(self.folder / f"summary-{name}.json")), **ONBOARD)
        self.running.append(onboard)
        return onboard

    def stop_onboard(self, onboard: Process) -> dict[str, Any]:
        """SIGTERM (it must exit 0 with everything acknowledged); returns its summary."""
        assert onboard.terminate(60) == 0, onboard.output()
        return json.loads((self.folder / f"summary-{onboard.name}.json").read_text())

    def stop_trainer(self) -> None:
        """SIGTERM the current trainer; it must exit 0 after a clean stop."""
        assert self.trainer is not None
        assert self.trainer.terminate(120) == 0, self.trainer.output()
        assert "trainer stopped cleanly" in "\n".join(self.trainer.stderr), self.trainer.output()

    def firmware_watchdog_trips(self) -> int:
        """Watchdog e-stops the firmware has logged so far."""
        assert self.firmware is not None
        return self.firmware.count("fault WATCHDOG")

    def pause_firmware(self) -> None:
        """SIGSTOP: the microcontroller hangs (nothing read, nothing sent); returns once the
        kernel shows the process stopped, so nothing it records is later than the return."""
        assert self.firmware is not None
        os.kill(self.firmware.pid, signal.SIGSTOP)
        stat = Path(f"/proc/{self.firmware.pid}/stat")
        wait_until(lambda: stat.read_text().rsplit(")", 1)[1].split()[0] == "T", 5.0,
                   "stopped firmware", poll=0.001)

    def resume_firmware(self) -> None:
        """SIGCONT."""
        assert self.firmware is not None
        os.kill(self.firmware.pid, signal.SIGCONT)

    def stop_firmware(self) -> dict[str, Any]:
        """SIGTERM the firmware (exit 0); returns its final counters and keeps them."""
        assert self.firmware is not None
        assert self.firmware.terminate(30) == 0, self.firmware.output()
        self.firmware_summary = json.loads(self.firmware.stdout[-1])
        return self.firmware_summary

    def finish(self, onboard: Process, firmware_latched: bool = False) -> dict[str, Any]:
        """End of a scenario: SIGTERM the onboard (its summary is returned), then the trainer,
        then the firmware. With nobody commanding it, a firmware that was not already latched
        (``firmware_latched``) e-stops on its watchdog: that trip is awaited and counted in the
        returned ``final_trips``; ``run_trips`` are the trips logged before."""
        run_trips = self.firmware_watchdog_trips()
        summary = self.stop_onboard(onboard)
        if not firmware_latched:
            wait_until(lambda: self.firmware_watchdog_trips() > run_trips, 10.0,
                       "firmware watchdog e-stop after the onboard stopped")
        self.stop_trainer()
        firmware = self.stop_firmware()
        assert firmware["watchdog_trips"] == self.firmware_watchdog_trips(), firmware
        return {"onboard": summary, "run_trips": run_trips,
                "final_trips": firmware["watchdog_trips"] - run_trips}

    def commands(self) -> list[dict[str, Any]]:
        """Every COMMAND the firmware received (after :meth:`stop_firmware`)."""
        return read_command_log(self.folder / "commands.jsonl")

    def spooled_steps(self) -> tuple[int, int]:
        """``(steps in unacknowledged spool batches, next unused seq)`` of the robot's spool,
        read from its files (the onboard process may be running or dead)."""
        ranges = [tuple(int(part) for part in path.stem.split("-"))
                  for path in self.spool_dir.glob("*.batch")]
        state = json.loads((self.spool_dir / "stream.json").read_text())
        next_seq = max([int(state["next_seq"]), *(last + 1 for _, last in ranges)])
        return sum(last - first + 1 for first, last in ranges), next_seq


class SpoolCopier:
    """Copies every batch file that shows up in a spool folder into ``stash`` (a thread polling
    every 10 ms while the ``with`` block runs): batches the trainer has since acknowledged can be
    put back with :meth:`put_back_oldest`, as if the robot had been killed after the trainer
    stored them but before their ACK arrived."""

    def __init__(self, spool: Path, stash: Path) -> None:
        self.spool, self.stash = spool, stash
        stash.mkdir(parents=True, exist_ok=True)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._copy, name="spool-copier", daemon=True)

    def __enter__(self) -> SpoolCopier:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5.0)

    def _copy(self) -> None:
        while not self._stop.wait(0.01):
            for path in self.spool.glob("*.batch"):
                with contextlib.suppress(OSError):  # acknowledged and deleted meanwhile
                    if not (self.stash / path.name).exists():
                        shutil.copyfile(path, self.stash / path.name)

    def put_back_oldest(self) -> tuple[int, int]:
        """Put the oldest copied batch back into the spool; returns its ``(first, last)`` seq."""
        oldest = min(self.stash.glob("*.batch"))
        shutil.copyfile(oldest, self.spool / oldest.name)
        first, last = (int(part) for part in oldest.stem.split("-"))
        return first, last


def wait_for_welcomes(onboard: Process, count: int, timeout: float = 120.0) -> None:
    """Wait until ``onboard`` has been welcomed ``count`` times in all."""
    onboard.wait_for(lambda lines: sum(WELCOMED in line for line in lines) >= count, timeout,
                     f"WELCOME #{count}")


def wait_until(predicate: Any, timeout: float, what: str, poll: float = 0.1) -> None:
    """Poll ``predicate()`` until true; fails naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} after {timeout:.0f} s")
        time.sleep(poll)


@contextmanager
def deployment(folder: Path) -> Iterator[Deployment]:
    """Keys, spec and a free trainer port under ``folder``; every process started through the
    yielded :class:`Deployment` is stopped at the end and its log kept in ``folder/logs``."""
    keys = generate_deployment(folder / "keys", [ROBOT])
    spec = print_spec(TASK, folder / "spec.json")
    with processes(folder / "logs") as running:
        yield Deployment(folder, keys, spec, free_port(), running)
