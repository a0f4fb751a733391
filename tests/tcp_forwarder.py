"""Test helper: a TCP forwarder on loopback whose link can be cut, blackholed and restored.

:class:`TcpForwarder` listens on ``127.0.0.1:<port>`` and forwards every accepted connection,
byte for byte, to ``127.0.0.1:<target_port>`` (one thread, :mod:`selectors`). Put it between a
ZeroMQ client and its server (CURVE included: it never looks at the bytes) to simulate a network
outage:

- :meth:`TcpForwarder.blackhole`: nothing moves any more (a cable pulled, a radio out of range):
  open connections stay open but silent, new connections are left unanswered in the kernel's
  accept queue; what was sent meanwhile waits in the kernel buffers.
- :meth:`TcpForwarder.cut`: every forwarded connection is closed on both sides and new
  connections are refused (the listening socket is closed: ``ECONNREFUSED``).
- :meth:`TcpForwarder.restore`: forwarding resumes on the same port (after a blackhole the queued
  bytes and connections flow on; after a cut the clients reconnect).
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
import time
from dataclasses import dataclass


@dataclass
class ForwarderCounters:
    """What the forwarder did.

    Attributes:
        connections: client connections accepted and connected to the target.
        refused_upstream: accepted connections whose target refused them (closed at once).
        bytes_up: bytes forwarded client -> target.
        bytes_down: bytes forwarded target -> client.
        closed_by_cut: connection pairs closed by :meth:`TcpForwarder.cut`.
        outages: calls of :meth:`TcpForwarder.blackhole` or :meth:`TcpForwarder.cut` that
            started an outage.
    """

    connections: int = 0
    refused_upstream: int = 0
    bytes_up: int = 0
    bytes_down: int = 0
    closed_by_cut: int = 0
    outages: int = 0


class TcpForwarder:
    """Forwards ``127.0.0.1:port`` to ``127.0.0.1:target_port`` (see the module docstring).

    Args:
        target_port: the server's port.
        port: the port to listen on (0: a free one, see :attr:`port`).
    """

    def __init__(self, target_port: int, port: int = 0) -> None:
        self.target_port = target_port
        self.counters = ForwarderCounters()
        self._selector = selectors.DefaultSelector()
        self._listener: socket.socket | None = None
        self._peers: dict[socket.socket, socket.socket] = {}
        self._mode = "forwarding"
        self._wanted = "forwarding"
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._listen(port)
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._run, name="tcp-forwarder", daemon=True)

    def __enter__(self) -> TcpForwarder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def mode(self) -> str:
        """``forwarding``, ``blackhole`` or ``cut`` (as applied by the forwarding thread)."""
        return self._mode

    def blackhole(self) -> None:
        """Stop moving bytes and accepting connections; keep everything open."""
        self._request("blackhole")

    def cut(self) -> None:
        """Close every forwarded connection on both sides; refuse new ones."""
        self._request("cut")

    def restore(self) -> None:
        """Forward again on the same port."""
        self._request("forwarding")

    def close(self) -> None:
        """Stop the thread and close every socket."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5.0)
        self._close_pairs()
        self._close_listener()
        self._selector.close()

    def _request(self, mode: str, timeout: float = 5.0) -> None:
        """Ask the thread for ``mode`` and wait until it is applied."""
        with self._lock:
            self._wanted = mode
        deadline = time.monotonic() + timeout
        while self._mode != mode:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise AssertionError(f"forwarder did not switch to {mode!r} (is {self._mode!r})")
            time.sleep(0.005)

    # ------------------------------------------------------------------ forwarding thread
    def _run(self) -> None:
        while not self._stop.is_set():
            self._apply_mode()
            if self._mode != "forwarding":
                self._stop.wait(0.02)
                continue
            for key, _ in self._selector.select(0.02):
                if key.fileobj is self._listener:
                    self._accept()
                else:
                    self._pump(key.fileobj)  # type: ignore[arg-type]

    def _apply_mode(self) -> None:
        with self._lock:
            wanted = self._wanted
        if wanted == self._mode:
            return
        if self._mode == "forwarding":
            self.counters.outages += 1
        if wanted == "cut":
            self.counters.closed_by_cut += len(self._peers) // 2
            self._close_pairs()
            self._close_listener()
        elif wanted == "forwarding" and self._listener is None:
            self._listen(self.port)
        self._mode = wanted

    def _listen(self, port: int) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(64)
        listener.setblocking(False)
        self._listener = listener
        self._selector.register(listener, selectors.EVENT_READ)

    def _accept(self) -> None:
        assert self._listener is not None
        try:
            client, _ = self._listener.accept()
        except BlockingIOError:
            return
        try:
            target = socket.create_connection(("127.0.0.1", self.target_port), timeout=2.0)
        except OSError:
            self.counters.refused_upstream += 1
            client.close()
            return
        for one, other in ((client, target), (target, client)):
            one.settimeout(5.0)  # sendall to a peer that stopped reading gives up
            self._peers[one] = other
            self._selector.register(one, selectors.EVENT_READ, "up" if one is client else "down")
        self.counters.connections += 1

    def _pump(self, source: socket.socket) -> None:
        other = self._peers.get(source)
        if other is None:
            return
        direction = self._selector.get_key(source).data
        try:
            data = source.recv(65536)
            if data:
                other.sendall(data)
        except OSError:
            data = b""
        if not data:
            self._close_pair(source)
            return
        if direction == "up":
            self.counters.bytes_up += len(data)
        else:
            self.counters.bytes_down += len(data)

    def _close_pair(self, one: socket.socket) -> None:
        other = self._peers.pop(one, None)
        for sock in (one, other):
            if sock is None:
                continue
            self._peers.pop(sock, None)
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(sock)
            sock.close()

    def _close_pairs(self) -> None:
        for sock in list(self._peers):
            self._close_pair(sock)

    def _close_listener(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(self._listener)
            self._listener.close()
            self._listener = None
