"""Fault: the firmware goes silent (the simulated MCU is SIGSTOPped for 1.5 s, then SIGCONTed).

Expected: ``daydreamer-onboard`` latches its e-stop once the newest STATE is older than its
``silence_periods`` and from then on sends only the hold target (no force). The firmware, frozen,
cannot act; when it resumes it sees that its watchdog starved and latches its own e-stop. The
stream stays consistent: the robot keeps recording (safe actions), episodes still end and start,
and the replay holds every step exactly once.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from tests.faults.checks import (
    audit_stream,
    command_envelope,
    duplicates_dropped,
    episode_cuts,
    report,
)
from tests.faults.harness import deployment, wait_for_welcomes
from tests.whole_system import SILENCE_PERIODS

pytestmark = pytest.mark.faults
RUN_S = 4.0
SILENT_S = 1.5
#: control rate of the cart-pole (steps per second).
HZ = 50
#: COMMANDs sent after the firmware froze before the runtime latched: the silence limit in
#: control periods, plus the STATE period (10 ms) and the tick that notices, plus one tick of
#: slack for the pty's kernel path.
MOST_COMMANDS_BEFORE_LATCH = int(SILENCE_PERIODS) + 3


def test_firmware_goes_silent(tmp_path: Path) -> None:
    started = time.monotonic()
    with deployment(tmp_path) as system:
        system.start_firmware()
        system.start_trainer()
        onboard = system.start_onboard("onboard")
        wait_for_welcomes(onboard, 1)
        time.sleep(RUN_S)
        system.pause_firmware()
        paused = time.monotonic()
        time.sleep(SILENT_S)
        system.resume_firmware()
        resumed = time.monotonic()
        latch = onboard.wait_for_line("e-stop latched", 30)
        time.sleep(RUN_S)
        end = system.finish(onboard, firmware_latched=True)
    summary, link = end["onboard"], end["onboard"]["link"]
    assert "firmware silent for" in latch, latch
    assert summary["safety"]["estops"] == 1, summary["safety"]  # latched once, for good
    assert end["run_trips"] == 1 and end["final_trips"] == 0, end  # starved while frozen
    assert link["acked_seq"] == summary["steps"] - 1 and link["pending_steps"] == 0, link
    records = system.commands()
    envelope = command_envelope(records, system.spec)
    assert envelope["sessions"] == 1, envelope
    before = [r for r in records if r["time"] < paused]
    after = [r for r in records if r["time"] >= paused]
    assert all(r["time"] >= resumed - 0.05 for r in after)  # a frozen MCU reads nothing
    moving = [i for i, r in enumerate(after) if r["targets"] != [0.0]]
    assert len(moving) <= MOST_COMMANDS_BEFORE_LATCH, (len(moving), after[:12])
    assert moving == list(range(len(moving))), moving  # then only the hold target
    assert after[0]["seq"] == before[-1]["seq"] + 1  # nothing lost on the line either
    assert {r["outcome"] for r in after} == {"estop"}, envelope  # its own latch came first
    steps = audit_stream(system.run_dir, system.spec, summary["steps"])
    assert episode_cuts(steps) == 0
    actions = np.abs(steps["action"][:, 0])
    tail = len(actions) - (np.flatnonzero(actions)[-1] + 1)  # safe actions since the latch
    assert len(after) - len(moving) - 1 <= tail <= len(after), (tail, len(after))
    report({"scenario": "firmware_silent", "steps": summary["steps"], "silent_s": SILENT_S,
            "commands_before_latch": len(moving), "safe_steps_recorded": int(tail),
            "onboard_estops": summary["safety"]["estops"],
            "firmware_estops_during_run": end["run_trips"],
            "firmware_estops_after_stop": end["final_trips"],
            "resent_batches": link["batches_resent"],
            "duplicates_dropped": duplicates_dropped(system.trainers),
            "overruns": summary["loop"]["overruns"], "commands": envelope,
            "seconds": round(time.monotonic() - started, 1)})
