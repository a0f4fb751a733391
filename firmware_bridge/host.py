"""Host-side driver of the serial firmware link.

:class:`FirmwareDriver` owns a :class:`~firmware_bridge.transport.Transport` and one reader
thread. The reader parses frames, keeps the latest STATE (with its monotonic receive time),
completes pending requests, records FAULTs, sends HEARTBEAT whenever no COMMAND/HEARTBEAT went
out for ``heartbeat_period_s`` and declares the firmware *silent* when no valid frame arrived for
the silence timeout. Every timeout and retry comes from one :class:`LinkConfig`.

Typical use (onboard runtime)::

    driver = FirmwareDriver.open("/dev/ttyACM0", LinkConfig(control_period_s=0.02))
    info = driver.connect()          # TableMismatchError names both hashes on a mismatch
    driver.clear_estop()             # arm after boot or a previous e-stop
    state = driver.latest_state()    # StateSample with .age_s()
    driver.send_command(targets)     # (J,) targets, latest wins on the firmware
    if driver.health().silent: ...   # act on it: stop the robot
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from firmware_bridge.errors import (
    CommandError,
    LinkTimeoutError,
    NotConnectedError,
    RequestRejectedError,
    TableMismatchError,
    TransportError,
)
from firmware_bridge.framing import PROTOCOL_VERSION, FrameEncoder, max_frame_size
from firmware_bridge.messages import TABLE, ConfigKey, FaultCode, MessageTable, Status
from firmware_bridge.parser import Frame, FrameParser
from firmware_bridge.records import FaultReport, FirmwareInfo, LinkHealth, StateSample
from firmware_bridge.transport import LinkConfig, SerialTransport, Transport

LOGGER = logging.getLogger(__name__)


@dataclass
class _Pending:
    """A request waiting for its reply."""

    reply: str
    event: threading.Event = field(default_factory=threading.Event)
    values: dict[str, Any] | None = None
    sent_at: float = math.nan
    received_at: float = math.nan


class FirmwareDriver:
    """The host end of the link.

    Args:
        transport: an open byte transport to the firmware.
        config: timeouts, retries, heartbeat and silence policy.
        table: the message table the host was built from.
        clock: monotonic clock in seconds.
        on_fault: called from the reader thread with each :class:`FaultReport`.
    """

    def __init__(self, transport: Transport, config: LinkConfig | None = None,
                 table: MessageTable = TABLE, clock: Callable[[], float] = time.monotonic,
                 on_fault: Callable[[FaultReport], None] | None = None) -> None:
        self.transport = transport
        self.config = config or LinkConfig()
        self.table = table
        self._clock = clock
        self._on_fault = on_fault
        self._origin = clock()
        self._encoder = FrameEncoder(table, lambda: (self._clock() - self._origin) * 1e6)
        self._parser = FrameParser(table)
        self._reply_timeout = self.config.reply_timeout_s(max_frame_size(table))
        self._write_lock = threading.Lock()
        self._parser_lock = threading.Lock()
        self._lock = threading.Lock()
        self._state_ready = threading.Condition(self._lock)
        self._pending: dict[tuple[str, int], _Pending] = {}
        self._request_id = 0
        self._command_seq = 0
        self._heartbeat_counter = 0
        self._heartbeat_sent_at: dict[int, float] = {}
        self._info: FirmwareInfo | None = None
        self._state: StateSample | None = None
        self._last_frame: float | None = None
        self._last_feed_sent = -math.inf
        self._last_probe = -math.inf
        self._silent = False
        self._counters = {"faults": 0, "silence_events": 0, "commands_sent": 0,
                          "heartbeats_sent": 0, "retries": 0, "request_timeouts": 0}
        self._last_fault: FaultReport | None = None
        self._last_rtt = math.nan
        self._transport_error = ""
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._read_loop, name="firmware-reader",
                                        daemon=True)
        self._reader.start()

    @classmethod
    def open(cls, url: str, config: LinkConfig | None = None, **kwargs: Any) -> FirmwareDriver:
        """A driver on any pyserial URL (``/dev/ttyACM0``, a pty path, ``socket://``)."""
        config = config or LinkConfig()
        table = kwargs.get("table", TABLE)
        return cls(SerialTransport(url, config, max_frame_size(table)), config, **kwargs)

    # -------------------------------------------------------------------------- handshake
    def connect(self) -> FirmwareInfo:
        """Handshake: HELLO_REQUEST until HELLO; checks protocol version and table hash."""
        values = self._request("HELLO_REQUEST", {"host_table_hash": self.table.hash32}, "HELLO",
                               with_id=False)
        info = FirmwareInfo.from_values(values)
        if info.protocol_version != PROTOCOL_VERSION or info.table_hash != self.table.hash32:
            raise TableMismatchError(
                f"firmware {info.robot_name!r} ({info.firmware_version}) speaks protocol "
                f"{info.protocol_version} with message table {info.table_hash:#010x}; host "
                f"speaks protocol {PROTOCOL_VERSION} with table {self.table.hash32:#010x} "
                f"(sha256 {self.table.hash_hex}): rebuild one side from the same messages.py")
        with self._lock:
            self._info = info
            self._command_seq = 0
            self._last_frame = self._clock()
        if self.config.heartbeat_period_s * 1000 >= info.watchdog_ms / 2:
            LOGGER.warning("heartbeat period %.0f ms is not under half the firmware watchdog "
                           "(%d ms): the firmware may e-stop between commands",
                           self.config.heartbeat_period_s * 1000, info.watchdog_ms)
        LOGGER.info("connected to %s: %s", info.robot_name, info)
        return info

    @property
    def info(self) -> FirmwareInfo:
        """The firmware's HELLO (after :meth:`connect`)."""
        if self._info is None:
            raise NotConnectedError("call connect() first: no HELLO received yet")
        return self._info

    # ----------------------------------------------------------------------------- state
    def latest_state(self) -> StateSample | None:
        """The newest STATE (None before the first); see :meth:`StateSample.age_s`."""
        return self._state

    def wait_for_state(self, timeout: float, newer_than: float | None = None
                       ) -> StateSample | None:
        """The first STATE received after monotonic time ``newer_than`` (default: now)."""
        after = self._clock() if newer_than is None else newer_than
        deadline = self._clock() + timeout
        with self._state_ready:
            while self._state is None or self._state.received_at <= after:
                remaining = deadline - self._clock()
                if remaining <= 0:
                    return None
                self._state_ready.wait(remaining)
            return self._state

    # --------------------------------------------------------------------------- commands
    def send_command(self, targets: Sequence[float] | np.ndarray, mode: int | None = None
                     ) -> int:
        """Send targets ``(J,)``; returns their ``command_seq`` (monotonic, latest wins)."""
        info = self.info
        values = np.asarray(targets, dtype=np.float32)
        if values.shape != (info.joint_count,) or not np.all(np.isfinite(values)):
            raise CommandError(f"targets must be {info.joint_count} finite floats for "
                               f"{info.robot_name!r}, got shape {values.shape}: {values!r}")
        with self._lock:
            self._command_seq += 1
            seq = self._command_seq
        self._send("COMMAND", {"command_seq": seq, "targets": values,
                               "mode": info.command_mode if mode is None else int(mode)})
        self._last_feed_sent = self._clock()
        self._count("commands_sent")
        return seq

    def ping(self, timeout: float | None = None) -> float:
        """Round-trip time in seconds of one echoed HEARTBEAT; raises on timeout."""
        pending = _Pending("HEARTBEAT")
        counter = self._next_heartbeat(pending)
        if not pending.event.wait(self._reply_timeout if timeout is None else timeout):
            with self._lock:
                self._pending.pop(("HEARTBEAT", counter), None)
            raise LinkTimeoutError(f"heartbeat {counter} got no echo")
        with self._lock:
            self._pending.pop(("HEARTBEAT", counter), None)
        return pending.received_at - pending.sent_at

    def estop(self, reason: int = 0) -> None:
        """Latch the firmware e-stop (reliable: retried until ACK)."""
        self._checked_request("ESTOP", {"reason": reason}, "ACK")

    def clear_estop(self) -> None:
        """Clear the latched e-stop and its fault flags (reliable)."""
        self._checked_request("CLEAR_ESTOP", {}, "ACK")

    def reset(self, task_id: int = 0, seed: int = 0) -> None:
        """Reset the robot/task for a new episode (reliable)."""
        self._checked_request("RESET", {"task_id": task_id, "seed": seed}, "ACK")

    def inject_faults(self, settings: Mapping[str, Any]) -> None:
        """Tests only: send FAULT_INJECT (fields as in the table, without request_id)."""
        self._checked_request("FAULT_INJECT", dict(settings), "ACK")

    def configure(self, key: ConfigKey | int, value: float) -> float:
        """Set a firmware config key (reliable); returns the value the firmware applied."""
        reply = self._request("CONFIG_SET", {"key": int(key), "value": float(value)},
                              "CONFIG_ACK")
        if reply["status"] != Status.OK:
            raise RequestRejectedError(
                f"firmware rejected {_key_name(key)}={value}: {Status(reply['status']).name}, "
                f"value in force {reply['value']}")
        return reply["value"]

    # ----------------------------------------------------------------------------- health
    def health(self) -> LinkHealth:
        """A snapshot of the link (the ``silent`` flag is live)."""
        now = self._clock()
        since = math.inf if self._last_frame is None else now - self._last_frame
        state = self._state
        with self._lock:
            counters = dict(self._counters)
        with self._parser_lock:
            parser = self._parser.snapshot()
        return LinkHealth(
            connected=(self._info is not None and not self._stop.is_set()
                       and not self._transport_error),
            silent=self._info is not None and since > self.config.silence_timeout_s,
            since_last_frame_s=since, estop=None if state is None else state.estop,
            last_fault=self._last_fault, last_rtt_s=self._last_rtt,
            transport_error=self._transport_error, parser=parser,
            **counters)

    def close(self) -> None:
        """Stop the reader and close the transport (idempotent)."""
        self._stop.set()
        if self._reader.is_alive() and threading.current_thread() is not self._reader:
            self._reader.join(timeout=1.0)
        self.transport.close()

    def __enter__(self) -> FirmwareDriver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------------------- requests
    def _checked_request(self, name: str, values: dict[str, Any], reply: str) -> dict:
        answer = self._request(name, values, reply)
        if answer["status"] != Status.OK:
            raise RequestRejectedError(f"firmware rejected {name} {values}: "
                                       f"{Status(answer['status']).name} {answer['text']!r}")
        return answer

    def _request(self, name: str, values: dict[str, Any], reply: str,
                 with_id: bool = True) -> dict[str, Any]:
        with self._lock:
            self._request_id += 1
            request_id = self._request_id if with_id else 0
            pending = self._pending[(reply, request_id)] = _Pending(reply)
        if with_id:
            values = {"request_id": request_id, **values}
        try:
            for attempt in range(self.config.retries):
                if attempt:
                    self._count("retries")
                    LOGGER.info("%s attempt %d", name, attempt + 1)
                self._send(name, values)
                if pending.event.wait(self._reply_timeout):
                    assert pending.values is not None
                    return pending.values
        finally:
            with self._lock:
                self._pending.pop((reply, request_id), None)
        self._count("request_timeouts")
        raise LinkTimeoutError(
            f"{name} {values} got no {reply} after {self.config.retries} attempts of "
            f"{self._reply_timeout * 1000:.1f} ms on {getattr(self.transport, 'url', '')!r}")

    def _send(self, name: str, values: dict[str, Any]) -> None:
        with self._write_lock:
            if self._stop.is_set():
                raise NotConnectedError(f"driver closed; cannot send {name}")
            self.transport.write(self._encoder.encode(name, values))

    def _count(self, name: str) -> None:
        with self._lock:
            self._counters[name] += 1

    def _next_heartbeat(self, pending: _Pending | None = None) -> int:
        now = self._clock()
        echo = pending is not None or now - self._last_probe >= self.config.rtt_probe_period_s
        if echo:
            self._last_probe = now
        with self._lock:
            self._heartbeat_counter = (self._heartbeat_counter + 1) & 0xFFFFFFFF
            counter = self._heartbeat_counter
            if pending is not None:
                pending.sent_at = self._clock()
                self._pending[("HEARTBEAT", counter)] = pending
            if echo:
                self._heartbeat_sent_at[counter] = self._clock()
            if len(self._heartbeat_sent_at) > 64:  # bounded: forget the oldest unanswered
                del self._heartbeat_sent_at[next(iter(self._heartbeat_sent_at))]
        self._send("HEARTBEAT", {"counter": counter, "echo": int(echo)})
        self._last_feed_sent = self._clock()
        self._count("heartbeats_sent")
        return counter

    # ------------------------------------------------------------------------- reader side
    def _read_loop(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.transport.read(4096, self.config.poll_s)
            except TransportError as error:
                self._transport_error = str(error)
                self._fault(FaultCode.LINK_SILENT, f"transport failed: {error}")
                return
            with self._parser_lock:
                events = self._parser.feed(data) if data else []
            for event in events:
                if isinstance(event, Frame):
                    self._dispatch(event)
            try:
                self._housekeeping()
            except (TransportError, NotConnectedError) as error:
                self._transport_error = str(error)

    def _housekeeping(self) -> None:
        now = self._clock()
        if self._info is None:
            return
        if now - self._last_feed_sent >= self.config.heartbeat_period_s:
            self._next_heartbeat()
        since = now - (self._last_frame or now)
        if since > self.config.silence_timeout_s and not self._silent:
            self._silent = True
            self._count("silence_events")
            self._fault(FaultCode.LINK_SILENT, f"no valid frame from the firmware for "
                        f"{since * 1000:.1f} ms (limit {self.config.silence_timeout_s * 1000:.1f})")

    def _dispatch(self, frame: Frame) -> None:
        now = self._clock()
        self._last_frame = now
        if self._silent:
            self._silent = False
            LOGGER.warning("firmware link recovered")
        values = frame.values
        if frame.name == "STATE":
            with self._state_ready:
                self._state = StateSample.from_values(values, now)
                self._state_ready.notify_all()
        elif frame.name == "FAULT":
            self._fault(values["code"], values["text"])
        elif frame.name == "HEARTBEAT":
            with self._lock:
                sent = self._heartbeat_sent_at.pop(values["counter"], None)
            if sent is not None:
                self._last_rtt = now - sent
            self._complete(("HEARTBEAT", values["counter"]), values)
        elif frame.name == "HELLO":
            self._complete(("HELLO", 0), values)
        elif frame.name in ("ACK", "CONFIG_ACK"):
            self._complete((frame.name, values["request_id"]), values)

    def _complete(self, key: tuple[str, int], values: dict[str, Any]) -> None:
        with self._lock:
            pending = self._pending.get(key)
        if pending is not None and not pending.event.is_set():
            pending.values = values
            pending.received_at = self._clock()
            pending.event.set()

    def _fault(self, code: int, text: str) -> None:
        report = FaultReport(int(code), text, self._clock())
        self._last_fault = report
        self._count("faults")
        LOGGER.warning("firmware fault %s: %s", report.name, text)
        if self._on_fault is not None:
            try:
                self._on_fault(report)
            except Exception:  # a user callback must not kill the reader
                LOGGER.exception("on_fault callback failed")


def _key_name(key: ConfigKey | int) -> str:
    try:
        return ConfigKey(key).name
    except ValueError:
        return f"key {int(key)}"
