"""Seedable link-fault injection of the simulated firmware: drops, bit flips, delays, bursts.

Faults act on whole wire frames (COBS bytes + 0x00 delimiter), in either direction, optionally
only on one message type. Every injected fault is counted in :class:`FaultCounters`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from firmware_bridge.errors import BridgeError

#: ``directions`` bits.
TX = 1  #: frames the firmware sends
RX = 2  #: frames the firmware receives


@dataclass(frozen=True)
class FaultSettings:
    """What to inject (all probabilities per frame, 0 disables).

    Attributes:
        seed: seed of the injector's random generator (same seed, same faults).
        message_type: only frames of this message id (0: every frame).
        directions: bit set of :data:`TX` and :data:`RX`.
        drop_probability: drop the frame.
        bit_flip_probability: flip one random bit of the frame (delimiter included).
        delay_probability: hold the frame back by ``delay_ms``.
        delay_ms: delay of a delayed frame in milliseconds.
        burst_probability: start a burst that drops ``burst_length`` consecutive frames.
        burst_length: frames dropped by one burst.
        garbage_probability: put 1..32 random bytes and a delimiter before the frame.
    """

    seed: int = 0
    message_type: int = 0
    directions: int = TX | RX
    drop_probability: float = 0.0
    bit_flip_probability: float = 0.0
    delay_probability: float = 0.0
    delay_ms: float = 0.0
    burst_probability: float = 0.0
    burst_length: int = 0
    garbage_probability: float = 0.0

    def __post_init__(self) -> None:
        probabilities = {name: getattr(self, name) for name in (
            "drop_probability", "bit_flip_probability", "delay_probability",
            "burst_probability", "garbage_probability")}
        bad = {name: value for name, value in probabilities.items() if not 0.0 <= value <= 1.0}
        if bad or self.delay_ms < 0 or self.burst_length < 0:
            raise BridgeError(f"bad fault settings {bad or self}")

    @property
    def active(self) -> bool:
        """True when some fault can happen."""
        return any((self.drop_probability, self.bit_flip_probability, self.delay_probability,
                    self.burst_probability, self.garbage_probability)) and bool(self.directions)


@dataclass
class FaultCounters:
    """Faults injected so far.

    Attributes:
        dropped: frames dropped (alone or in bursts).
        bursts: bursts started.
        flipped: frames with a flipped bit.
        delayed: frames delayed.
        garbage: garbage runs inserted.
    """

    dropped: int = 0
    bursts: int = 0
    flipped: int = 0
    delayed: int = 0
    garbage: int = 0


def frame_type(wire: bytes) -> int | None:
    """Message id of a wire frame, None when it cannot be read."""
    if len(wire) < 3 or wire[0] < 2:
        return None
    return wire[2] if wire[0] >= 3 else 0  # COBS: the first code byte counts a zero-free run


class FaultInjector:
    """Applies :class:`FaultSettings` to frames, one direction at a time."""

    def __init__(self, settings: FaultSettings | None = None) -> None:
        self.counters = FaultCounters()
        self.configure(settings or FaultSettings())

    def configure(self, settings: FaultSettings) -> None:
        """Replace the settings and reseed the generator."""
        self.settings = settings
        self._random = random.Random(settings.seed)
        self._burst_left = {TX: 0, RX: 0}

    def apply(self, direction: int, wire: bytes, now: float) -> list[tuple[float, bytes]]:
        """The ``(release_time, bytes)`` pieces that replace one wire frame sent at ``now``."""
        settings = self.settings
        if not settings.active or not settings.directions & direction:
            return [(now, wire)]
        if settings.message_type and frame_type(wire) != settings.message_type:
            return [(now, wire)]
        if self._drops(direction):
            return []
        chance = self._random.random
        out: list[tuple[float, bytes]] = []
        if chance() < settings.garbage_probability:
            self.counters.garbage += 1
            size = self._random.randint(1, 32)
            out.append((now, bytes(self._random.getrandbits(8) for _ in range(size)) + b"\x00"))
        if chance() < settings.bit_flip_probability:
            self.counters.flipped += 1
            flipped = bytearray(wire)
            flipped[self._random.randrange(len(flipped))] ^= 1 << self._random.randrange(8)
            wire = bytes(flipped)
        release = now
        if chance() < settings.delay_probability:
            self.counters.delayed += 1
            release = now + settings.delay_ms / 1000.0
        out.append((release, wire))
        return out

    def _drops(self, direction: int) -> bool:
        settings = self.settings
        if self._burst_left[direction] > 0:
            self._burst_left[direction] -= 1
            self.counters.dropped += 1
            return True
        if settings.burst_length and self._random.random() < settings.burst_probability:
            self.counters.bursts += 1
            self.counters.dropped += 1
            self._burst_left[direction] = settings.burst_length - 1
            return True
        if self._random.random() < settings.drop_probability:
            self.counters.dropped += 1
            return True
        return False
