"""Configuration, per-robot records and errors of the trainer's ingest server."""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.errors import DaydreamerError

#: REJECT code for a message from a peer that has not been welcomed (e.g. the trainer
#: restarted under a connected robot): the robot reconnects and says HELLO again.
HELLO_REQUIRED = "hello_required"


class IngestError(DaydreamerError):
    """The ingest server is misconfigured or could not start; the message names the value."""


@dataclass(frozen=True)
class IngestConfig:
    """Where and how the trainer receives robot streams."""

    bind: str = "tcp://127.0.0.1:5555"
    """Endpoint the ROUTER socket binds (``tcp://*:5555`` for every interface; port 0: any)."""
    keys_dir: str = ""
    """Folder ``trainer`` written by ``daydreamer-keygen`` (CURVE + allow-list); empty: none."""
    trainer_id: str = "trainer"
    """Name sent in WELCOME."""
    flush_interval: float = 0.05
    """Seconds between replay flushes (then ACKs) while new steps arrive."""
    heartbeat_interval: float = 1.0
    """Seconds between HEARTBEATs to each welcomed robot (also sent in WELCOME)."""
    peer_timeout: float = 5.0
    """Seconds of silence after which a robot's session is forgotten."""
    reject_interval: float = 1.0
    """At most one REJECT per peer per this many seconds (more are counted, not sent)."""
    poll_interval: float = 0.005
    """Seconds the server thread waits for messages before it looks at timers and policies."""
    goodbye_grace: float = 0.2
    """Seconds the socket stays open after the shutdown goodbyes so that robots read them: a
    robot's DEALER socket (``ZMQ_IMMEDIATE``) drops messages it has not yet read when the
    connection closes (measured: with no grace, 1 stop in 6 to 15 lost the goodbye)."""

    def __post_init__(self) -> None:
        for name in ("flush_interval", "heartbeat_interval", "peer_timeout", "reject_interval",
                     "poll_interval"):
            if not getattr(self, name) > 0:
                raise IngestError(f"IngestConfig.{name} must be > 0, got {getattr(self, name)!r}")
        if not self.goodbye_grace >= 0:
            raise IngestError(f"IngestConfig.goodbye_grace must be >= 0, got "
                              f"{self.goodbye_grace!r}")
        if self.peer_timeout <= self.heartbeat_interval:
            raise IngestError(f"IngestConfig.peer_timeout {self.peer_timeout} must exceed "
                              f"heartbeat_interval {self.heartbeat_interval}")


@dataclass
class RobotRecord:
    """What the server knows about one robot id (for the status line)."""

    transitions: int = 0
    """Steps accepted into the replay."""
    duplicates: int = 0
    """Steps received again (dropped by the replay)."""
    batches: int = 0
    """TRANSITIONS messages received."""
    connections: int = 0
    """WELCOMEs sent."""
    rejects: int = 0
    """REJECTs sent (HELLO refused, malformed or unwelcomed messages)."""
    malformed: int = 0
    """Messages that could not be decoded or used."""
    last_seen: float = 0.0
    """Wall-clock time of its last message (unix seconds)."""
    policy_version: int = 0
    """Policy version it reported in HELLO or was sent since."""
    stats: dict[str, float | int] = field(default_factory=dict)
    """Figures of its last STATS message."""


@dataclass
class Session:
    """One welcomed connection (a ROUTER routing identity)."""

    identity: bytes
    robot_id: str
    run_id: str
    policy_version: int
    last_seen: float
    """Monotonic time of its last message."""

    @property
    def stream(self) -> tuple[str, str]:
        return (self.robot_id, self.run_id)
