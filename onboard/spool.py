"""The onboard spool: every transition batch is on disk until the trainer acknowledges it.

A batch is an opaque byte string (an encoded TRANSITIONS payload) covering the sequence range
``[first_seq, last_seq]`` of this robot's stream. :meth:`Spool.put` writes it as
``<first_seq:020d>-<last_seq:020d>.batch`` by write-then-rename (fsync'd), so a batch survives the
link going down *and* the onboard process being killed; :meth:`Spool.ack` deletes every batch whose
``last_seq`` is durable at the trainer. On start-up the spool reloads the files it finds (a torn
``.tmp`` file is deleted and counted: it was never acknowledged to anyone, and the steps it held
are re-sent from the in-memory queue only if the process survived).

The stream state (``robot_id``, ``run_id``, ``next_seq``) is kept in ``stream.json`` (rewritten
before acknowledged files are deleted; otherwise the batch file names carry the highest number), so
a restarted runtime continues the same stream without gaps or reused numbers.

The disk use is bounded by ``max_bytes``. When a new batch would exceed it, the *oldest* batches
are dropped, counted in :attr:`SpoolCounters.dropped_steps` and logged as errors: that happens only
after a link outage long enough to fill the budget, and it is reported, never silent.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

from shared.atomic import atomic_write
from shared.errors import DaydreamerError

log = logging.getLogger(__name__)


class SpoolError(DaydreamerError):
    """The spool folder cannot be used (it belongs to another robot)."""
BATCH_NAME = re.compile(r"^(\d{20})-(\d{20})\.batch$")


@dataclass
class SpoolCounters:
    """What the spool did; reported in STATS."""

    batches_written: int = 0
    batches_acked: int = 0
    dropped_batches: int = 0
    dropped_steps: int = 0
    torn_files: int = 0
    bytes_on_disk: int = 0


class Spool:
    """Durable, bounded store of unacknowledged batches (thread-safe).

    Args:
        directory: spool folder (created).
        robot_id: this robot's id; a spool holding another robot's stream is refused.
        max_bytes: disk budget for unacknowledged batches.
        fsync: fsync every batch (turn off only for benchmarks).
    """

    def __init__(self, directory: str | Path, robot_id: str, max_bytes: int = 1 << 30,
                 fsync: bool = True) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.fsync = fsync
        self.counters = SpoolCounters()
        self._lock = threading.Lock()
        self._batches: dict[tuple[int, int], int] = {}
        self._load_state(robot_id)
        self._load_batches()

    def _load_state(self, robot_id: str) -> None:
        path = self.directory / "stream.json"
        if path.exists():
            state = json.loads(path.read_text())
            if state.get("robot_id") != robot_id:
                raise SpoolError(f"spool {self.directory} belongs to robot "
                                 f"{state.get('robot_id')!r}, not {robot_id!r}")
            self.robot_id, self.run_id = robot_id, str(state["run_id"])
            self._next_seq = int(state["next_seq"])
        else:
            self.robot_id, self.run_id, self._next_seq = robot_id, uuid.uuid4().hex[:12], 0
            self._save_state()

    def _save_state(self) -> None:
        data = json.dumps({"robot_id": self.robot_id, "run_id": self.run_id,
                           "next_seq": self._next_seq})
        atomic_write(self.directory / "stream.json", data, self.fsync)

    def _load_batches(self) -> None:
        for path in sorted(self.directory.iterdir()):
            if path.name.endswith(".tmp"):
                path.unlink()
                self.counters.torn_files += 1
                log.warning("spool: removed torn file %s", path.name)
                continue
            match = BATCH_NAME.match(path.name)
            if match:
                key = (int(match.group(1)), int(match.group(2)))
                self._batches[key] = path.stat().st_size
        self.counters.bytes_on_disk = sum(self._batches.values())
        if self._batches:
            last = max(k[1] for k in self._batches)
            self._next_seq = max(self._next_seq, last + 1)

    def reserve(self, count: int) -> int:
        """Take ``count`` consecutive sequence numbers; return the first.

        Numbers become durable with the batch that uses them (:meth:`put`): a process killed
        between ``reserve`` and ``put`` reuses them after restart, so the stream has no gaps.
        """
        with self._lock:
            first = self._next_seq
            self._next_seq += count
            return first

    @property
    def next_seq(self) -> int:
        return self._next_seq

    def put(self, first_seq: int, last_seq: int, data: bytes) -> None:
        """Store one batch durably (dropping the oldest batches if over budget, counted)."""
        path = self.directory / f"{first_seq:020d}-{last_seq:020d}.batch"
        with self._lock:
            while self._batches and self.counters.bytes_on_disk + len(data) > self.max_bytes:
                self._drop_oldest()
            atomic_write(path, data, self.fsync)
            self._batches[(first_seq, last_seq)] = len(data)
            self.counters.batches_written += 1
            self.counters.bytes_on_disk += len(data)

    def _drop_oldest(self) -> None:
        key = min(self._batches)
        size = self._batches.pop(key)
        self._path(key).unlink(missing_ok=True)
        self.counters.dropped_batches += 1
        self.counters.dropped_steps += key[1] - key[0] + 1
        self.counters.bytes_on_disk -= size
        log.error("spool over its %d-byte budget: dropped steps %d..%d (never acknowledged)",
                  self.max_bytes, key[0], key[1])

    def _path(self, key: tuple[int, int]) -> Path:
        return self.directory / f"{key[0]:020d}-{key[1]:020d}.batch"

    def ack(self, durable_seq: int) -> int:
        """Delete every batch with ``last_seq <= durable_seq``; return how many."""
        with self._lock:
            done = [k for k in self._batches if k[1] <= durable_seq]
            if done:  # the highest stored number must outlive its batch file
                self._save_state()
            for key in done:
                self.counters.bytes_on_disk -= self._batches.pop(key)
                self._path(key).unlink(missing_ok=True)
            self.counters.batches_acked += len(done)
            return len(done)

    def pending(self) -> list[tuple[int, int]]:
        """Sequence ranges of unacknowledged batches, oldest first."""
        with self._lock:
            return sorted(self._batches)

    def read(self, key: tuple[int, int]) -> bytes | None:
        """Bytes of one pending batch, or None if it was acknowledged or dropped meanwhile."""
        with self._lock:
            if key not in self._batches:
                return None
            return self._path(key).read_bytes()
