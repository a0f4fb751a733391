"""The fault suite's TCP forwarder (``tests/tcp_forwarder.py``): it forwards, blackholes, cuts
and restores as documented."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from tests.tcp_forwarder import TcpForwarder


@pytest.fixture
def echo_port() -> Iterator[int]:
    """An upper-casing echo server on loopback (one thread per connection)."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.05)  # close() does not wake a blocked accept(): poll the stop flag
    stop = threading.Event()

    def serve(connection: socket.socket) -> None:
        with connection:
            while data := connection.recv(4096):
                connection.sendall(data.upper())

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            connection.settimeout(None)
            threading.Thread(target=serve, args=(connection,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(5.0)
    server.close()


def ask(connection: socket.socket, text: bytes, timeout: float = 5.0) -> bytes:
    connection.settimeout(timeout)
    connection.sendall(text)
    received = b""
    while len(received) < len(text):
        received += connection.recv(4096)
    return received


def test_forwards_blackholes_cuts_and_restores(echo_port: int) -> None:
    with TcpForwarder(echo_port) as forwarder:
        client = socket.create_connection(("127.0.0.1", forwarder.port), timeout=5.0)
        assert ask(client, b"hello") == b"HELLO"

        forwarder.blackhole()
        client.sendall(b"held")
        client.settimeout(0.3)
        with pytest.raises(TimeoutError):
            client.recv(4096)  # nothing moves while blackholed
        forwarder.restore()
        client.settimeout(5.0)
        assert client.recv(4096) == b"HELD"  # the queued bytes flow on
        assert (forwarder.counters.bytes_up, forwarder.counters.bytes_down) == (9, 9)

        forwarder.cut()
        assert client.recv(4096) == b""  # closed by the cut
        client.close()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", forwarder.port), timeout=5.0)
        forwarder.restore()
        with socket.create_connection(("127.0.0.1", forwarder.port), timeout=5.0) as again:
            assert ask(again, b"back") == b"BACK"
        counters = forwarder.counters
        assert (counters.connections, counters.closed_by_cut, counters.outages) == (2, 1, 2)


def test_a_refusing_target_closes_the_client(echo_port: int) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    with TcpForwarder(dead_port) as forwarder:
        client = socket.create_connection(("127.0.0.1", forwarder.port), timeout=5.0)
        client.settimeout(5.0)
        assert client.recv(4096) == b""
        client.close()
        assert forwarder.counters.refused_upstream == 1
