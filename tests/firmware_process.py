"""Test helper: the simulated firmware CLI as a subprocess on a pseudo-terminal."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.processes import prioritise

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class FirmwareProcess:
    """A running ``python -m firmware_bridge.sim.cli`` and its pty path.

    Attributes:
        process: the subprocess (stdout piped, stderr to a file).
        port: the pty path it printed first.
        output: stdout lines read after the port (filled by :meth:`stop`).
    """

    process: subprocess.Popen
    port: str
    output: list[str] = field(default_factory=list)

    def pause(self) -> None:
        """SIGSTOP: the firmware freezes as a hung MCU would."""
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT."""
        os.kill(self.process.pid, signal.SIGCONT)

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, wait, collect the remaining stdout; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.send_signal(signal.SIGTERM)
        try:
            out, _ = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, _ = self.process.communicate()
        self.output += out.splitlines()
        return self.process.returncode


def _read_line(process: subprocess.Popen, timeout: float) -> str:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    return process.stdout.readline().strip() if ready else ""


@contextmanager
def firmware_process(task: str, *args: str, start_timeout: float = 30.0,
                     log_path: Path | None = None, niceness: int = 0, realtime: int = 0
                     ) -> Iterator[FirmwareProcess]:
    """Start the firmware CLI for ``task`` with ``--pty`` and extra ``args``; stop it after.

    ``niceness`` and ``realtime`` set its scheduling as :class:`tests.processes.Process` does
    (a simulated microcontroller that must keep its STATE rate on a loaded machine)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MUJOCO_GL": os.environ.get("MUJOCO_GL",
                                                                            "egl")}
    log_file = open(log_path or os.devnull, "w")  # noqa: SIM115 (closed below)
    process = subprocess.Popen(
        [sys.executable, "-m", "firmware_bridge.sim.cli", "--task", task, "--pty", *args],
        stdout=subprocess.PIPE, stderr=log_file, text=True, cwd=ROOT, env=env,
        preexec_fn=(lambda: prioritise(niceness, realtime)) if niceness or realtime else None)
    started = time.monotonic()
    port = _read_line(process, start_timeout)
    handle = FirmwareProcess(process, port)
    try:
        assert port.startswith("/dev/"), (
            f"no pty path after {time.monotonic() - started:.1f} s, got {port!r}, "
            f"exit code {process.poll()}")
        yield handle
    finally:
        handle.stop()
        log_file.close()
