"""Firmware-side protocol engine of a simulated microcontroller, independent of the physics.

:class:`SimFirmware` runs one loop thread, as an MCU main loop would: it reads the port, answers
HELLO_REQUEST, applies COMMANDs (latest wins: only a ``command_seq`` newer than the last applied
one), advances the :class:`~firmware_bridge.sim.model.RobotModel` in real time, streams STATE at a
fixed rate, and latches e-stop when its watchdog sees no valid COMMAND/HEARTBEAT within
``watchdog_ms`` (until CLEAR_ESTOP). It models wire time at the configured baud and injects
seeded link faults (:mod:`firmware_bridge.sim.faults`); ``on_command`` observes every COMMAND.

Use :meth:`SimFirmware.open_pty` to get a pseudo-terminal path that pyserial opens like a real
``/dev/ttyACM0``, or pass any :class:`~firmware_bridge.transport.Transport`.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from firmware_bridge.errors import TransportError
from firmware_bridge.framing import PROTOCOL_VERSION, FrameEncoder, max_frame_size
from firmware_bridge.messages import TABLE, ConfigKey, FaultCode, MessageTable, Status
from firmware_bridge.parser import Frame, FrameParser
from firmware_bridge.sim.faults import RX, TX, FaultInjector, FaultSettings
from firmware_bridge.sim.model import FirmwareConfig, FirmwareStats, RobotModel
from firmware_bridge.sim.wire import TimedQueue, WireClock
from firmware_bridge.transport import LinkConfig, PtyTransport, SerialTransport, Transport

LOGGER = logging.getLogger(__name__)
#: what became of a COMMAND (applied; ignored as older, or under e-stop; refused as invalid)
COMMAND_OUTCOMES = ("applied", "stale", "estop", "invalid")
#: ``on_command(command_seq, targets, outcome)``.
CommandObserver = Callable[[int, np.ndarray, str], None]


class SimFirmware:
    """A simulated MCU speaking the serial protocol over ``transport``.

    Args:
        model: the robot physics and inner loop.
        transport: the firmware's end of the link.
        config: firmware settings.
        table: the message table it was "built" from.
        faults: link faults injected from the start.
        clock: monotonic clock in seconds (injectable for tests).
        on_command: called on the loop thread with ``(command_seq, targets (J,), outcome)``
            (one of :data:`COMMAND_OUTCOMES`) for every decoded COMMAND; quick, never raising.
    """

    def __init__(self, model: RobotModel, transport: Transport,
                 config: FirmwareConfig | None = None, table: MessageTable = TABLE,
                 faults: FaultSettings | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 on_command: CommandObserver | None = None) -> None:
        self.model = model
        self.on_command = on_command
        self.transport = transport
        self.config = config or FirmwareConfig()
        self.table = table
        self.stats = FirmwareStats()
        self.injector = FaultInjector(faults)
        self._clock = clock
        self._start = clock()
        self._encoder = FrameEncoder(table, lambda: (self._clock() - self._start) * 1e6)
        self.parser = FrameParser(table)
        self._max_frame = max_frame_size(table)
        self._tx_wire = WireClock(self.config.baud)
        self._rx_wire = WireClock(self.config.baud)
        self._timeline = TimedQueue()
        self._releasing = False
        self._rx_pending = bytearray()
        self.watchdog_s = self.config.watchdog_ms / 1000.0
        rate = self.config.state_rate_hz or model.state_rate_hz
        self.state_rate_hz = min(float(rate), float(model.physics_rate_hz))
        self.estop_on_invalid_command = self.config.estop_on_invalid_command
        self.estopped = False
        self.fault_flags = 0
        self.targets: np.ndarray | None = None
        self.last_command_seq = 0
        self._watchdog_armed = False
        self._last_feed = 0.0
        self._physics_steps = 0
        self._physics_origin = self._start
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._owns_transport = False
        self._request: tuple[str, int] | None = None
        self._replies: dict[str, tuple[int, str, dict]] = {}
        self._last_overrun_report = -math.inf

    # ----------------------------------------------------------------- construction helpers
    @classmethod
    def open_pty(cls, model: RobotModel, **kwargs: Any) -> SimFirmware:
        """A firmware on a fresh pseudo-terminal; pyserial opens :attr:`port_path`."""
        firmware = cls(model, PtyTransport(), **kwargs)
        firmware._owns_transport = True
        return firmware

    @classmethod
    def attach(cls, model: RobotModel, url: str, **kwargs: Any) -> SimFirmware:
        """A firmware on an existing port (any pyserial URL)."""
        config = kwargs.get("config") or FirmwareConfig()
        table = kwargs.get("table", TABLE)
        transport = SerialTransport(url, LinkConfig(baud=config.baud), max_frame_size(table))
        firmware = cls(model, transport, **kwargs)
        firmware._owns_transport = True
        return firmware

    @property
    def port_path(self) -> str:
        """Path of the pty slave the host opens (only for :meth:`open_pty` firmwares)."""
        return getattr(self.transport, "slave_path", "")

    def start(self) -> SimFirmware:
        """Run the firmware loop in a daemon thread."""
        self._thread = threading.Thread(target=self.run, name="sim-firmware", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the loop (the firmware goes silent) but keep the port open."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)

    def close(self) -> None:
        """Stop the loop and close an owned transport."""
        self.stop()
        if self._owns_transport:
            self.transport.close()

    def __enter__(self) -> SimFirmware:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------------------- main loop
    def run(self) -> None:
        """The MCU main loop (blocks until :meth:`close`)."""
        next_state = self._clock()
        period = 1.0 / self.state_rate_hz
        while not self._stop.is_set():
            now = self._clock()
            deadline = min(next_state, self._timeline.next_time(), now + 0.01)
            if self._watchdog_armed and not self.estopped:
                deadline = min(deadline, self._last_feed + self.watchdog_s)
            try:
                data = self.transport.read(4096, max(0.0, deadline - now))
                if data:
                    self._receive(data)
                self._release_due()
            except TransportError as error:  # a UART error must not stop the MCU loop
                self.stats.transport_errors += 1
                LOGGER.warning("firmware port error: %s", error)
                self._stop.wait(0.01)
            self._advance_physics()
            self._check_watchdog()
            now = self._clock()
            if now >= next_state:
                self._send_state()
                period = 1.0 / self.state_rate_hz
                next_state = max(next_state + period, now - period)

    def _advance_physics(self) -> None:
        rate = float(self.model.physics_rate_hz)
        now = self._clock()
        due = int((now - self._physics_origin) * rate) - self._physics_steps
        if due <= 0:
            return
        most = max(1, int(self.config.max_catch_up_s * rate))
        if due > most:
            self.stats.overruns += 1
            self._physics_origin += (due - most) / rate
            if now - self._last_overrun_report >= 1.0:  # reported, rate-limited, not latched
                self._last_overrun_report = now
                self._send_fault(FaultCode.OVERRUN,
                                 f"{due / rate * 1000:.0f} ms of physics behind; skipped")
            due = most
        try:
            self.model.step_physics(self.targets, due / rate)
        except Exception as error:  # a plant failure must latch e-stop, not kill the MCU
            self.stats.physics_errors += 1
            LOGGER.exception("robot model failed")
            self._latch(FaultCode.PHYSICS, f"physics: {error}"[:64])
        self._physics_steps += due

    def _check_watchdog(self) -> None:
        if not self._watchdog_armed or self.estopped:
            return
        silent = self._clock() - self._last_feed
        if silent > self.watchdog_s:
            self.stats.watchdog_trips += 1
            self._latch(FaultCode.WATCHDOG, f"no command/heartbeat for {silent * 1000:.0f} ms")

    # ------------------------------------------------------------------------------ receive
    def _receive(self, data: bytes) -> None:
        if self.config.model_wire_time:
            now = self._clock()
            self._timeline.push(self._rx_wire.reserve(len(data), now), "rx_wire", data)
            self._release_due()
        else:
            self._ingest(data)

    def _ingest(self, data: bytes) -> None:
        """Bytes that crossed the wire: through RX fault injection into the parser."""
        if not (self.injector.settings.active and self.injector.settings.directions & RX):
            self._parse(data)
            return
        self._rx_pending += data
        while True:
            end = self._rx_pending.find(b"\x00")
            if end < 0:
                if len(self._rx_pending) > self._max_frame:
                    self._parse(bytes(self._rx_pending))
                    self._rx_pending.clear()
                return
            wire = bytes(self._rx_pending[:end + 1])
            del self._rx_pending[:end + 1]
            for release, piece in self.injector.apply(RX, wire, self._clock()):
                self._timeline.push(release, "rx_frame", piece)
            self._release_due()

    def _parse(self, data: bytes) -> None:
        for event in self.parser.feed(data):
            if isinstance(event, Frame):
                self._handle(event)

    def _handle(self, frame: Frame) -> None:
        handler = self._HANDLERS.get(frame.name)
        if handler is None:
            self.stats.unexpected += 1
            return
        request_id = frame.values.get("request_id")
        if request_id is None:
            handler(self, frame.values)
            return
        last = self._replies.get(frame.name)
        if last is not None and last[0] == request_id:  # a retry: answer again, do not redo
            self.stats.duplicate_requests += 1
            self._send(last[1], last[2])
            return
        self._replies.pop(frame.name, None)
        self._request = (frame.name, request_id)
        try:
            handler(self, frame.values)
        finally:
            self._request = None

    def _on_hello_request(self, values: dict) -> None:
        if values["host_table_hash"] != self.table.hash32:
            LOGGER.warning("host table hash %#010x != firmware %#010x",
                           values["host_table_hash"], self.table.hash32)
        self.last_command_seq = 0
        self._watchdog_armed = False
        self._replies.clear()  # request ids restart with the session
        self.parser.reset_sequences()
        model = self.model
        self._send("HELLO", {
            "protocol_version": PROTOCOL_VERSION, "table_hash": self.table.hash32,
            "firmware_version": self.config.firmware_version, "robot_name": model.name,
            "joint_count": model.joint_count, "task_sensor_count": model.task_sensor_count,
            "command_mode": int(model.command_mode), "state_rate_hz": self.state_rate_hz,
            "physics_rate_hz": float(model.physics_rate_hz),
            "watchdog_ms": round(self.watchdog_s * 1000), "baud": self.config.baud})

    def _feed_watchdog(self) -> None:
        self._watchdog_armed, self._last_feed = True, self._clock()

    def _on_command(self, values: dict) -> None:
        self._feed_watchdog()
        targets = np.asarray(values["targets"], dtype=np.float64)
        outcome = self._apply_command(values, targets)
        if self.on_command is not None:
            self.on_command(int(values["command_seq"]), targets, outcome)

    def _apply_command(self, values: dict, targets: np.ndarray) -> str:
        """Apply one COMMAND's ``targets`` ``(J,)``; returns its outcome (COMMAND_OUTCOMES)."""
        if self.estopped:
            self.stats.commands_during_estop += 1
            return "estop"
        if values["command_seq"] <= self.last_command_seq:
            self.stats.commands_stale += 1
            return "stale"
        if (targets.shape != (self.model.joint_count,) or not np.all(np.isfinite(targets))
                or values["mode"] != int(self.model.command_mode)):
            self.stats.commands_invalid += 1
            text = (f"bad command: {targets.size} targets, mode {values['mode']}, expected "
                    f"{self.model.joint_count}, {int(self.model.command_mode)}")
            if self.estop_on_invalid_command:
                self._latch(FaultCode.COMMAND_INVALID, text)
            else:
                self._send_fault(FaultCode.COMMAND_INVALID, text)
            return "invalid"
        self.targets = targets
        self.last_command_seq = values["command_seq"]
        self.stats.commands_applied += 1
        return "applied"

    def _on_heartbeat(self, values: dict) -> None:
        self._feed_watchdog()
        self.stats.heartbeats += 1
        if values["echo"]:
            self._send("HEARTBEAT", {"counter": values["counter"], "echo": 0})

    def _on_estop(self, values: dict) -> None:
        self._latch(FaultCode.ESTOP_REQUESTED, f"host e-stop, reason {values['reason']}")
        self._ack(values["request_id"], "ESTOP", Status.OK, "latched")

    def _on_clear_estop(self, values: dict) -> None:
        self.estopped = False
        self.fault_flags = 0
        self.targets = None
        self._watchdog_armed = False
        self._ack(values["request_id"], "CLEAR_ESTOP", Status.OK, "cleared")

    def _on_config_set(self, values: dict) -> None:
        key, value = values["key"], values["value"]
        status, applied = self._apply_config(key, value)
        self._send("CONFIG_ACK", {"request_id": values["request_id"], "key": key,
                                  "value": applied, "status": int(status)})

    def _apply_config(self, key: int, value: float) -> tuple[Status, float]:
        if key == ConfigKey.WATCHDOG_MS:
            if not 10 <= value <= 5000:
                return Status.OUT_OF_RANGE, self.watchdog_s * 1000
            self.watchdog_s = value / 1000.0
            return Status.OK, value
        if key == ConfigKey.STATE_RATE_HZ:
            if not 1 <= value <= self.model.physics_rate_hz:
                return Status.OUT_OF_RANGE, self.state_rate_hz
            self.state_rate_hz = float(value)
            return Status.OK, value
        if key == ConfigKey.ESTOP_ON_INVALID_COMMAND:
            if value not in (0.0, 1.0):
                return Status.OUT_OF_RANGE, float(self.estop_on_invalid_command)
            self.estop_on_invalid_command = bool(value)
            return Status.OK, value
        return Status.UNKNOWN_KEY, math.nan

    def _on_reset(self, values: dict) -> None:
        try:
            self.model.reset(values["task_id"], values["seed"])
        except Exception as error:  # report to the host instead of dying
            LOGGER.exception("reset failed")
            self._ack(values["request_id"], "RESET", Status.REJECTED, str(error)[:48])
            return
        self.targets = None
        self._ack(values["request_id"], "RESET", Status.OK, "reset")

    def _on_fault_inject(self, values: dict) -> None:
        request_id = values.pop("request_id")
        values["delay_ms"] = float(values["delay_ms"])
        try:
            settings = FaultSettings(**values)
        except Exception as error:  # bad probabilities: reject, keep the old settings
            self._ack(request_id, "FAULT_INJECT", Status.OUT_OF_RANGE, str(error)[:48])
            return
        self._ack(request_id, "FAULT_INJECT", Status.OK, "applied")
        self.injector.configure(settings)

    _HANDLERS: ClassVar[dict[str, Callable[[SimFirmware, dict], None]]] = {
        "HELLO_REQUEST": _on_hello_request, "COMMAND": _on_command, "HEARTBEAT": _on_heartbeat,
        "ESTOP": _on_estop, "CLEAR_ESTOP": _on_clear_estop, "CONFIG_SET": _on_config_set,
        "RESET": _on_reset, "FAULT_INJECT": _on_fault_inject,
    }

    # ------------------------------------------------------------------------------- safety
    def _latch(self, code: FaultCode, text: str) -> None:
        if not self.estopped:
            self.estopped = True
            self.targets = None
            try:
                self.model.safe_stop()
            except Exception:  # the latch must hold even if the plant misbehaves
                LOGGER.exception("safe_stop failed")
        bit = 1 << int(code)
        if not self.fault_flags & bit:
            self.fault_flags |= bit
            self._send_fault(code, text)

    def _send_fault(self, code: FaultCode, text: str) -> None:
        LOGGER.info("fault %s: %s", code.name, text)
        self._send("FAULT", {"code": int(code), "text": text.encode()[:64].decode(errors="ignore")})

    def _ack(self, request_id: int, request: str, status: Status, text: str) -> None:
        self._send("ACK", {"request_id": request_id,
                           "request_type": self.table.message(request).id,
                           "status": int(status), "text": text})

    # ------------------------------------------------------------------------------ transmit
    def _send_state(self) -> None:
        if (self.config.model_wire_time
                and self._tx_wire.backlog(self._clock()) > 1.0 / self.state_rate_hz):
            self.stats.states_skipped += 1  # the UART is still busy: skip, as an MCU would
            return
        try:
            sensors = self.model.read_state()
            values = {
                "timestamp_us": round(self._physics_steps * 1e6 / self.model.physics_rate_hz),
                "joint_pos": sensors["joint_pos"], "joint_vel": sensors["joint_vel"],
                "imu_quat": sensors.get("imu_quat", (1.0, 0.0, 0.0, 0.0)),
                "imu_gyro": sensors.get("imu_gyro", (0.0, 0.0, 0.0)),
                "imu_accel": sensors.get("imu_accel", (0.0, 0.0, 0.0)),
                "task_sensors": sensors.get("task_sensors", ()),
                "estop": int(self.estopped), "fault_flags": self.fault_flags,
                "last_command_seq": self.last_command_seq}
            wire = self._encoder.encode("STATE", values)
        except Exception as error:  # a sensor bug must not stop the loop
            self.stats.physics_errors += 1
            LOGGER.exception("reading the robot state failed")
            self._latch(FaultCode.PHYSICS, f"state: {error}"[:64])
            return
        self._transmit(wire)
        self.stats.states_sent += 1

    def _send(self, name: str, values: dict) -> None:
        if self._request is not None and name in ("ACK", "CONFIG_ACK"):
            self._replies[self._request[0]] = (self._request[1], name, values)
        self._transmit(self._encoder.encode(name, values))

    def _transmit(self, wire: bytes) -> None:
        for release, piece in self.injector.apply(TX, wire, self._clock()):
            self._timeline.push(release, "tx", piece)
        self._release_due()

    def _release_due(self) -> None:
        """Deliver every transfer whose time has come (never re-entered)."""
        if self._releasing:
            return
        self._releasing = True
        try:
            while (item := self._timeline.pop_due(self._clock())) is not None:
                kind, data = item
                if kind == "tx" and self.config.model_wire_time:
                    arrival = self._tx_wire.reserve(len(data), self._clock())
                    self._timeline.push(arrival, "tx_wire", data)
                elif kind in ("tx", "tx_wire"):
                    self.transport.write(data)
                elif kind == "rx_wire":
                    self._ingest(data)
                else:
                    self._parse(data)
        finally:
            self._releasing = False
