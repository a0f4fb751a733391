"""The trainer's ingest server: robot steps -> durable replay -> ACK; policies -> robots.

One thread owns the ZeroMQ ROUTER socket. Per message from a peer (a routing identity):

- HELLO: with CURVE, the client's public key (frame property ``User-Id``, set by pyzmq's
  authenticator) must be the key of ``allowed_robots/<robot_id>.key`` (else REJECT
  ``unknown_robot``); the spec hash must equal the trainer's (else REJECT ``spec_mismatch`` with
  both hashes and the differing keys); a wrong protocol version is refused by the decoder
  (REJECT ``version_mismatch`` with both versions). Accepted: WELCOME with
  ``next_seq = replay.durable_seq(stream) + 1``, and the latest policy if the robot runs an older.
- TRANSITIONS (welcomed peers only; others get REJECT ``hello_required``): ``replay.add``, which
  copies the rows and drops duplicates (counted). Every ``flush_interval`` with new data:
  ``replay.flush()`` then ACK(``durable_seq``) to each stream's peer.
- HEARTBEAT / STATS: liveness and the robot's figures. At :meth:`Ingest.stop`, after the final
  flush and ACKs, every welcomed robot gets REJECT ``busy`` ("trainer shutting down") so its link
  reconnects at once; the socket then stays open ``goodbye_grace`` seconds so that robots read
  it (messages arriving meanwhile are not read: unACKed, they are resent). Anything malformed
  is counted per peer and answered with a REJECT at most once per ``reject_interval``; nothing
  crashes the thread.

:meth:`Ingest.publish_policy` may be called from any thread (queue; the server thread sends).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

import zmq

from offboard.ingest_config import (
    HELLO_REQUIRED,
    IngestConfig,
    IngestError,
    RobotRecord,
    Session,
)
from offboard.replay import Replay, ReplayError
from shared.errors import ProtocolError, SpecMismatchError, VersionMismatchError
from shared.keys import load_curve_keys
from shared.protocol import (
    Ack,
    Heartbeat,
    Hello,
    Message,
    Policy,
    Reject,
    RejectCode,
    Stats,
    Transitions,
    Welcome,
    decode_message,
    encode_message,
)
from shared.spec import EnvSpec, check_same

log = logging.getLogger(__name__)


class Ingest:
    """ROUTER server feeding a :class:`~offboard.replay.Replay` (see the module docstring).

    Args:
        config: server settings.
        spec: the trainer's spec; robots with another spec hash are refused.
        replay: where steps go (opened by the caller; flushed here, closed by the caller).
    """

    def __init__(self, config: IngestConfig, spec: EnvSpec, replay: Replay) -> None:
        self.config = config
        self.spec = spec
        self.replay = replay
        self.robots: dict[str, RobotRecord] = {}
        self.counters: Counter[str] = Counter()
        self.malformed_by_peer: Counter[str] = Counter()
        self._sessions: dict[bytes, Session] = {}
        self._by_stream: dict[tuple[str, str], bytes] = {}
        self._dirty: set[tuple[str, str]] = set()
        self._last_reject: dict[bytes, float] = {}
        self._policies: queue.SimpleQueue[tuple[int, bytes]] = queue.SimpleQueue()
        self._latest: tuple[int, bytes] | None = None
        self._message_seq = 0
        self._stop = threading.Event()
        self._context = zmq.Context()
        self._auth: Any = None
        self._key_owner: dict[str, str] = {}
        self._socket = self._bind()
        self.endpoint: str = self._socket.getsockopt_string(zmq.LAST_ENDPOINT)
        """The endpoint actually bound (port filled in when ``bind`` asked for port 0)."""
        self._thread = threading.Thread(target=self._run, name="ingest", daemon=True)

    def _bind(self) -> zmq.Socket:
        socket = self._context.socket(zmq.ROUTER)
        socket.setsockopt(zmq.LINGER, 0)
        socket.setsockopt(zmq.ROUTER_MANDATORY, 1)
        if self.config.keys_dir:
            self._setup_curve(socket, Path(self.config.keys_dir))
        try:
            socket.bind(self.config.bind)
        except zmq.ZMQError as error:
            socket.close(0)
            self._shutdown_context()
            raise IngestError(f"cannot bind {self.config.bind}: {error}") from error
        return socket

    def _setup_curve(self, socket: zmq.Socket, folder: Path) -> None:
        from zmq.auth.thread import ThreadAuthenticator

        allowed = folder / "allowed_robots"
        for path in sorted(allowed.glob("*.key")):
            public, _ = load_curve_keys(path)
            self._key_owner[public.decode("ascii")] = path.stem
        if not self._key_owner:
            raise IngestError(f"CURVE is on but {allowed} holds no <robot>.key files")
        public, secret = load_curve_keys(folder / "trainer.key_secret")
        self._auth = ThreadAuthenticator(self._context, log=log.getChild("zap"))
        self._auth.start()
        self._auth.configure_curve(domain="*", location=str(allowed))
        socket.curve_secretkey, socket.curve_publickey = secret, public
        socket.curve_server = True

    # ------------------------------------------------------------ any-thread API
    def start(self) -> Ingest:
        """Start the server thread; returns self."""
        self._thread.start()
        return self

    def publish_policy(self, policy: Policy) -> None:
        """Send ``policy`` to every welcomed robot, and later to robots that connect running an
        older version (thread-safe; encoded here, sent by the server thread)."""
        self._policies.put((policy.version, encode_message(policy, seq=policy.version)))

    def stop(self, timeout: float = 5.0) -> None:
        """Final flush and ACKs, then close the socket."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        else:
            self._socket.close(0)
        if self._thread.is_alive():  # stuck (e.g. in a flush): terminating would hang
            log.error("ingest: server thread did not end within %.1f s", timeout)
            return
        self._shutdown_context()

    def _shutdown_context(self) -> None:
        if self._auth is not None:
            self._auth.stop()
            self._auth = None
        self._context.term()

    def status(self) -> dict[str, dict[str, Any]]:
        """Per robot id: its :class:`RobotRecord` as a dict (a copy)."""
        return {robot: asdict(record) for robot, record in list(self.robots.items())}

    def status_line(self) -> str:
        """One line for the console, e.g. ``a1: 5120 steps (3 dup), seen 0.1 s ago, policy v2``."""
        now = time.time()
        parts = [f"{robot}: {record.transitions} steps ({record.duplicates} dup), seen "
                 f"{now - record.last_seen:.1f} s ago, policy v{record.policy_version}"
                 for robot, record in sorted(self.robots.items())]
        return " | ".join(parts) or "no robots yet"

    # ------------------------------------------------------------ server thread
    def _run(self) -> None:
        next_flush = next_beat = time.monotonic()
        try:
            while not self._stop.is_set():
                self._receive()
                now = time.monotonic()
                self._take_policies()
                if self._dirty and now >= next_flush:
                    next_flush = now + self.config.flush_interval
                    self._flush_and_ack()
                if now >= next_beat:
                    next_beat = now + self.config.heartbeat_interval
                    self._heartbeats(now)
            self._flush_and_ack()
            self._goodbye()
        except Exception:  # a bug here must be loud; the replay keeps what was flushed
            log.exception("ingest: server thread failed")
            raise
        finally:
            self._socket.close(1000)  # up to 1 s to deliver the last ACKs and goodbyes

    def _goodbye(self) -> None:
        """Tell every welcomed robot that the trainer stops (after the final ACKs): its link
        reconnects at once instead of waiting out the peer timeout."""
        for identity in list(self._sessions):
            self._send(identity, Reject(RejectCode.BUSY, "trainer shutting down; unacknowledged "
                                        "steps stay in your spool and are resent when it is back"))
        self.counters["goodbyes"] += len(self._sessions)
        if self._sessions:
            time.sleep(self.config.goodbye_grace)

    def _receive(self) -> None:
        if not self._socket.poll(self.config.poll_interval * 1000, zmq.POLLIN):
            return
        for _ in range(1000):
            try:
                frames = self._socket.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            identity = frames[0].bytes
            if len(frames) != 2:
                self._malformed(identity, f"{len(frames)} frames, expected identity + message")
                continue
            user = frames[1].get("User-Id") if self._key_owner else ""
            self._handle(identity, frames[1].buffer, user)

    def _handle(self, identity: bytes, data: memoryview, user: str) -> None:
        session = self._sessions.get(identity)
        if session is not None:
            session.last_seen = time.monotonic()
            self.robots[session.robot_id].last_seen = time.time()
        try:
            message = decode_message(data).message
        except VersionMismatchError as error:
            self.counters["version_mismatch"] += 1
            log.error("ingest: peer %s speaks another protocol: %s", identity.hex()[:8], error)
            self._reject(identity, RejectCode.VERSION_MISMATCH, str(error))
            return
        except ProtocolError as error:
            self._malformed(identity, str(error))
            return
        if isinstance(message, Hello):
            self._on_hello(identity, message, user)
        elif session is None:
            self.counters["unwelcomed"] += 1
            self._reject(identity, HELLO_REQUIRED,
                         f"{message.KIND} before HELLO (the trainer may have restarted): "
                         "reconnect and say HELLO")
        elif isinstance(message, Transitions):
            self._on_transitions(session, message)
        elif isinstance(message, Stats):
            self.robots[session.robot_id].stats = dict(message.values)
        elif not isinstance(message, Heartbeat):
            self._malformed(identity, f"{message.KIND} is not a robot-to-trainer message")

    def _on_hello(self, identity: bytes, hello: Hello, user: str) -> None:
        record = self.robots.setdefault(hello.robot_id, RobotRecord())
        record.last_seen = time.time()
        owner = self._key_owner.get(user) if self._key_owner else hello.robot_id
        if owner != hello.robot_id:
            self.counters["identity_refused"] += 1
            record.rejects += 1
            log.error("ingest: HELLO from robot id %r with the CURVE key of %r: refused",
                      hello.robot_id, owner)
            self._reject(identity, RejectCode.UNKNOWN_ROBOT,
                         f"robot id {hello.robot_id!r} does not match the CURVE key, which "
                         f"belongs to {owner!r}; use the key folder of this robot")
            return
        try:
            check_same(self.spec, hello.spec.hash, hello.spec, who="robot")
        except SpecMismatchError as error:
            self.counters["spec_mismatch"] += 1
            record.rejects += 1
            log.error("ingest: robot %s refused: %s", hello.robot_id, error)
            self._reject(identity, RejectCode.SPEC_MISMATCH, f"trainer: {error}"[:4096])
            return
        self._welcome(identity, hello, record)

    def _welcome(self, identity: bytes, hello: Hello, record: RobotRecord) -> None:
        stream = (hello.robot_id, hello.run_id)
        old = self._by_stream.get(stream)
        if old is not None and old != identity:
            self._sessions.pop(old, None)  # the robot reconnected with a fresh socket
        session = Session(identity, hello.robot_id, hello.run_id, hello.policy_version,
                          time.monotonic())
        self._sessions[identity] = session
        self._by_stream[stream] = identity
        record.connections += 1
        record.policy_version = hello.policy_version
        next_seq = self.replay.durable_seq(stream) + 1
        log.info("ingest: welcome %s run %s, next seq %d, policy v%d", hello.robot_id,
                 hello.run_id, next_seq, hello.policy_version)
        self._send(identity, Welcome(self.config.trainer_id, True, next_seq,
                                     self.config.heartbeat_interval))
        if self._latest is not None and self._latest[0] > hello.policy_version:
            self._send_policy(session, *self._latest)

    def _on_transitions(self, session: Session, message: Transitions) -> None:
        record = self.robots[session.robot_id]
        stream = (message.robot_id, message.run_id)
        if stream != session.stream:
            self._malformed(session.identity, f"TRANSITIONS of stream {stream} on the "
                                              f"connection of {session.stream}")
            return
        try:
            result = self.replay.add(stream, message.first_seq, message.steps)
        except ReplayError as error:
            self._malformed(session.identity, f"steps {message.first_seq}..{message.last_seq} "
                                              f"refused by the replay: {error}")
            return
        record.batches += 1
        record.transitions += result.accepted
        record.duplicates += result.duplicates
        self.counters["duplicates"] += result.duplicates
        self._dirty.add(stream)

    def _flush_and_ack(self) -> None:
        if not self._dirty:
            return
        try:
            self.replay.flush()
        except ReplayError as error:
            self.counters["flush_failures"] += 1
            log.error("ingest: replay flush failed, no ACK sent (will retry): %s", error)
            return
        dirty, self._dirty = self._dirty, set()
        for stream in dirty:
            identity = self._by_stream.get(stream)
            durable = self.replay.durable_seq(stream)
            if identity is not None and durable >= 0:
                self._send(identity, Ack(stream[0], stream[1], durable))

    def _heartbeats(self, now: float) -> None:
        for identity, session in list(self._sessions.items()):
            if now - session.last_seen > self.config.peer_timeout:
                log.warning("ingest: robot %s silent for %.1f s, session closed",
                            session.robot_id, now - session.last_seen)
                del self._sessions[identity]
                if self._by_stream.get(session.stream) == identity:
                    del self._by_stream[session.stream]
            else:
                self._send(identity, Heartbeat())
        for identity, sent in list(self._last_reject.items()):
            if now - sent > self.config.reject_interval:
                del self._last_reject[identity]

    def _take_policies(self) -> None:
        while True:
            try:
                version, data = self._policies.get_nowait()
            except queue.Empty:
                return
            if self._latest is not None and version <= self._latest[0]:
                log.warning("ingest: policy v%d not newer than v%d, not sent", version,
                            self._latest[0])
                continue
            self._latest = (version, data)
            for session in list(self._sessions.values()):
                if session.policy_version < version:
                    self._send_policy(session, version, data)

    def _send_policy(self, session: Session, version: int, data: bytes) -> None:
        if self._send_bytes(session.identity, data):
            session.policy_version = version
            self.robots[session.robot_id].policy_version = version
            self.counters["policies_sent"] += 1

    def _malformed(self, identity: bytes, problem: str) -> None:
        session = self._sessions.get(identity)
        peer = session.robot_id if session else f"peer-{identity.hex()[:8]}"
        self.counters["malformed"] += 1
        self.malformed_by_peer[peer] += 1
        if session is not None:
            self.robots[session.robot_id].malformed += 1
        if self.malformed_by_peer[peer] & (self.malformed_by_peer[peer] - 1) == 0:
            log.error("ingest: malformed message from %s (%d so far): %s", peer,
                      self.malformed_by_peer[peer], problem)
        self._reject(identity, RejectCode.MALFORMED, problem[:4096])

    def _reject(self, identity: bytes, code: str, reason: str) -> None:
        now = time.monotonic()
        if now - self._last_reject.get(identity, -1e9) < self.config.reject_interval:
            self.counters["rejects_suppressed"] += 1
            return
        self._last_reject[identity] = now
        self.counters["rejects_sent"] += 1
        self._send(identity, Reject(code, reason))

    def _send(self, identity: bytes, message: Message) -> bool:
        self._message_seq += 1
        return self._send_bytes(identity, encode_message(message, self._message_seq))

    def _send_bytes(self, identity: bytes, data: bytes) -> bool:
        try:
            self._socket.send_multipart([identity, data], zmq.NOBLOCK, copy=len(data) < 65536)
        except zmq.ZMQError as error:  # EAGAIN (peer's queue full) or EHOSTUNREACH (gone)
            self.counters["send_failures"] += 1
            log.debug("ingest: send to %s failed: %s", identity.hex()[:8], error)
            return False
        return True
