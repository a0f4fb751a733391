"""Configuration of the robot's streaming link (:class:`onboard.link.Link`)."""

from __future__ import annotations

from dataclasses import dataclass

from shared.errors import DaydreamerError


class LinkError(DaydreamerError):
    """The streaming link is misconfigured or was used wrongly; the message names the value."""


@dataclass(frozen=True)
class LinkConfig:
    """How the robot talks to the trainer."""

    endpoint: str = "tcp://127.0.0.1:5555"
    """Trainer address the DEALER socket connects to."""
    robot_id: str = "robot0"
    """This robot's id (HELLO, stream name; with CURVE it must match the key's file name)."""
    spool_dir: str = "spool"
    """Folder of the durable spool of unacknowledged batches."""
    keys_dir: str = ""
    """Folder ``robot-<id>`` written by ``daydreamer-keygen`` (CURVE on); empty: no encryption."""
    heartbeat_interval: float = 1.0
    """Seconds between HEARTBEATs this robot sends."""
    peer_timeout: float = 5.0
    """Seconds of silence from the trainer after which the link reconnects with a fresh socket."""
    batch_max_steps: int = 64
    """Most steps per TRANSITIONS batch."""
    batch_max_age: float = 0.1
    """Seconds after its first step at which a partial batch is sealed and sent."""
    batch_catchup_steps: int = 1024
    """Most steps per batch while the link is behind (more than ``batch_max_steps`` queued):
    bigger batches mean fewer spool fsyncs, so a backlog drains fast."""
    batch_max_bytes: int = 4 << 20
    """Byte budget of one batch's arrays; caps ``batch_catchup_steps`` for large observations."""
    queue_size: int = 8192
    """Steps the control thread may queue ahead of the network thread (full: counted drop)."""
    inflight_batches: int = 64
    """Batches sent but not yet acknowledged on one connection; further ones wait."""
    stats_interval: float = 5.0
    """Seconds between STATS messages (the last :meth:`Link.report` figures)."""
    spool_max_bytes: int = 1 << 30
    """Disk budget of the spool; past it the oldest batches are dropped (counted)."""
    spool_fsync: bool = True
    """fsync every spooled batch (turn off only for benchmarks)."""
    poll_interval: float = 0.005
    """Seconds the network thread waits for the socket before it looks at the step queue."""

    def __post_init__(self) -> None:
        positive = {"heartbeat_interval": self.heartbeat_interval,
                    "peer_timeout": self.peer_timeout, "batch_max_age": self.batch_max_age,
                    "stats_interval": self.stats_interval, "poll_interval": self.poll_interval,
                    "batch_max_steps": self.batch_max_steps, "queue_size": self.queue_size,
                    "batch_catchup_steps": self.batch_catchup_steps,
                    "batch_max_bytes": self.batch_max_bytes,
                    "inflight_batches": self.inflight_batches,
                    "spool_max_bytes": self.spool_max_bytes}
        for name, value in positive.items():
            if not value > 0:
                raise LinkError(f"LinkConfig.{name} must be > 0, got {value!r}")
        if self.peer_timeout <= self.heartbeat_interval:
            raise LinkError(f"LinkConfig.peer_timeout {self.peer_timeout} must exceed "
                            f"heartbeat_interval {self.heartbeat_interval}")
        if not self.endpoint:
            raise LinkError("LinkConfig.endpoint is empty")
