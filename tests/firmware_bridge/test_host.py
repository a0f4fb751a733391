"""Hardware-in-the-loop over a real pseudo-terminal: host driver <-> simulated firmware."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest

from firmware_bridge.errors import (
    CommandError,
    LinkTimeoutError,
    NotConnectedError,
    RequestRejectedError,
    TableMismatchError,
)
from firmware_bridge.framing import FrameEncoder
from firmware_bridge.host import FirmwareDriver
from firmware_bridge.messages import MESSAGES, TABLE, ConfigKey, FaultCode, Field, Message
from firmware_bridge.messages import MessageTable as Table
from firmware_bridge.records import FaultReport
from firmware_bridge.sim.faults import TX, FaultSettings
from firmware_bridge.transport import LinkConfig, PtyTransport


def wait_until(predicate, timeout: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()


def settled_state(driver: FirmwareDriver, seq: int):
    assert wait_until(lambda: (driver.latest_state() is not None
                               and driver.latest_state().last_command_seq >= seq))
    time.sleep(0.15)  # 7 time constants of the first-order joints
    return driver.wait_for_state(1.0)


def test_handshake_reports_the_robot(driver: FirmwareDriver) -> None:
    info = driver.info
    assert (info.robot_name, info.joint_count, info.task_sensor_count) == ("first-order", 3, 2)
    assert info.table_hash == TABLE.hash32 and info.watchdog_ms == 100
    assert (info.state_rate_hz, info.physics_rate_hz) == (200.0, 1000.0)


def test_round_trip_commands_move_the_joints_and_state_streams(driver, firmware) -> None:
    driver.clear_estop()
    seq = driver.send_command([0.5, -0.25, 1.0])
    state = settled_state(driver, seq)
    assert state.last_command_seq == seq and not state.estop
    np.testing.assert_allclose(state.joint_pos, [0.5, -0.25, 1.0], atol=0.01)
    np.testing.assert_allclose(state.task_sensors, [0.5, -0.25], atol=0.01)
    assert state.imu_quat.tolist() == [1.0, 0.0, 0.0, 0.0]
    assert 0.0 <= state.age_s() < 0.5
    received = [driver.wait_for_state(0.5) for _ in range(40)]
    gaps = np.diff([sample.received_at for sample in received])
    assert np.percentile(gaps, 50) == pytest.approx(1 / 200, abs=0.003)
    rtts = [driver.ping() for _ in range(100)]
    assert np.percentile(rtts, 99) < 0.05  # p99, never max: scheduling spikes happen
    health = driver.health()
    assert not health.silent and health.parser.bad_total == 0 and health.faults == 0


def test_latest_wins_and_stale_retransmissions_are_ignored(driver, firmware, robot) -> None:
    driver.clear_estop()
    for value in (0.1, 0.2, 0.3):
        seq = driver.send_command([value] * 3)
    settled_state(driver, seq)
    replay = FrameEncoder(TABLE, lambda: 0)
    for stale_seq in (1, seq):
        driver.transport.write(replay.encode(
            "COMMAND", {"command_seq": stale_seq, "mode": 0, "targets": [-1.0] * 3}))
    assert wait_until(lambda: firmware.stats.commands_stale == 2)
    state = driver.wait_for_state(1.0)
    assert state.last_command_seq == seq
    np.testing.assert_allclose(state.joint_pos, [0.3] * 3, atol=0.01)
    assert firmware.stats.commands_applied == 3


def test_watchdog_latches_estop_until_clear(firmware, robot) -> None:
    faults: list[FaultReport] = []
    quiet = LinkConfig(control_period_s=1.0, heartbeat_period_s=30.0, ack_timeout_s=0.1)
    with FirmwareDriver.open(firmware.port_path, quiet, on_fault=faults.append) as driver:
        driver.connect()
        driver.clear_estop()
        driver.send_command([0.2] * 3)  # arms the watchdog; no heartbeats follow
        assert wait_until(lambda: firmware.stats.watchdog_trips == 1)
        assert wait_until(lambda: driver.latest_state().estop)
        assert driver.latest_state().faults() == [FaultCode.WATCHDOG]
        assert wait_until(lambda: any(f.code == FaultCode.WATCHDOG for f in faults))
        assert robot.safe_stops == 1
        time.sleep(0.3)  # latched: no re-arm by time alone
        assert driver.latest_state().estop and firmware.stats.watchdog_trips == 1
        driver.send_command([0.9] * 3)
        assert wait_until(lambda: firmware.stats.commands_during_estop == 1)
        driver.clear_estop()
        seq = driver.send_command([0.4] * 3)
        assert wait_until(lambda: driver.latest_state().last_command_seq == seq
                          and not driver.latest_state().estop)
        assert driver.latest_state().fault_flags == 0
        assert wait_until(lambda: firmware.stats.watchdog_trips == 2)  # re-armed by the command


def test_heartbeats_keep_the_watchdog_fed(driver, firmware) -> None:
    driver.clear_estop()
    driver.send_command([0.1] * 3)
    time.sleep(0.5)  # five watchdog periods without commands
    assert firmware.stats.watchdog_trips == 0 and firmware.stats.heartbeats >= 10
    assert not driver.latest_state().estop


def test_estop_request_latches_and_clear_releases(driver, firmware, robot) -> None:
    driver.clear_estop()
    driver.estop(reason=7)
    assert wait_until(lambda: driver.latest_state().estop)
    assert FaultCode.ESTOP_REQUESTED in driver.latest_state().faults()
    assert robot.safe_stops == 1 and firmware.targets is None
    driver.clear_estop()
    assert wait_until(lambda: not driver.latest_state().estop)


def test_garbage_both_ways_is_counted_and_the_link_resyncs(driver, firmware) -> None:
    driver.transport.write(bytes(range(1, 200)) + b"\x00\x05\x01\x02\x00" + bytes(700))
    assert driver.configure(ConfigKey.WATCHDOG_MS, 150) == 150
    assert firmware.parser.stats.bad_total >= 2
    driver.inject_faults(dataclasses.asdict(FaultSettings(
        seed=3, directions=TX, garbage_probability=0.5, bit_flip_probability=0.2)))
    time.sleep(0.3)
    health = driver.health()
    assert health.parser.bad_total > 10 and health.parser.frames > 20
    assert firmware.injector.counters.garbage > 10
    assert driver.wait_for_state(0.5) is not None and not health.silent


def test_table_hash_mismatch_is_rejected_naming_both_hashes(firmware) -> None:
    other = Table(tuple(Message(m.id, m.name, (*m.fields, Field("gain", "f32")))
                        if m.name == "COMMAND" else m for m in MESSAGES))
    with (FirmwareDriver.open(firmware.port_path, LinkConfig(), table=other) as driver,
          pytest.raises(TableMismatchError) as error):
        driver.connect()
    assert f"{TABLE.hash32:#010x}" in str(error.value)
    assert f"{other.hash32:#010x}" in str(error.value)
    assert firmware.parser.stats.bad["crc"] == 0  # the handshake itself is table-independent


def test_firmware_silence_is_detected_and_surfaced(firmware) -> None:
    faults: list[FaultReport] = []
    config = LinkConfig(control_period_s=0.05)
    with FirmwareDriver.open(firmware.port_path, config, on_fault=faults.append) as driver:
        driver.connect()
        assert wait_until(lambda: driver.latest_state() is not None)
        assert not driver.health().silent
        firmware.stop()
        stopped = time.monotonic()
        assert wait_until(lambda: driver.health().silent, timeout=1.0)
        assert time.monotonic() - stopped >= 0.1 - 0.02  # not before 2 control periods
        assert wait_until(lambda: bool(faults))
        health = driver.health()
        assert health.last_fault.code == FaultCode.LINK_SILENT and health.silence_events == 1
        assert faults[0].name == "LINK_SILENT"


def test_config_ack_and_retry_under_injected_drops(driver, firmware) -> None:
    ack_id = TABLE.message("CONFIG_ACK").id
    driver.inject_faults(dataclasses.asdict(FaultSettings(
        seed=11, message_type=ack_id, directions=TX, drop_probability=0.5)))
    values = [driver.configure(ConfigKey.WATCHDOG_MS, 100 + index) for index in range(6)]
    assert values == [100 + index for index in range(6)]
    dropped = firmware.injector.counters.dropped
    assert dropped >= 1
    assert driver.health().retries == dropped  # one retry per dropped ack, nothing else
    assert firmware.watchdog_s == pytest.approx(0.105)


def test_request_times_out_after_exactly_the_configured_retries(firmware) -> None:
    config = LinkConfig(retries=3, ack_timeout_s=0.05)
    with FirmwareDriver.open(firmware.port_path, config) as driver:
        driver.connect()
        driver.inject_faults(dataclasses.asdict(FaultSettings(
            message_type=TABLE.message("CONFIG_ACK").id, directions=TX, drop_probability=1.0)))
        with pytest.raises(LinkTimeoutError, match="after 3 attempts"):
            driver.configure(ConfigKey.STATE_RATE_HZ, 100)
        assert firmware.injector.counters.dropped == 3
        assert driver.health().request_timeouts == 1


def test_rejected_config_and_invalid_commands(driver, firmware) -> None:
    with pytest.raises(RequestRejectedError, match="OUT_OF_RANGE"):
        driver.configure(ConfigKey.WATCHDOG_MS, 1)
    with pytest.raises(RequestRejectedError, match="UNKNOWN_KEY"):
        driver.configure(99, 1.0)
    with pytest.raises(CommandError, match="3 finite floats"):
        driver.send_command([0.0, 1.0])
    with pytest.raises(CommandError):
        driver.send_command([0.0, np.nan, 1.0])
    driver.clear_estop()
    driver.send_command([0.0] * 3, mode=2)  # the robot only takes POSITION targets
    assert wait_until(lambda: driver.health().last_fault is not None)
    assert driver.health().last_fault.code == FaultCode.COMMAND_INVALID
    assert wait_until(lambda: driver.latest_state().estop)


def test_reset_is_acknowledged_and_a_new_session_restarts_command_seq(firmware, robot) -> None:
    with FirmwareDriver.open(firmware.port_path, LinkConfig()) as first:
        first.connect()
        first.clear_estop()
        for _ in range(5):
            first.send_command([0.3] * 3)
        first.reset(task_id=2, seed=42)
        assert robot.resets == [(2, 42)]
    with FirmwareDriver.open(firmware.port_path, LinkConfig()) as second:
        second.connect()
        seq = second.send_command([0.6] * 3)
        assert seq == 1
        assert settled_state(second, seq).last_command_seq == 1
        second.clear_estop()
        second.reset(task_id=5, seed=1)  # same request_id as the first session's reset
        assert robot.resets == [(2, 42), (5, 1)]


def test_retried_requests_are_executed_once(driver, firmware, robot) -> None:
    driver.inject_faults(dataclasses.asdict(FaultSettings(
        seed=2, message_type=TABLE.message("ACK").id, directions=TX, drop_probability=0.5)))
    for task in range(4):
        driver.reset(task_id=task, seed=task)
    assert robot.resets == [(task, task) for task in range(4)]
    assert firmware.stats.duplicate_requests == driver.health().retries >= 1


def test_handshake_without_a_firmware_times_out_after_the_retries() -> None:
    line = PtyTransport()  # nobody answers on the other end
    config = LinkConfig(retries=2, ack_timeout_s=0.05)
    try:
        with FirmwareDriver.open(line.slave_path, config) as driver:
            started = time.monotonic()
            with pytest.raises(LinkTimeoutError, match=r"HELLO_REQUEST .* no HELLO after 2"):
                driver.connect()
            assert time.monotonic() - started < 1.0
            assert not driver.health().connected and not driver.health().silent
            with pytest.raises(NotConnectedError, match="connect"):
                driver.send_command([0.0])
        received = line.read(4096, 0.1)
        assert received.count(b"\x00") == 2  # exactly two HELLO_REQUEST frames went out
    finally:
        line.close()
