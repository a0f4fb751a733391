"""The robot's streaming client: steps -> spool -> trainer, policies <- trainer.

Threads: the control thread only calls :meth:`Link.record` (a non-blocking put into a bounded
queue; a full queue is a counted, logged drop) and :meth:`Link.report`. One network thread owns
the ZeroMQ DEALER socket and does everything else:

1. batches queued steps (:class:`~onboard.batcher.Batcher`) into TRANSITIONS, numbers them from
   the spool, writes each encoded batch to the spool (durable) and only then sends it; while
   more than ``batch_max_steps`` steps are queued, batches grow to ``batch_catchup_steps``
   (bounded by ``batch_max_bytes``) so the spool's fsync per batch does not cap throughput;
2. on (re)connect sends HELLO (protocol version, spec + hash, running policy version); on WELCOME
   acknowledges every spooled batch below ``next_seq`` and re-sends the others in order, at most
   ``inflight_batches`` unacknowledged at a time; on ACK deletes acknowledged batches;
3. sends HEARTBEAT every ``heartbeat_interval`` and STATS every ``stats_interval``; a trainer
   silent for ``peer_timeout`` gets a fresh socket (linger 0) and a new HELLO;
4. hands POLICY messages to ``on_policy`` (the background verifier; it must not block);
5. on REJECT logs the trainer's reason; a spec, version or identity refusal stops sending (the
   spool keeps the steps), anything else reconnects.

Every send uses NOBLOCK: ``EAGAIN`` means "not sent, will be re-sent". The spooled frame of a
batch is re-sent as it is, so its envelope ``seq`` is the batch's ``first_seq``.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import zmq

from onboard.batcher import Batcher
from onboard.link_config import LinkConfig
from onboard.link_status import LinkStatus, flatten_stats
from onboard.spool import Spool
from shared.errors import ProtocolError, VersionMismatchError
from shared.keys import KeyMaterialError, load_curve_keys
from shared.protocol import (
    PROTOCOL_VERSION,
    Ack,
    Envelope,
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
from shared.spec import EnvSpec

log = logging.getLogger(__name__)
#: REJECT codes after which the robot stops sending (a person must fix something).
FATAL_REJECTS = frozenset({RejectCode.SPEC_MISMATCH, RejectCode.VERSION_MISMATCH,
                           RejectCode.UNKNOWN_ROBOT})
#: seconds between HELLO attempts while the socket has no connection yet.
HELLO_RETRY = 0.05
#: ``(version, created unix seconds or None)`` of the policy the robot runs.
RunningPolicy = Callable[[], tuple[int, float | None]]


class Link:
    """Streaming client of one robot (see the module docstring).

    Args:
        config: link settings.
        spec: the robot's spec (sent in HELLO; defines the step keys).
        on_policy: receives every POLICY message on the network thread; must not block.
        running_policy: returns ``(version, created)`` of the running policy (HELLO, status).
    """

    def __init__(self, config: LinkConfig, spec: EnvSpec,
                 on_policy: Callable[[Policy], None] | None = None,
                 running_policy: RunningPolicy | None = None) -> None:
        self.config = config
        self.spec = spec
        self.on_policy = on_policy
        self.running_policy = running_policy or (lambda: (0, None))
        self.spool = Spool(config.spool_dir, config.robot_id, config.spool_max_bytes,
                           config.spool_fsync)
        self.stream = (config.robot_id, self.spool.run_id)
        self.batcher = Batcher(spec, config.batch_max_steps, config.batch_max_age)
        self._catchup_steps = max(config.batch_max_steps, min(
            config.batch_catchup_steps, config.batch_max_bytes // max(1, self.batcher.step_bytes)))
        self._curve = _load_client_keys(config) if config.keys_dir else None
        self._queue: queue.Queue[Mapping[str, np.ndarray]] = queue.Queue(config.queue_size)
        self._context = zmq.Context()
        self._socket: zmq.Socket | None = None
        self._thread = threading.Thread(target=self._run, name="link", daemon=True)
        self._stopping = threading.Event()
        self._stop_deadline = 0.0
        self._stats_lock = threading.Lock()
        self._reported: dict[str, float | int] = {}
        self._to_send: deque[tuple[int, int]] = deque()
        self._inflight: OrderedDict[tuple[int, int], float] = OrderedDict()
        self._highest_sent = -1
        self._message_seq = 0
        self._state = "connecting"
        self._timers = {"heard": 0.0, "hello": 0.0, "heartbeat": 0.0, "stats": 0.0}
        self._counts = dict.fromkeys(
            ("queue_drops", "batches_sent", "batches_resent", "send_retries", "reconnects",
             "rejects", "policies_received", "malformed_received", "spool_failures"), 0)
        self._reject_reason = ""
        self._acked_seq = -1
        self._trainer_stores = True  # False after a WELCOME with accepted=False

    # ------------------------------------------------------------ control-thread API
    def start(self) -> Link:
        """Start the network thread; returns self."""
        self._thread.start()
        return self

    def record(self, step: Mapping[str, np.ndarray]) -> None:
        """Queue one step for sending; never blocks (a full queue is a counted drop).

        The step's arrays must not be modified afterwards (the runtime makes new ones per tick).
        """
        try:
            self._queue.put_nowait(step)
        except queue.Full:
            self._counts["queue_drops"] += 1
            drops = self._counts["queue_drops"]
            if drops & (drops - 1) == 0:  # 1, 2, 4, 8, ...: never a log line per tick
                log.error("link: step queue full (%d steps): %d steps dropped so far",
                          self.config.queue_size, drops)

    def report(self, stats: Mapping[str, Any]) -> None:
        """Figures for the next STATS message (nested maps flattened to ``a/b``; thread-safe)."""
        flat = flatten_stats(stats)
        with self._stats_lock:
            self._reported = flat

    def stop(self, timeout: float = 5.0) -> bool:
        """Seal the partial batch, wait up to ``timeout`` s for every batch to be acknowledged,
        close. Returns True when nothing is left unacknowledged in the spool."""
        self._stop_deadline = time.monotonic() + timeout
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout + 2.0)
        else:
            self._close_socket()
        self._state = "stopped"
        if self._thread.is_alive():  # stuck (e.g. in a disk write): terminating would hang
            log.error("link: network thread did not end within %.1f s", timeout + 2.0)
        else:
            self._context.term()
        return not self.spool.pending()

    def status(self) -> LinkStatus:
        """A snapshot of the link's state and counters (any thread)."""
        pending = self.spool.pending()
        version, created = self.running_policy()
        counts = self._counts
        return LinkStatus(
            self._state, self._state == "welcomed", self._acked_seq, self.spool.next_seq,
            len(pending), sum(last - first + 1 for first, last in pending), self._queue.qsize(),
            counts["queue_drops"], self.batcher.bad_steps,
            self.spool.counters.dropped_steps + counts["spool_failures"],
            counts["batches_sent"], counts["batches_resent"], counts["send_retries"],
            counts["reconnects"], counts["rejects"], self._reject_reason,
            counts["policies_received"], version,
            None if created is None else max(0.0, time.time() - created))

    # ------------------------------------------------------------ network thread
    def _run(self) -> None:
        try:
            while True:
                now = time.monotonic()
                if self._socket is None and self._state != "rejected":
                    self._connect(now)
                self._receive()
                now = time.monotonic()
                stopping = self._stopping.is_set()
                self._drain_queue(now, everything=stopping)
                if self.batcher.due(now) or (stopping and len(self.batcher)):
                    self._seal()
                self._send_due(now)
                if stopping and (not self.spool.pending() or now >= self._stop_deadline
                                 or self._state == "rejected"):
                    break
        except Exception:  # a bug here must be visible, not a silently dead link
            log.exception("link: network thread failed; steps stay in the spool")
            raise
        finally:
            self._close_socket()

    def _connect(self, now: float) -> None:
        socket = self._context.socket(zmq.DEALER)
        socket.setsockopt(zmq.LINGER, 0)
        socket.setsockopt(zmq.IMMEDIATE, 1)  # no queueing before the connection exists
        socket.setsockopt(zmq.SNDHWM, 4 * self.config.inflight_batches + 16)
        if self._curve is not None:
            public, secret, server = self._curve
            socket.curve_publickey, socket.curve_secretkey, socket.curve_serverkey = (
                public, secret, server)
        socket.connect(self.config.endpoint)
        self._socket = socket
        self._state = "connecting"
        self._trainer_stores = True
        self._timers.update(heard=now, hello=0.0)
        self._inflight.clear()
        self._to_send.clear()

    def _close_socket(self) -> None:
        if self._socket is not None:
            self._socket.close(linger=0)
            self._socket = None

    def _reconnect(self, why: str) -> None:
        log.warning("link: reconnecting to %s: %s", self.config.endpoint, why)
        self._close_socket()
        self._counts["reconnects"] += 1

    def _receive(self) -> None:
        socket = self._socket
        if socket is None:
            time.sleep(self.config.poll_interval)
            return
        if not socket.poll(self.config.poll_interval * 1000, zmq.POLLIN):
            return
        for _ in range(1000):
            try:
                frame = socket.recv(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            self._timers["heard"] = time.monotonic()
            self._handle_frame(frame.buffer)
            if self._socket is None:
                return

    def _handle_frame(self, data: memoryview) -> None:
        try:
            envelope = decode_message(data)
        except VersionMismatchError as error:
            self._refused(RejectCode.VERSION_MISMATCH, str(error))
            return
        except ProtocolError as error:
            self._counts["malformed_received"] += 1
            log.error("link: malformed message from the trainer: %s", error)
            return
        self._handle(envelope)

    def _handle(self, envelope: Envelope) -> None:
        message = envelope.message
        if isinstance(message, Ack):
            self._on_ack(message)
        elif isinstance(message, Welcome):
            self._on_welcome(message)
        elif isinstance(message, Policy):
            self._counts["policies_received"] += 1
            if self.on_policy is not None:
                self.on_policy(message)
        elif isinstance(message, Reject):
            self._on_reject(message)
        elif not isinstance(message, Heartbeat | Stats):
            log.warning("link: unexpected %s from the trainer, ignored", envelope.kind)

    def _on_welcome(self, welcome: Welcome) -> None:
        self._state = "welcomed"
        self._to_send.clear()
        self._trainer_stores = welcome.accepted
        if not welcome.accepted:
            log.warning("link: trainer %s does not store this stream; steps stay in the spool",
                        welcome.trainer_id)
            return
        if welcome.next_seq > self.spool.next_seq:
            log.warning("link: trainer %s expects seq %d but this stream has only reached %d",
                        welcome.trainer_id, welcome.next_seq, self.spool.next_seq)
        if welcome.next_seq > 0:
            self._acked(welcome.next_seq - 1)
        self._to_send = deque(key for key in self.spool.pending() if key[1] >= welcome.next_seq)
        if self._to_send and self._to_send[0][0] > welcome.next_seq:
            log.warning("link: trainer expects seq %d, the spool starts at %d (steps lost)",
                        welcome.next_seq, self._to_send[0][0])
        log.info("link: welcomed by %s, resuming at seq %d (%d batches to send)",
                 welcome.trainer_id, welcome.next_seq, len(self._to_send))

    def _on_ack(self, ack: Ack) -> None:
        if (ack.robot_id, ack.run_id) != self.stream:
            log.warning("link: ACK for stream %s, this is %s; ignored",
                        (ack.robot_id, ack.run_id), self.stream)
            return
        self._acked(ack.durable_seq)

    def _acked(self, durable_seq: int) -> None:
        self.spool.ack(durable_seq)
        self._acked_seq = max(self._acked_seq, durable_seq)
        for key in [key for key in self._inflight if key[1] <= durable_seq]:
            del self._inflight[key]

    def _on_reject(self, reject: Reject) -> None:
        self._counts["rejects"] += 1
        if reject.code in FATAL_REJECTS:
            self._refused(reject.code, reject.reason)
            return
        self._reject_reason = f"{reject.code}: {reject.reason}"
        self._reconnect(f"trainer sent REJECT {reject.code}: {reject.reason}")

    def _refused(self, code: str, reason: str) -> None:
        self._reject_reason = f"{code}: {reason}"
        log.error("link: the trainer refused robot %s (our spec hash %s, protocol %d): %s: %s. "
                  "Steps stay in the spool; fix the cause and restart.", self.config.robot_id,
                  self.spec.hash, PROTOCOL_VERSION, code,
                  reason)
        self._state = "rejected"
        self._close_socket()

    def _drain_queue(self, now: float, everything: bool) -> None:
        limit = self.config.batch_max_steps
        if self._queue.qsize() > limit:  # behind: bigger batches, fewer spool fsyncs
            limit = self._catchup_steps
        while everything or len(self.batcher) < limit:
            try:
                step = self._queue.get_nowait()
            except queue.Empty:
                return
            self.batcher.add(step, now)
            if len(self.batcher) >= limit:
                self._seal()

    def _seal(self) -> None:
        arrays = self.batcher.take()
        count = len(arrays[next(iter(arrays))])
        first = self.spool.next_seq
        try:
            message = Transitions(self.stream[0], self.stream[1], first, first + count - 1,
                                  arrays)
            data = encode_message(message, seq=first)
        except ProtocolError as error:
            self.batcher.bad_steps += count
            log.error("link: a batch of %d steps cannot be encoded, dropped: %s", count, error)
            return
        assert self.spool.reserve(count) == first  # only this thread reserves
        try:
            self.spool.put(first, first + count - 1, data)
        except OSError as error:
            self._counts["spool_failures"] += count
            log.error("link: spooling steps %d..%d failed, they are lost: %s", first,
                      first + count - 1, error)
            return
        if self._trainer_stores:
            self._to_send.append((first, first + count - 1))

    def _send_due(self, now: float) -> None:
        if self._socket is None:
            return
        timers, interval = self._timers, self.config.heartbeat_interval
        if now - timers["heard"] > self.config.peer_timeout:
            self._reconnect(f"no message from the trainer for {now - timers['heard']:.1f} s")
            return
        if self._state == "connecting" and now - timers["hello"] >= HELLO_RETRY:
            timers["hello"] = now
            version = self.running_policy()[0]
            if self._send(Hello(self.config.robot_id, self.stream[1], self.spec, version)):
                self._state = "hello_sent"
                timers["heartbeat"] = now
        if self._state == "welcomed":
            self._send_batches(now)
            if now - timers["stats"] >= self.config.stats_interval:
                timers["stats"] = now
                self._send(Stats(self._stats_values()))
        if self._state in ("hello_sent", "welcomed") and now - timers["heartbeat"] >= interval:
            timers["heartbeat"] = now
            self._send(Heartbeat())

    def _send_batches(self, now: float) -> None:
        while self._to_send and len(self._inflight) < self.config.inflight_batches:
            key = self._to_send[0]
            data = self.spool.read(key)
            if data is None:  # acknowledged or dropped meanwhile
                self._to_send.popleft()
                continue
            if not self._send_bytes(data):
                return
            self._to_send.popleft()
            self._inflight[key] = now
            self._counts["batches_sent"] += 1
            if key[1] <= self._highest_sent:
                self._counts["batches_resent"] += 1
            self._highest_sent = max(self._highest_sent, key[1])

    def _send(self, message: Message) -> bool:
        self._message_seq += 1
        return self._send_bytes(encode_message(message, self._message_seq))

    def _send_bytes(self, data: bytes) -> bool:
        assert self._socket is not None
        try:
            self._socket.send(data, zmq.NOBLOCK, copy=len(data) < 65536)
        except zmq.Again:
            self._counts["send_retries"] += 1
            return False
        return True

    def _stats_values(self) -> dict[str, float | int]:
        with self._stats_lock:
            values = dict(self._reported)
        status = asdict(self.status())
        for name, value in status.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                values[f"link/{name}"] = value
        return values


def _load_client_keys(config: LinkConfig) -> tuple[bytes, bytes, bytes]:
    folder = Path(config.keys_dir)
    public, secret = load_curve_keys(folder / f"{config.robot_id}.key_secret")
    server, _ = load_curve_keys(folder / "trainer.key")
    if secret is None:
        raise KeyMaterialError(f"{folder / (config.robot_id + '.key_secret')} holds no secret key")
    return public, secret, server
