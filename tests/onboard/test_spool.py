"""The onboard spool keeps every unacknowledged batch on disk, across restarts."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from onboard.spool import Spool, SpoolError


def test_put_ack_and_restart(tmp_path: Path) -> None:
    spool = Spool(tmp_path, "a1")
    for i in range(5):
        first = spool.reserve(10)
        spool.put(first, first + 9, f"batch{i}".encode())
    assert spool.pending()[0] == (0, 9) and len(spool.pending()) == 5
    assert spool.ack(25) == 2  # batches ending at 9 and 19; 20..29 is not fully durable
    again = Spool(tmp_path, "a1")
    assert again.run_id == spool.run_id and again.next_seq == 50
    assert again.pending() == [(20, 29), (30, 39), (40, 49)]
    assert again.read((30, 39)) == b"batch3"
    assert again.read((0, 9)) is None


def test_budget_drops_oldest_and_counts(tmp_path: Path) -> None:
    spool = Spool(tmp_path, "a1", max_bytes=250, fsync=False)
    for _ in range(4):
        first = spool.reserve(5)
        spool.put(first, first + 4, b"x" * 100)
    assert spool.pending() == [(10, 14), (15, 19)]
    assert spool.counters.dropped_batches == 2 and spool.counters.dropped_steps == 10


def test_other_robots_spool_refused_and_torn_file_removed(tmp_path: Path) -> None:
    Spool(tmp_path, "a1")
    (tmp_path / "00000000000000000000-00000000000000000009.batch.tmp").write_bytes(b"half")
    again = Spool(tmp_path, "a1")
    assert again.counters.torn_files == 1 and again.pending() == []
    with pytest.raises(SpoolError, match="belongs to robot 'a1', not 'a2'"):
        Spool(tmp_path, "a2")


def test_sigkill_never_loses_a_put_batch_or_reuses_numbers(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from onboard.spool import Spool, SpoolError\n"
        f"spool = Spool({str(tmp_path)!r}, 'a1')\n"
        "while True:\n"
        "    first = spool.reserve(4)\n"
        "    spool.put(first, first + 3, b'%d' % first)\n"
        "    print(first + 3, flush=True)\n"
    )
    seen_last = -1
    for _ in range(3):
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                                cwd=Path(__file__).resolve().parents[2])
        assert proc.stdout is not None
        for _ in range(20):
            seen_last = int(proc.stdout.readline())
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    spool = Spool(tmp_path, "a1")
    pending = spool.pending()
    assert pending[0][0] == 0
    assert all(a[1] + 1 == b[0] for a, b in itertools.pairwise(pending))  # no gaps
    assert all(spool.read(k) == b"%d" % k[0] for k in pending)
    assert pending[-1][1] >= seen_last  # everything reported as stored is still there
    assert spool.next_seq > pending[-1][1]
