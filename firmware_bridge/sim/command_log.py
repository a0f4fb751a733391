"""A record of every COMMAND the simulated firmware received, as JSON lines (for audits).

``daydreamer-simfirmware --record-commands commands.jsonl`` writes one line per decoded COMMAND::

    {"time": 1234.567, "seq": 17, "targets": [0.25], "outcome": "applied"}

``time`` is the receiving process's ``time.monotonic()`` (the same clock as every other process
on the machine, so a test can place the line relative to its own events), ``seq`` the COMMAND's
``command_seq`` (it restarts at 1 with every HELLO session), ``targets`` the ``(J,)`` values as
received (non-finite ones as ``NaN``/``Infinity``) and ``outcome`` one of
:data:`firmware_bridge.sim.engine.COMMAND_OUTCOMES`. Fault-injection tests read it back with
:func:`read_command_log` to check that every command stayed inside the safety envelope.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np


class CommandLog:
    """The ``on_command`` observer of :class:`~firmware_bridge.sim.engine.SimFirmware` that
    appends JSON lines to ``path`` (buffered; complete after :meth:`close`).

    Args:
        path: file to create (truncated if it exists).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.lines = 0
        self._file = self.path.open("w", encoding="utf-8")

    def __call__(self, seq: int, targets: np.ndarray, outcome: str) -> None:
        """Record one COMMAND: its ``seq``, ``targets`` ``(J,)`` and outcome."""
        record = {"time": round(time.monotonic(), 6), "seq": int(seq),
                  "targets": [float(value) for value in np.ravel(targets)], "outcome": outcome}
        self._file.write(json.dumps(record) + "\n")
        self.lines += 1

    def close(self) -> None:
        """Flush and close the file."""
        if not self._file.closed:
            self._file.close()


def read_command_log(path: str | Path) -> list[dict[str, Any]]:
    """The records of a command log, oldest first (a torn last line is ignored)."""
    records = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return records
