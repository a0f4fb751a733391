"""Serial link benchmark over a real pseudo-terminal: round trips, command latency, frames/s.

Runs the simulated firmware (a pure-Python first-order robot, no MuJoCo) in a thread and the host
driver opened with pyserial on the pty, exactly as the onboard runtime would. Baseline measured in
the same run: a raw pty echo of the same byte count (no framing, no parsing).

    python bench/serial_link.py --pings 2000 --seconds 2
    python bench/serial_link.py --baud 115200         # models 115200 baud wire time

Ends with one JSON line of the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time

import numpy as np

from firmware_bridge.host import FirmwareDriver
from firmware_bridge.messages import CommandMode, ConfigKey
from firmware_bridge.sim.engine import SimFirmware
from firmware_bridge.sim.model import FirmwareConfig
from firmware_bridge.transport import LinkConfig, PtyTransport, SerialTransport


class BenchRobot:
    """First-order joints (time constant 20 ms); the cheapest plausible plant."""

    name = "bench"
    command_mode = int(CommandMode.POSITION)
    physics_rate_hz = 1000.0
    state_rate_hz = 100.0

    def __init__(self, joint_count: int) -> None:
        self.joint_count = joint_count
        self.task_sensor_count = 4
        self.position = np.zeros(joint_count)
        self.velocity = np.zeros(joint_count)

    def step_physics(self, targets: np.ndarray | None, dt: float) -> None:
        if targets is not None:
            new = self.position + (1 - np.exp(-dt / 0.02)) * (targets - self.position)
            self.velocity, self.position = (new - self.position) / dt, new

    def read_state(self) -> dict[str, np.ndarray]:
        return {"joint_pos": self.position, "joint_vel": self.velocity,
                "task_sensors": np.zeros(4)}

    def safe_stop(self) -> None:
        self.velocity[:] = 0.0

    def reset(self, task_id: int, seed: int) -> None:
        self.position[:] = 0.0


def percentiles_us(samples: list[float]) -> dict[str, float]:
    """p50/p99 (never max) in microseconds."""
    values = np.asarray(samples) * 1e6
    return {"p50_us": round(float(np.percentile(values, 50)), 1),
            "p99_us": round(float(np.percentile(values, 99)), 1)}


def raw_pty_echo(count: int, size: int) -> list[float]:
    """Round trips of ``size`` bytes through a pty and an echo thread (the baseline)."""
    pty = PtyTransport()
    host = SerialTransport(pty.slave_path, LinkConfig())
    stop = threading.Event()

    def echo() -> None:
        while not stop.is_set():
            data = pty.read(4096, 0.01)
            if data:
                pty.write(data)

    thread = threading.Thread(target=echo, daemon=True)
    thread.start()
    message, rtts = b"x" * size, []
    for _ in range(count):
        started = time.perf_counter()
        host.write(message)
        received = b""
        while len(received) < size:
            received += host.read(4096, 1.0)
        rtts.append(time.perf_counter() - started)
    stop.set()
    thread.join()
    host.close()
    pty.close()
    return rtts


def command_latency(driver: FirmwareDriver, count: int, joints: int) -> list[float]:
    """Seconds from send_command to the first STATE reporting it applied.

    Each command goes out at a random phase of the STATE period, so the figure includes on
    average half a STATE period of waiting (5 ms at 100 Hz).
    """
    latencies = []
    rng = np.random.default_rng(0)
    period = 1.0 / driver.info.state_rate_hz
    for index in range(count):
        time.sleep(rng.uniform(0.0, period))
        started = time.monotonic()
        seq = driver.send_command(np.full(joints, 0.001 * (index % 100)))
        state = driver.wait_for_state(1.0, newer_than=started)
        while state is not None and state.last_command_seq < seq:
            state = driver.wait_for_state(1.0, newer_than=state.received_at)
        if state is not None:
            latencies.append(state.received_at - started)
    return latencies


def throughput(driver: FirmwareDriver, firmware: SimFirmware, seconds: float,
               joints: int) -> tuple[float, float]:
    """(STATE frames/s received at the firmware's top rate, COMMAND frames/s applied).

    Commands are sent as fast as the firmware applies them, at most 8 in flight: faster than the
    wire would only fill the port buffer until the write times out, as on a real UART.
    """
    driver.configure(ConfigKey.STATE_RATE_HZ, firmware.model.physics_rate_hz)
    before, started = driver.health().parser.per_type["STATE"].received, time.monotonic()
    time.sleep(seconds)
    states = (driver.health().parser.per_type["STATE"].received - before) / seconds
    applied, started = firmware.stats.commands_applied, time.monotonic()
    targets, sent = np.zeros(joints), 0
    while time.monotonic() - started < seconds:
        driver.send_command(targets)
        sent += 1
        while sent - (firmware.stats.commands_applied - applied) > 8:  # stay within the pty buffer
            time.sleep(0.0002)
    commands = (firmware.stats.commands_applied - applied) / (time.monotonic() - started)
    return states, commands


def main() -> None:
    """Run the benchmark and print the figures, then one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baud", type=int, default=1_000_000, help="modelled line rate")
    parser.add_argument("--no-wire-time", action="store_true", help="do not model wire time")
    parser.add_argument("--joints", type=int, default=12, help="joints of the bench robot")
    parser.add_argument("--pings", type=int, default=2000, help="round trips to time")
    parser.add_argument("--seconds", type=float, default=2.0, help="per throughput figure")
    args = parser.parse_args()

    baseline = raw_pty_echo(args.pings, 22)
    config = FirmwareConfig(baud=args.baud, model_wire_time=not args.no_wire_time,
                            watchdog_ms=1000)
    link = LinkConfig(baud=args.baud, control_period_s=0.1)
    with (SimFirmware.open_pty(BenchRobot(args.joints), config=config) as firmware,
          FirmwareDriver.open(firmware.port_path, link) as driver):
        driver.connect()
        driver.clear_estop()
        pings = [driver.ping() for _ in range(args.pings)]
        latencies = command_latency(driver, min(args.pings, 500), args.joints)
        states, commands = throughput(driver, firmware, args.seconds, args.joints)
        health = driver.health()
    figures = {
        "bench": "serial_link", "baud": args.baud, "wire_time": not args.no_wire_time,
        "joints": args.joints, "cpus": os.cpu_count(),
        "raw_pty_echo": percentiles_us(baseline), "heartbeat_rtt": percentiles_us(pings),
        "command_to_state": percentiles_us(latencies),
        "rtt_p50_ratio_to_raw": round(float(np.median(pings) / np.median(baseline)), 2),
        "state_frames_per_s": round(states, 1), "command_frames_per_s": round(commands, 1),
        "host_bad_frames": health.parser.bad_total,
        "firmware_bad_frames": firmware.parser.stats.bad_total,
    }
    print(f"raw pty echo (22 B)   p50 {figures['raw_pty_echo']['p50_us']:8.1f} us  "
          f"p99 {figures['raw_pty_echo']['p99_us']:8.1f} us")
    print(f"heartbeat round trip  p50 {figures['heartbeat_rtt']['p50_us']:8.1f} us  "
          f"p99 {figures['heartbeat_rtt']['p99_us']:8.1f} us  "
          f"({figures['rtt_p50_ratio_to_raw']}x raw)")
    print(f"command -> STATE      p50 {figures['command_to_state']['p50_us']:8.1f} us  "
          f"p99 {figures['command_to_state']['p99_us']:8.1f} us  (STATE at 100 Hz)")
    print(f"STATE frames/s {states:.0f}   COMMAND frames/s {commands:.0f}   "
          f"bad frames host/firmware {figures['host_bad_frames']}/"
          f"{figures['firmware_bad_frames']}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
