"""systemd integration of ``daydreamer-onboard``: ``Type=notify`` with a watchdog, no dependency.

The sd_notify protocol is one datagram of ``KEY=VALUE`` lines to the unix socket named by
``$NOTIFY_SOCKET`` (a name starting with ``@`` is in the abstract namespace: ``@`` becomes a NUL
byte). :class:`SystemdNotifier` sends:

- ``READY=1`` when the runtime is about to run its first control tick (so ``systemctl start``
  returns once the robot is really being driven);
- ``WATCHDOG=1`` *from the control loop* (:meth:`SystemdNotifier.tick`, installed as
  :attr:`onboard.runtime.Runtime.on_tick`), at most every half of ``$WATCHDOG_USEC`` measured with
  the loop's clock: a control thread stuck in a tick stops feeding the watchdog, and systemd
  kills and restarts the service (``WatchdogSec=``, ``Restart=``);
- ``STATUS=...`` from the reporter thread (``systemctl status`` shows the line);
- ``STOPPING=1`` when the runtime shuts down (before the spool is flushed).

Sends never block (a non-blocking socket and ``MSG_DONTWAIT``) and never raise: a failed send is
counted in :attr:`SystemdNotifier.errors` and logged at the 1st, 2nd, 4th, 8th, ... failure. With
``$NOTIFY_SOCKET`` unset the notifier is disabled and every method returns at once. The watchdog is
enabled only when ``$WATCHDOG_USEC`` is set and ``$WATCHDOG_PID`` is unset or this process's id
(as ``sd_watchdog_enabled(3)`` specifies).
"""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
from collections.abc import Mapping

log = logging.getLogger(__name__)


def socket_address(name: str) -> str:
    """The ``AF_UNIX`` address of ``$NOTIFY_SOCKET``: ``@name`` -> ``"\\0name"`` (abstract)."""
    return "\0" + name[1:] if name.startswith("@") else name


def watchdog_seconds(environ: Mapping[str, str], pid: int) -> float:
    """The watchdog timeout systemd expects of process ``pid`` (0.0: no watchdog)."""
    usec = environ.get("WATCHDOG_USEC", "")
    owner = environ.get("WATCHDOG_PID", "")
    if not usec or (owner and owner != str(pid)):
        return 0.0
    try:
        value = int(usec)
    except ValueError:
        log.warning("WATCHDOG_USEC=%r is not an integer; watchdog disabled", usec)
        return 0.0
    return value / 1e6 if value > 0 else 0.0


class SystemdNotifier:
    """Sends sd_notify messages; see the module docstring.

    Args:
        address: ``$NOTIFY_SOCKET`` as systemd sets it (``/run/...`` or ``@abstract``); empty or
            None: disabled.
        watchdog_s: the watchdog timeout (``$WATCHDOG_USEC`` in seconds); 0: no ``WATCHDOG=1``.

    Attributes:
        sent: datagrams sent.
        errors: sends that failed (unreachable socket, full receive queue, ...).
        watchdogs: ``WATCHDOG=1`` messages sent.
        interval: seconds between ``WATCHDOG=1`` messages (half the timeout; inf: none).
    """

    def __init__(self, address: str | None, watchdog_s: float = 0.0) -> None:
        self.address = socket_address(address) if address else ""
        self.watchdog_s = watchdog_s if watchdog_s > 0 else 0.0
        self.interval = self.watchdog_s / 2 if self.watchdog_s else math.inf
        self.sent = 0
        self.errors = 0
        self.watchdogs = 0
        self._lock = threading.Lock()  # counters only; held for an increment, never for I/O
        self._due = -math.inf  # first tick: READY
        self._ready = False
        self._socket: socket.socket | None = None
        if self.address:
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._socket.setblocking(False)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None,
                         pid: int | None = None) -> SystemdNotifier:
        """A notifier for ``$NOTIFY_SOCKET`` / ``$WATCHDOG_USEC`` (disabled when unset)."""
        environ = os.environ if environ is None else environ
        pid = os.getpid() if pid is None else pid
        return cls(environ.get("NOTIFY_SOCKET", ""), watchdog_seconds(environ, pid))

    @property
    def enabled(self) -> bool:
        """True when ``$NOTIFY_SOCKET`` was set (also after :meth:`close`)."""
        return bool(self.address)

    def send(self, text: str) -> bool:
        """Send one datagram (``KEY=VALUE`` lines); never blocks or raises. True when sent."""
        sock = self._socket
        if sock is None:
            return False
        try:
            sock.sendto(text.encode("utf-8", "replace"), socket.MSG_DONTWAIT, self.address)
        except OSError as error:
            with self._lock:
                self.errors += 1
                errors = self.errors
            if errors & (errors - 1) == 0:  # 1, 2, 4, 8, ...: never a log line per tick
                log.warning("systemd notify to %r failed (%d so far): %s",
                            self.address.replace("\0", "@"), errors, error)
            return False
        with self._lock:
            self.sent += 1
        return True

    def tick(self, now: float) -> None:
        """The control loop's per-tick callback: one comparison unless something is due.

        ``now`` is the loop clock's time (:meth:`onboard.clock.Clock.now`). The first call sends
        ``READY=1``; later calls send ``WATCHDOG=1`` every :attr:`interval` seconds.
        """
        if now < self._due:
            return
        self._due = now + self.interval
        if not self._ready:
            self._ready = True
            self.send("READY=1\nSTATUS=control loop running"
                      + ("\nWATCHDOG=1" if self.watchdog_s else ""))
            return
        if self.send("WATCHDOG=1"):
            self.watchdogs += 1

    def status(self, line: str) -> None:
        """``STATUS=line`` (shown by ``systemctl status``); newlines become spaces."""
        self.send("STATUS=" + " ".join(line.splitlines())[:1000])

    def stopping(self, line: str = "stopping") -> None:
        """``STOPPING=1``: the service is shutting down (systemd then waits ``TimeoutStopSec``)."""
        self.send("STOPPING=1\nSTATUS=" + " ".join(line.splitlines())[:1000])

    def close(self) -> None:
        """Close the socket; later sends are no-ops."""
        sock, self._socket = self._socket, None
        if sock is not None:
            sock.close()
