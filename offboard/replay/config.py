"""Configuration of the persistent replay."""

from __future__ import annotations

from dataclasses import dataclass

from offboard.replay.errors import ReplayError


@dataclass(frozen=True)
class ReplayConfig:
    """Where and how the trainer's replay stores and samples transitions."""

    directory: str = "runs/replay"
    """Folder of chunk and segment files (created if missing; reloaded on restart)."""
    capacity: int = 1_000_000
    """Maximum stored steps; beyond it whole oldest chunks are evicted (files deleted)."""
    chunk_size: int = 1024
    """Steps per sealed chunk file of one stream."""
    sequence_length: int = 64
    """Steps per sampled window ``T``."""
    online_fraction: float = 0.5
    """Share of each batch drawn first from the queue of newly inserted sequences (0 disables)."""
    online_queue_limit: int = 10_000
    """Most sequences waiting in the online queue; older ones are dropped (counted)."""
    seed: int = 0
    """Seed of the sampler's random generator."""
    gap_log_limit: int = 1000
    """Most gap records kept in memory (all gaps are counted)."""
    write_threads: int = 4
    """Files of one flush written in parallel (fsyncs overlap); 1 writes them one by one."""
    quarantine_corrupt: bool = True
    """Move corrupt files found at start-up into ``<directory>/corrupt/`` (else leave them)."""

    def __post_init__(self) -> None:
        if self.capacity <= 0 or self.chunk_size <= 0 or self.sequence_length <= 0:
            raise ReplayError(f"capacity {self.capacity}, chunk_size {self.chunk_size} and "
                              f"sequence_length {self.sequence_length} must be positive")
        if not 0.0 <= self.online_fraction <= 1.0:
            raise ReplayError(f"online_fraction {self.online_fraction} is not in [0, 1]")
        if self.write_threads < 1:
            raise ReplayError(f"write_threads must be >= 1, got {self.write_threads}")
        if self.online_queue_limit < 0 or self.gap_log_limit < 0:
            raise ReplayError(f"online_queue_limit {self.online_queue_limit} and gap_log_limit "
                              f"{self.gap_log_limit} must be >= 0")
