"""Test helper: the project's command-line programs as subprocesses.

:class:`Process` starts ``python -m <module> ...`` from the repository root with the repository
on ``PYTHONPATH``, collects stdout and stderr on background threads (so a chatty child never
blocks on a full pipe), and offers what end-to-end tests need: the first line, waiting for a
log line, SIGTERM with the exit code, SIGKILL, and the collected output for failure messages.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def child_environment() -> dict[str, str]:
    """The environment of every child: the repository importable, offscreen MuJoCo."""
    return {**os.environ, "PYTHONPATH": str(ROOT),
            "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl"), "PYTHONUNBUFFERED": "1"}


def prioritise(niceness: int, realtime: int) -> None:
    """In the forked, not yet exec'd child: SCHED_FIFO at priority ``realtime`` (> 0) when
    permitted, else ``niceness`` added to the nice value (a refused raise is ignored)."""
    if realtime:
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(realtime))
            return
        except (PermissionError, AttributeError):
            pass
    with contextlib.suppress(PermissionError):
        os.nice(niceness)


class Process:
    """One running ``python -m module args...`` (see the module docstring).

    Args:
        name: a short label for messages (``trainer``, ``onboard``, ``firmware``).
        module: the module to run with ``-m``.
        args: its command-line arguments.
        python: the interpreter (default: this one).
        niceness: added to the child's nice value: positive for a trainer sharing the robot's
            cores, negative (where permitted) for the robot side.
        realtime: run the child under SCHED_FIFO at this priority (0: not) where permitted (as
            a robot computer runs its control process); ``niceness`` applies where it is not.
            A FIFO thread runs until it blocks: a process that must never wait (a simulated
            microcontroller) needs a higher priority than one with CPU-heavy threads.
    """

    def __init__(self, name: str, module: str, args: Sequence[str],
                 python: str = sys.executable, niceness: int = 0,
                 realtime: int = 0) -> None:
        self.name = name
        self.command = [python, "-m", module, *args]
        self.popen = subprocess.Popen(
            self.command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
            env=child_environment(), start_new_session=True,
            preexec_fn=(lambda: prioritise(niceness, realtime)) if niceness or realtime
            else None)
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._changed = threading.Condition()
        self._readers = [threading.Thread(target=self._collect, args=(pipe, lines), daemon=True)
                         for pipe, lines in ((self.popen.stdout, self.stdout),
                                             (self.popen.stderr, self.stderr))]
        for reader in self._readers:
            reader.start()

    def _collect(self, pipe, lines: list[str]) -> None:
        for line in pipe:
            with self._changed:
                lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    @property
    def pid(self) -> int:
        """The child's process id."""
        return self.popen.pid

    def alive(self) -> bool:
        """True while the child runs."""
        return self.popen.poll() is None

    def wait_for(self, predicate: Callable[[list[str]], bool], timeout: float,
                 what: str, stream: str = "stderr") -> None:
        """Wait until ``predicate(lines)`` holds for the collected ``stream`` lines; fails
        with the output when the child exits or ``timeout`` s pass."""
        lines = self.stdout if stream == "stdout" else self.stderr
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(lines):
                left = deadline - time.monotonic()
                if left <= 0 or (not self.alive() and not any(r.is_alive()
                                                               for r in self._readers)):
                    raise AssertionError(f"{self.name}: no {what} after {timeout:.0f} s "
                                         f"(exit {self.popen.poll()})\n{self.output()}")
                self._changed.wait(min(left, 0.2))

    def wait_for_line(self, text: str, timeout: float, stream: str = "stderr") -> str:
        """Wait for a line containing ``text``; returns that line."""
        self.wait_for(lambda lines: any(text in line for line in lines), timeout,
                      repr(text), stream)
        lines = self.stdout if stream == "stdout" else self.stderr
        return next(line for line in lines if text in line)

    def first_line(self, timeout: float) -> str:
        """The first stdout line (e.g. the pty path of the simulated firmware)."""
        self.wait_for(lambda lines: bool(lines), timeout, "first line", "stdout")
        return self.stdout[0]

    def count(self, text: str, stream: str = "stderr") -> int:
        """Collected lines of ``stream`` containing ``text``."""
        with self._changed:
            lines = list(self.stdout if stream == "stdout" else self.stderr)
        return sum(text in line for line in lines)

    def wait(self, timeout: float) -> int:
        """Wait for the child to exit by itself; returns the exit code."""
        code = self.popen.wait(timeout)
        self._join_readers()
        return code

    def terminate(self, timeout: float = 60.0) -> int:
        """SIGTERM and wait; returns the exit code (SIGKILL after ``timeout``, then fails)."""
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
        try:
            code = self.popen.wait(timeout)
        except subprocess.TimeoutExpired as error:
            self.kill()
            raise AssertionError(f"{self.name} ignored SIGTERM for {timeout:.0f} s\n"
                                 f"{self.output()}") from error
        self._join_readers()
        return code

    def kill(self) -> None:
        """SIGKILL (a crash: nothing is flushed) and reap."""
        if self.alive():
            self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(30)
        self._join_readers()

    def stop_quietly(self) -> None:
        """For ``finally`` blocks: SIGTERM, then SIGKILL after 20 s; never raises."""
        try:
            if self.alive():
                self.popen.send_signal(signal.SIGTERM)
                try:
                    self.popen.wait(20)
                except subprocess.TimeoutExpired:
                    self.popen.send_signal(signal.SIGKILL)
                    self.popen.wait(10)
        except (OSError, subprocess.TimeoutExpired):
            pass
        self._join_readers()

    def _join_readers(self) -> None:
        for reader in self._readers:
            reader.join(5.0)

    def output(self, tail: int = 60) -> str:
        """The last ``tail`` lines of stdout and stderr, labelled, for assertion messages."""
        with self._changed:
            out, err = self.stdout[-tail:], self.stderr[-tail:]
        return (f"--- {self.name} stdout ---\n" + "\n".join(out) +
                f"\n--- {self.name} stderr ---\n" + "\n".join(err))
