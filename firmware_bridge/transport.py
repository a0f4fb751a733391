"""Byte transports and the link's timing policy (:class:`LinkConfig`, the one place for it).

A :class:`Transport` moves bytes; it knows nothing of frames. :class:`SerialTransport` opens any
pyserial URL (``/dev/ttyACM0``, a pseudo-terminal path, ``socket://host:port``, ``loop://``);
:class:`PtyTransport` is the master side of a pseudo-terminal, used by the simulated firmware.
"""

from __future__ import annotations

import errno
import os
import select
import threading
import tty
from dataclasses import dataclass
from typing import Protocol

from firmware_bridge.errors import BridgeError, TransportError

#: bits on the wire per byte with 8N1 framing (start + 8 data + stop).
BITS_PER_BYTE = 10


@dataclass(frozen=True)
class LinkConfig:
    """Every timeout and retry of the serial link.

    Attributes:
        baud: line rate in bit/s; wire time of n bytes is ``n * 10 / baud``.
        control_period_s: period of the onboard control loop that consumes STATE.
        heartbeat_period_s: the host sends HEARTBEAT when it sent nothing else for this long
            (must stay well below the firmware watchdog, default 100 ms).
        silence_timeout_periods: the firmware is declared silent after this many control periods
            without a valid frame.
        rtt_probe_period_s: one periodic HEARTBEAT per this period asks for an echo (round-trip
            time in ``health()``); the others are not answered, to spare slow lines.
        retries: attempts of a reliable request (handshake, configure, e-stop, reset).
        ack_timeout_s: wait for the reply of one attempt, on top of the wire time.
        poll_s: longest the reader thread blocks in one read.
    """

    baud: int = 1_000_000
    control_period_s: float = 0.02
    heartbeat_period_s: float = 0.02
    silence_timeout_periods: float = 2.0
    rtt_probe_period_s: float = 1.0
    retries: int = 5
    ack_timeout_s: float = 0.05
    poll_s: float = 0.005

    def __post_init__(self) -> None:
        positive = {name: getattr(self, name) for name in (
            "baud", "control_period_s", "heartbeat_period_s", "silence_timeout_periods",
            "rtt_probe_period_s", "retries", "ack_timeout_s", "poll_s")}
        bad = {name: value for name, value in positive.items() if not value > 0}
        if bad:
            raise BridgeError(f"LinkConfig values must be > 0, got {bad}")

    @property
    def silence_timeout_s(self) -> float:
        """Seconds without a valid frame after which the firmware counts as silent."""
        return self.silence_timeout_periods * self.control_period_s

    def wire_time_s(self, size: int) -> float:
        """Seconds that ``size`` bytes take on the wire at :attr:`baud`."""
        return size * BITS_PER_BYTE / self.baud

    def write_timeout_s(self, max_frame: int) -> float:
        """Write timeout: four maximum frames of wire time, at least 50 ms."""
        return max(0.05, 4 * self.wire_time_s(max_frame))

    def reply_timeout_s(self, max_frame: int) -> float:
        """Wait for one request's reply: a frame each way plus :attr:`ack_timeout_s`."""
        return self.ack_timeout_s + 2 * self.wire_time_s(max_frame)


class Transport(Protocol):
    """A bidirectional byte stream."""

    def write(self, data: bytes) -> None:
        """Send all of ``data``; raises :class:`TransportError` on failure."""

    def read(self, max_bytes: int, timeout: float) -> bytes:
        """Up to ``max_bytes`` bytes; waits at most ``timeout`` s for the first; b"" if none."""

    def close(self) -> None:
        """Release the port (idempotent)."""


class SerialTransport:
    """A :class:`Transport` over any pyserial URL.

    Args:
        url: anything ``serial.serial_for_url`` opens.
        config: the link timing (baud, write timeout).
        max_frame: longest frame in bytes, for the write timeout.
    """

    def __init__(self, url: str, config: LinkConfig, max_frame: int = 1024) -> None:
        import serial  # pyserial is optional for the rest of the package

        self.url = url
        self._serial_error = serial.SerialException
        try:
            self._port = serial.serial_for_url(
                url, baudrate=config.baud, timeout=0,
                write_timeout=config.write_timeout_s(max_frame))
        except (serial.SerialException, ValueError, OSError) as error:
            raise TransportError(f"cannot open {url!r}: {error}") from error
        try:
            self._fd: int | None = self._port.fileno()
        except Exception:  # URL handlers without a file descriptor (socket://, loop://)
            self._fd = None
        self._closed = False

    def write(self, data: bytes) -> None:
        """Send all of ``data``."""
        try:
            written = self._port.write(data)
        except (self._serial_error, OSError) as error:
            raise TransportError(f"write of {len(data)} bytes to {self.url!r}: {error}") from error
        if written is not None and written != len(data):
            raise TransportError(f"wrote {written} of {len(data)} bytes to {self.url!r}")

    def read(self, max_bytes: int, timeout: float) -> bytes:
        """Up to ``max_bytes`` bytes, waiting at most ``timeout`` s for the first."""
        try:
            if self._fd is not None:
                ready, _, _ = select.select([self._fd], [], [], max(0.0, timeout))
                return os.read(self._fd, max_bytes) if ready else b""
            self._port.timeout = max(0.0, timeout)
            first = self._port.read(1)
            if not first:
                return b""
            self._port.timeout = 0
            return first + self._port.read(max_bytes - 1)
        except (self._serial_error, OSError, ValueError) as error:
            if self._closed:
                return b""
            raise TransportError(f"read from {self.url!r}: {error}") from error

    def close(self) -> None:
        """Close the port."""
        self._closed = True
        self._port.close()


class PtyTransport:
    """Master side of a fresh pseudo-terminal (raw mode); peers open :attr:`slave_path`.

    Writes never block: when the peer does not read and the kernel buffer is full, the bytes are
    dropped and counted in :attr:`dropped_bytes`, as a UART transmits into nothing.
    """

    def __init__(self) -> None:
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        tty.setraw(self._master)
        os.set_blocking(self._master, False)
        self.slave_path = os.ttyname(self._slave)
        self.dropped_bytes = 0
        self._lock = threading.Lock()
        self._closed = False

    def write(self, data: bytes) -> None:
        """Send ``data``; what does not fit in the pty buffer is dropped and counted."""
        view = memoryview(data)
        while view:
            try:
                written = os.write(self._master, view)
            except BlockingIOError:
                self.dropped_bytes += len(view)
                return
            except OSError as error:
                raise TransportError(f"write to pty {self.slave_path}: {error}") from error
            view = view[written:]

    def read(self, max_bytes: int, timeout: float) -> bytes:
        """Up to ``max_bytes`` bytes, waiting at most ``timeout`` s for the first."""
        try:
            ready, _, _ = select.select([self._master], [], [], max(0.0, timeout))
            if not ready or self._closed:
                return b""
            return os.read(self._master, max_bytes)
        except BlockingIOError:
            return b""
        except (OSError, ValueError) as error:
            if self._closed or getattr(error, "errno", None) == errno.EIO:
                return b""  # closed under us, or no peer has the slave open right now
            raise TransportError(f"read from pty {self.slave_path}: {error}") from error

    def close(self) -> None:
        """Close both ends (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            os.close(self._master)
            os.close(self._slave)
