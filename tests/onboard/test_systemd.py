"""sd_notify from the control loop: READY at the first tick, WATCHDOG at half the timeout on the
loop's clock, nothing while the control thread is stuck, STOPPING at shutdown, errors counted."""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from pathlib import Path

import pytest

from onboard.robot import EnvRobot
from onboard.runtime import Runtime, RuntimeConfig
from onboard.systemd import SystemdNotifier, socket_address, watchdog_seconds
from tests.onboard.fakes import CountingEnv, FakeClock


def receiver(address: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.setblocking(False)
    return sock


def drain(sock: socket.socket) -> list[str]:
    messages = []
    while True:
        try:
            messages.append(sock.recv(4096).decode())
        except BlockingIOError:
            return messages


def runtime_with(notifier: SystemdNotifier, hz: float = 50.0, length: int = 1000,
                 clock=None) -> Runtime:
    runtime = Runtime(EnvRobot(CountingEnv(length)), RuntimeConfig(hz=hz, mode="random"),
                      clock=clock or FakeClock())
    runtime.on_tick = notifier.tick
    return runtime


def short_path(tmp_path: Path) -> str:
    """A unix socket path under the 108-byte limit."""
    path = tmp_path / "notify"
    return str(path) if len(str(path)) < 100 else f"/tmp/dd-notify-{uuid.uuid4().hex[:8]}"


def test_environment_parsing() -> None:
    assert socket_address("@name") == "\0name" and socket_address("/run/x") == "/run/x"
    assert watchdog_seconds({"WATCHDOG_USEC": "2000000"}, pid=5) == 2.0
    assert watchdog_seconds({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "5"}, pid=5) == 2.0
    assert watchdog_seconds({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "6"}, pid=5) == 0.0
    assert watchdog_seconds({"WATCHDOG_USEC": "junk"}, pid=5) == 0.0
    assert watchdog_seconds({}, pid=5) == 0.0
    disabled = SystemdNotifier.from_environment({})
    assert not disabled.enabled and not disabled.send("READY=1")
    disabled.tick(1.0)
    assert disabled.sent == 0 and disabled.errors == 0


def test_ready_watchdog_cadence_and_stopping(tmp_path: Path) -> None:
    address = short_path(tmp_path)
    sock = receiver(address)
    try:
        notifier = SystemdNotifier.from_environment(
            {"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "100000"})  # 0.1 s -> every 0.05 s
        assert notifier.interval == pytest.approx(0.05)
        runtime = runtime_with(notifier, hz=50.0)  # fake clock: 0.02 s per tick
        received: list[tuple[int, str]] = []
        tick = runtime.tick

        def tick_and_collect(index: int, deadline: float) -> bool:
            keep_going = tick(index, deadline)
            received.extend((index, message) for message in drain(sock))
            return keep_going

        runtime.loop.run(tick_and_collect, max_ticks=30)
        notifier.stopping("stopping: flushing the spool")
        final = drain(sock)
    finally:
        sock.close()
        notifier.close()
    assert received[0] == (0, "READY=1\nSTATUS=control loop running\nWATCHDOG=1")
    watchdog_ticks = [index for index, message in received if message == "WATCHDOG=1"]
    assert watchdog_ticks == [3, 6, 9, 12, 15, 18, 21, 24, 27]  # 0.06 s apart: first >= 0.05
    assert len(received) == 10 and notifier.watchdogs == 9 and notifier.errors == 0
    assert final == ["STOPPING=1\nSTATUS=stopping: flushing the spool"]
    assert notifier.sent == 11


def test_abstract_socket() -> None:
    name = f"daydreamer-test-{uuid.uuid4().hex}"
    sock = receiver("\0" + name)
    try:
        notifier = SystemdNotifier.from_environment(
            {"NOTIFY_SOCKET": "@" + name, "WATCHDOG_USEC": "1000000"})
        runtime_with(notifier, hz=10.0).run(max_ticks=12)  # 1.1 s of fake time, every 0.5 s
        notifier.status("steps 12 | line\nbreak")
        messages = drain(sock)
    finally:
        sock.close()
    assert messages[0].startswith("READY=1") and messages.count("WATCHDOG=1") == 2
    assert messages[-1] == "STATUS=steps 12 | line break"


class StallingRobot(EnvRobot):
    """Blocks in ``sense`` while ``stall`` is set, like a control thread stuck on a serial read."""

    def __init__(self) -> None:
        super().__init__(CountingEnv(10_000))
        self.stall = threading.Event()
        self.stalled = threading.Event()
        self.release = threading.Event()

    def sense(self):
        if self.stall.is_set():
            self.stalled.set()
            self.release.wait(10.0)
        return super().sense()


def test_a_stalled_control_loop_sends_no_watchdog(tmp_path: Path) -> None:
    address = short_path(tmp_path)
    sock = receiver(address)
    robot = StallingRobot()
    notifier = SystemdNotifier(address, watchdog_s=0.04)  # WATCHDOG every 0.02 s of real time
    runtime = Runtime(robot, RuntimeConfig(hz=200.0, mode="random"))
    runtime.on_tick = notifier.tick
    thread = threading.Thread(target=runtime.run, daemon=True)
    thread.start()
    try:
        time.sleep(0.3)
        before = drain(sock)
        robot.stall.set()
        assert robot.stalled.wait(5.0)
        drain(sock)  # whatever was sent before the stuck tick began
        time.sleep(0.3)  # 15 watchdog intervals
        during = drain(sock)
        robot.stall.clear()
        robot.release.set()
        time.sleep(0.2)
        after = drain(sock)
    finally:
        robot.stall.clear()
        robot.release.set()
        runtime.stop()
        thread.join(5.0)
        sock.close()
    assert before.count("WATCHDOG=1") >= 3
    assert during == []
    assert after.count("WATCHDOG=1") >= 2
    assert not thread.is_alive()


def test_unreachable_socket_counts_errors_and_the_loop_keeps_running(tmp_path: Path) -> None:
    missing = SystemdNotifier(str(tmp_path / "nobody-listens"), watchdog_s=0.1)
    runtime = runtime_with(missing)
    runtime.run(max_ticks=30)
    assert runtime.stats.steps == 30
    assert missing.errors == 10 and missing.sent == 0 and missing.watchdogs == 0

    address = short_path(tmp_path)
    receiver(address).close()  # bound once, nobody reads: connection refused
    refused = SystemdNotifier(address, watchdog_s=0.1)
    runtime_with(refused).run(max_ticks=30)
    assert refused.errors == 10 and refused.sent == 0
    os.unlink(address)


def test_a_full_receive_queue_never_blocks(tmp_path: Path) -> None:
    address = short_path(tmp_path)
    sock = receiver(address)  # never read: the queue fills (net.unix.max_dgram_qlen)
    try:
        notifier = SystemdNotifier(address, watchdog_s=1e-6)  # due every tick
        runtime = runtime_with(notifier, hz=1000.0)
        started = time.monotonic()
        runtime.run(max_ticks=3000)
        elapsed = time.monotonic() - started
    finally:
        sock.close()
    assert runtime.stats.steps == 3000 and notifier.errors > 0
    assert notifier.sent + notifier.errors == 3000
    assert elapsed < 30.0  # a blocking send would hang here forever


def test_daydreamer_onboard_under_a_notify_socket(tmp_path: Path) -> None:
    """The console program: READY, WATCHDOG while running, SIGTERM -> STOPPING and exit 0."""
    import json
    import signal
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    address = short_path(tmp_path)
    sock = receiver(address)
    sock.setblocking(True)
    sock.settimeout(60.0)
    summary = tmp_path / "summary.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "onboard.cli", "--set", "robot.kind=env",
         "--set", "robot.env=gym:Pendulum-v1", "--set", "offline=true",
         "--set", "runtime.mode=random", "--set", "runtime.hz=100",
         "--set", f"link.spool_dir={tmp_path / 'state'}", "--set", f"summary={summary}"],
        cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={"PATH": "", "PYTHONPATH": str(root), "NOTIFY_SOCKET": address,
             "WATCHDOG_USEC": "100000"})
    try:
        first = sock.recv(4096).decode()
        messages = [sock.recv(4096).decode() for _ in range(5)]  # 5 watchdogs: ~0.25 s
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
        sock.setblocking(False)
        messages += drain(sock)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        sock.close()
    assert process.returncode == 0, stderr[-2000:]
    assert first.startswith("READY=1") and "WATCHDOG=1" in first
    assert messages[:5] == ["WATCHDOG=1"] * 5
    assert messages[-1] == "STOPPING=1\nSTATUS=stopping"
    counts = json.loads(summary.read_text())["systemd"]
    assert counts["errors"] == 0 and counts["watchdogs"] >= 5
    statuses = sum(message.startswith("STATUS=") for message in messages)  # every 5 s
    assert counts["sent"] == counts["watchdogs"] + 2 + statuses  # + READY + STOPPING
    assert messages.count("WATCHDOG=1") == counts["watchdogs"]
