"""Simulated firmware engine: wire-time model, overruns, plant faults, injected link faults."""

from __future__ import annotations

import dataclasses
import threading
import time

import numpy as np
import pytest

from firmware_bridge.framing import FrameEncoder
from firmware_bridge.host import FirmwareDriver
from firmware_bridge.messages import TABLE, FaultCode
from firmware_bridge.sim.command_log import CommandLog, read_command_log
from firmware_bridge.sim.engine import COMMAND_OUTCOMES, SimFirmware
from firmware_bridge.sim.faults import RX, TX, FaultSettings
from firmware_bridge.sim.model import FirmwareConfig, PDGains, pd_control
from firmware_bridge.sim.serve import serve
from firmware_bridge.sim.wire import TimedQueue, WireClock
from firmware_bridge.transport import LinkConfig, PtyTransport

LINK = LinkConfig(control_period_s=0.5, ack_timeout_s=0.2)


def count_states(driver: FirmwareDriver, seconds: float) -> int:
    count, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        count += driver.wait_for_state(deadline - time.monotonic()) is not None
    return count


def test_wire_clock_serialises_transfers() -> None:
    clock = WireClock(10_000)  # 1 ms per byte
    assert clock.reserve(10, 5.0) == pytest.approx(5.010)
    assert clock.reserve(10, 5.001) == pytest.approx(5.020)  # queued behind the first
    assert clock.reserve(1, 9.0) == pytest.approx(9.001)
    assert clock.backlog(9.0005) == pytest.approx(0.0005) and clock.backlog(10.0) == 0.0


def test_timed_queue_releases_in_time_then_insertion_order() -> None:
    queue = TimedQueue()
    queue.push(2.0, "tx", b"late")
    queue.push(1.0, "rx", b"a")
    queue.push(1.0, "tx", b"b")
    assert queue.next_time() == 1.0 and queue.pop_due(0.5) is None
    assert [queue.pop_due(1.5), queue.pop_due(1.5), queue.pop_due(1.5)] == [
        ("rx", b"a"), ("tx", b"b"), None]
    assert queue.pop_due(2.0) == ("tx", b"late") and len(queue) == 0


@pytest.mark.parametrize(("baud", "model_wire_time", "low", "high"), [
    (9600, True, 2, 7),  # ~105-byte STATE = 110 ms on the wire: at most ~5 in 0.5 s
    (9600, False, 60, 110),  # a pty ignores baud: 200 Hz
])
def test_state_rate_is_limited_by_modelled_wire_time(robot, baud, model_wire_time, low, high
                                                     ) -> None:
    config = FirmwareConfig(baud=baud, model_wire_time=model_wire_time, watchdog_ms=5000)
    with (SimFirmware.open_pty(robot, config=config) as firmware,
          FirmwareDriver.open(firmware.port_path, LINK) as driver):
        driver.connect()
        assert low <= count_states(driver, 0.5) <= high


class FailingRobot:
    """Wraps a robot; its physics raises after ``fail_after`` steps or sleeps ``stall_s``."""

    def __init__(self, inner, fail_after: int = 10**9, stall_s: float = 0.0) -> None:
        self.inner, self.fail_after, self.stall_s, self.calls = inner, fail_after, stall_s, 0
        for name in ("name", "joint_count", "task_sensor_count", "command_mode",
                     "physics_rate_hz", "state_rate_hz", "read_state", "safe_stop", "reset"):
            setattr(self, name, getattr(inner, name))

    def step_physics(self, targets, dt: float) -> None:
        self.calls += 1
        if self.calls > self.fail_after:
            raise FloatingPointError("simulation diverged")
        time.sleep(self.stall_s)
        self.inner.step_physics(targets, dt)


def test_plant_failure_latches_estop_with_a_physics_fault(robot) -> None:
    with (SimFirmware.open_pty(FailingRobot(robot, fail_after=20)) as firmware,
          FirmwareDriver.open(firmware.port_path, LINK) as driver):
        driver.connect()
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline and driver.health().last_fault is None:
            time.sleep(0.01)
        fault = driver.health().last_fault
        assert fault.code == FaultCode.PHYSICS and "diverged" in fault.text
        assert driver.wait_for_state(1.0).estop and robot.safe_stops == 1
        assert firmware.stats.physics_errors >= 1


def test_slow_physics_is_counted_as_overruns(robot) -> None:
    config = FirmwareConfig(max_catch_up_s=0.01, watchdog_ms=5000)
    with SimFirmware.open_pty(FailingRobot(robot, stall_s=0.03), config=config) as firmware:
        time.sleep(0.3)
    assert firmware.stats.overruns >= 3


def test_bit_flips_both_ways_are_survived(robot) -> None:
    config = FirmwareConfig(watchdog_ms=5000)
    link = LinkConfig(control_period_s=0.5, ack_timeout_s=0.05, retries=20)
    with (SimFirmware.open_pty(robot, config=config) as firmware,
          FirmwareDriver.open(firmware.port_path, link) as driver):
        driver.connect()
        driver.inject_faults(dataclasses.asdict(FaultSettings(
            seed=4, directions=TX | RX, bit_flip_probability=0.3)))
        driver.clear_estop()
        seq = 0
        for _ in range(30):
            seq = driver.send_command([0.7] * 3)
            time.sleep(0.01)
        time.sleep(0.2)
        state = driver.wait_for_state(1.0)
        assert state.last_command_seq >= seq - 10  # a flipped command is lost, a later one wins
        np.testing.assert_allclose(state.joint_pos, [0.7] * 3, atol=0.05)
        assert firmware.parser.stats.bad_total > 0 and driver.health().parser.bad_total > 0
        assert firmware.injector.counters.flipped > 10


def test_delays_show_in_the_round_trip(robot) -> None:
    with (SimFirmware.open_pty(robot, config=FirmwareConfig(watchdog_ms=5000)) as firmware,
          FirmwareDriver.open(firmware.port_path, LINK) as driver):
        driver.connect()
        driver.inject_faults(dataclasses.asdict(FaultSettings(
            directions=TX, message_type=0x12, delay_probability=1.0, delay_ms=40.0)))
        rtts = [driver.ping() for _ in range(5)]
        assert min(rtts) >= 0.04
        assert firmware.injector.counters.delayed >= 5  # pings and periodic heartbeats


def test_pd_control_hook() -> None:
    gains = PDGains(kp=(10.0, 10.0), kd=(1.0, 1.0), effort_limit=(100.0, 2.0))
    efforts = pd_control(np.array([1.0, 1.0]), np.zeros(2), np.array([2.0, 0.0]), gains)
    np.testing.assert_allclose(efforts, [8.0, 2.0])  # second joint clipped at its limit


def test_attach_to_a_port_url_and_serve_until_stopped(robot) -> None:
    line = PtyTransport()  # the host keeps the master; the firmware opens the slave by path
    firmware = SimFirmware.attach(robot, line.slave_path, config=FirmwareConfig(watchdog_ms=500))
    stop, lines = threading.Event(), []
    server = threading.Thread(target=serve, args=(firmware, stop, lines.append, 0.05))
    server.start()
    try:
        with FirmwareDriver(line, LINK) as driver:
            info = driver.connect()
            assert info.robot_name == "first-order"
            assert driver.wait_for_state(1.0) is not None
            time.sleep(0.1)
            stop.set()
            server.join(timeout=2.0)
    finally:
        stop.set()
    assert not server.is_alive()
    assert lines[0].startswith("simulated firmware 'first-order'")
    assert any("states_sent" in text for text in lines[1:])


def test_every_command_reaches_the_observer_with_its_outcome(robot, tmp_path) -> None:
    log = CommandLog(tmp_path / "commands.jsonl")
    seen: list[tuple[int, list[float], str]] = []

    def observe(seq: int, targets: np.ndarray, outcome: str) -> None:
        seen.append((seq, targets.tolist(), outcome))
        log(seq, targets, outcome)

    config = FirmwareConfig(watchdog_ms=5000)
    with (SimFirmware.open_pty(robot, config=config, on_command=observe) as firmware,
          FirmwareDriver.open(firmware.port_path, LINK) as driver):
        driver.connect()
        driver.clear_estop()
        driver.send_command([0.1, 0.2, 0.3])
        driver.transport.write(FrameEncoder(TABLE, lambda: 0).encode(
            "COMMAND", {"command_seq": 1, "mode": 0, "targets": [-1.0] * 3}))  # a replay
        driver.send_command([0.0] * 3, mode=2)  # wrong mode: invalid, latches e-stop
        driver.send_command([0.5] * 3)
        deadline = time.monotonic() + 2.0
        while len(seen) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
    log.close()
    assert [(seq, outcome) for seq, _, outcome in seen] == [
        (1, "applied"), (1, "stale"), (2, "invalid"), (3, "estop")]
    np.testing.assert_allclose(seen[0][1], [0.1, 0.2, 0.3], rtol=1e-6)
    assert firmware.stats.commands_applied == 1 and set(COMMAND_OUTCOMES) == {
        outcome for _, _, outcome in seen}
    records = read_command_log(tmp_path / "commands.jsonl")
    assert [(r["seq"], r["outcome"]) for r in records] == [(s, o) for s, _, o in seen]
    assert records[0]["targets"] == pytest.approx([0.1, 0.2, 0.3], rel=1e-6)
    times = [record["time"] for record in records]
    assert times == sorted(times) and times[-1] - times[0] < 2.0
