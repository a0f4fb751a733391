"""Seeded link-fault injection of the simulated firmware."""

from __future__ import annotations

import pytest

from firmware_bridge.errors import BridgeError
from firmware_bridge.framing import FrameEncoder
from firmware_bridge.messages import TABLE
from firmware_bridge.sim.faults import RX, TX, FaultInjector, FaultSettings, frame_type

ENCODER = FrameEncoder(TABLE, lambda: 0)
HEARTBEAT = ENCODER.encode("HEARTBEAT", {"counter": 1, "echo": 0})
FAULT = ENCODER.encode("FAULT", {"code": 1, "text": "x"})


def run(settings: FaultSettings, count: int = 1000, wire: bytes = HEARTBEAT,
        direction: int = TX) -> tuple[FaultInjector, list[list[tuple[float, bytes]]]]:
    injector = FaultInjector(settings)
    return injector, [injector.apply(direction, wire, 10.0) for _ in range(count)]


def test_frame_type_reads_the_cobs_header() -> None:
    assert frame_type(HEARTBEAT) == 0x12
    assert frame_type(FAULT) == 0x15
    assert frame_type(b"\x01") is None


def test_same_seed_same_faults_and_rates_match() -> None:
    settings = FaultSettings(seed=5, drop_probability=0.2, bit_flip_probability=0.1)
    first, outputs = run(settings)
    _, again = run(settings)
    assert outputs == again
    assert 150 <= first.counters.dropped <= 250
    assert 60 <= first.counters.flipped <= 130
    assert sum(not pieces for pieces in outputs) == first.counters.dropped
    flipped = [pieces[0][1] for pieces in outputs if pieces and pieces[0][1] != HEARTBEAT]
    assert len(flipped) == first.counters.flipped


def test_bursts_drop_consecutive_frames() -> None:
    injector, outputs = run(FaultSettings(seed=1, burst_probability=0.01, burst_length=10),
                            count=5000)
    assert injector.counters.bursts > 10
    bursts = injector.counters.bursts
    assert 10 * (bursts - 1) < injector.counters.dropped <= 10 * bursts
    runs, current = [], 0
    for pieces in outputs:
        current = current + 1 if not pieces else 0
        if current == 10:
            runs.append(current)
    assert len(runs) >= injector.counters.bursts - 1


def test_delays_and_garbage() -> None:
    injector, outputs = run(FaultSettings(seed=2, delay_probability=1.0, delay_ms=30.0,
                                          garbage_probability=1.0), count=10)
    for pieces in outputs:
        (garbage_time, garbage), (release, wire) = pieces
        assert garbage.endswith(b"\x00") and garbage_time == 10.0
        assert release == pytest.approx(10.03) and wire == HEARTBEAT
    assert injector.counters.delayed == injector.counters.garbage == 10


def test_filters_by_type_and_direction() -> None:
    settings = FaultSettings(drop_probability=1.0, message_type=0x15, directions=TX)
    assert run(settings, 10, HEARTBEAT)[0].counters.dropped == 0
    assert run(settings, 10, FAULT)[0].counters.dropped == 10
    assert run(settings, 10, FAULT, direction=RX)[0].counters.dropped == 0


def test_bad_settings_are_rejected() -> None:
    with pytest.raises(BridgeError, match="drop_probability"):
        FaultSettings(drop_probability=1.5)
