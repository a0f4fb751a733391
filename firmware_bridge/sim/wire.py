"""Time on the simulated wire: line occupancy at a baud rate and a queue of timed deliveries.

A pseudo-terminal delivers bytes at once whatever the baud; the simulated firmware instead
releases each transfer when its last byte would have crossed a UART line, without blocking its
loop (like an MCU whose UART is driven by DMA).
"""

from __future__ import annotations

import heapq
import math

#: bits on the wire per byte with 8N1 framing.
BITS_PER_BYTE = 10


class WireClock:
    """When bytes put on a line of ``baud`` bit/s finish arriving (one direction)."""

    def __init__(self, baud: int) -> None:
        self.seconds_per_byte = BITS_PER_BYTE / baud
        self.busy_until = 0.0

    def reserve(self, size: int, now: float) -> float:
        """Time at which ``size`` bytes queued at ``now`` have crossed the line."""
        start = max(now, self.busy_until)
        self.busy_until = start + size * self.seconds_per_byte
        return self.busy_until

    def backlog(self, now: float) -> float:
        """Seconds the line stays busy with what is already queued."""
        return max(0.0, self.busy_until - now)


class TimedQueue:
    """Byte transfers released at given times (ties keep insertion order)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, str, bytes]] = []
        self._order = 0

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, release: float, kind: str, data: bytes) -> None:
        """Queue ``data`` of ``kind`` for time ``release``."""
        self._order += 1
        heapq.heappush(self._heap, (release, self._order, kind, data))

    def next_time(self) -> float:
        """Release time of the earliest item (inf when empty)."""
        return self._heap[0][0] if self._heap else math.inf

    def pop_due(self, now: float) -> tuple[str, bytes] | None:
        """The earliest item released by ``now``, or None."""
        if not self._heap or self._heap[0][0] > now:
            return None
        _, _, kind, data = heapq.heappop(self._heap)
        return kind, data
