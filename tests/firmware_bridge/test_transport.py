"""Transports and the link timing policy."""

from __future__ import annotations

import time

import pytest

from firmware_bridge.errors import BridgeError, TransportError
from firmware_bridge.transport import LinkConfig, PtyTransport, SerialTransport


def test_link_config_defaults_and_derived_timeouts() -> None:
    config = LinkConfig(baud=115200, control_period_s=0.01)
    assert config.silence_timeout_s == pytest.approx(0.02)  # 2 control periods
    assert config.wire_time_s(1152) == pytest.approx(0.1)
    assert config.write_timeout_s(600) == pytest.approx(4 * 600 * 10 / 115200)
    assert LinkConfig(baud=10_000_000).write_timeout_s(600) == 0.05
    assert config.reply_timeout_s(600) == pytest.approx(0.05 + 2 * 600 * 10 / 115200)


@pytest.mark.parametrize("field", ["baud", "retries", "ack_timeout_s", "control_period_s"])
def test_link_config_rejects_non_positive(field: str) -> None:
    with pytest.raises(BridgeError, match=field):
        LinkConfig(**{field: 0})


def test_loop_url_round_trip_and_read_timeout() -> None:
    transport = SerialTransport("loop://", LinkConfig())
    try:
        transport.write(b"abc\x00def")
        received = b""
        while len(received) < 7:
            received += transport.read(100, 0.5)
        assert received == b"abc\x00def"
        started = time.monotonic()
        assert transport.read(100, 0.05) == b""
        assert 0.04 <= time.monotonic() - started < 1.0
    finally:
        transport.close()


def test_unopenable_url_is_a_transport_error() -> None:
    with pytest.raises(TransportError, match="/dev/does-not-exist"):
        SerialTransport("/dev/does-not-exist", LinkConfig())


def test_pty_both_ways_through_pyserial() -> None:
    pty = PtyTransport()
    host = SerialTransport(pty.slave_path, LinkConfig())
    try:
        payload = bytes(range(256)) * 8  # raw mode: every byte value passes unchanged
        pty.write(payload)
        received = b""
        while len(received) < len(payload):
            chunk = host.read(4096, 1.0)
            assert chunk, "pty delivered nothing within 1 s"
            received += chunk
        assert received == payload
        host.write(b"\x00\x11\r\n\x03")
        received = b""
        while len(received) < 5:
            received += pty.read(64, 1.0)
        assert received == b"\x00\x11\r\n\x03"
    finally:
        host.close()
        pty.close()
        pty.close()


def test_pty_write_never_blocks_when_nobody_reads() -> None:
    pty = PtyTransport()
    try:
        started = time.monotonic()
        for _ in range(400):
            pty.write(bytes(1024))
        assert time.monotonic() - started < 2.0
        assert pty.dropped_bytes > 0
    finally:
        pty.close()
