"""Fault: the trainer is SIGKILLed and restarted three times during one run (same port, same run
folder) while the robot keeps running its trained policy on its firmware.

Expected: the robot never notices beyond reconnecting (no e-stop anywhere, its rate kept, every
command inside the envelope); what a killed trainer had not made durable is re-sent from the
robot's spool, so the replay holds every step exactly once.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.faults.checks import (
    audit_stream,
    command_envelope,
    duplicates_dropped,
    episode_cuts,
    report,
)
from tests.faults.harness import WELCOMED, deployment, wait_for_welcomes
from tests.whole_system import check_control, check_policy_versions

pytestmark = pytest.mark.faults
KILLS = 3
#: seconds the robot streams to each trainer before it is killed, and the trainer stays dead.
STREAMING_S = 4.0
DEAD_S = 2.0


def test_trainer_sigkilled_and_restarted_three_times(tmp_path: Path) -> None:
    started = time.monotonic()
    with deployment(tmp_path) as system:
        system.start_firmware()
        system.start_trainer()
        onboard = system.start_onboard("onboard")
        wait_for_welcomes(onboard, 1)
        onboard.wait_for_line("policy version", 180)  # a trained policy is in use
        for kill in range(KILLS):
            system.trainer.kill()  # what was not flushed and acknowledged is lost there
            time.sleep(DEAD_S)  # the robot runs on, spooling
            system.start_trainer()
            wait_for_welcomes(onboard, kill + 2)
            time.sleep(STREAMING_S)
        end = system.finish(onboard)
    summary, link = end["onboard"], end["onboard"]["link"]
    check_control(summary, onboard.output())  # no e-stop, rate kept
    assert end["run_trips"] == 0 and end["final_trips"] == 1, end
    assert link["acked_seq"] == summary["steps"] - 1 and link["pending_steps"] == 0, link
    assert link["queue_drops"] == 0 and link["spool_dropped_steps"] == 0, link
    assert link["reconnects"] >= KILLS and onboard.count(WELCOMED) == KILLS + 1, link
    envelope = command_envelope(system.commands(), system.spec)
    assert envelope["sessions"] == 1 and envelope["stops"] <= 1, envelope  # the final halt
    assert envelope["outcomes"].get("applied", 0) >= summary["steps"] - 1, envelope
    steps = audit_stream(system.run_dir, system.spec, summary["steps"])
    assert episode_cuts(steps) == 0
    check_policy_versions(steps, summary["policy_version"])
    report({"scenario": "trainer_sigkill_restarts", "steps": summary["steps"],
            "trainer_kills": KILLS, "reconnects": link["reconnects"],
            "resent_batches": link["batches_resent"],
            "duplicates_dropped": duplicates_dropped(system.trainers),
            "onboard_estops": summary["safety"]["estops"],
            "firmware_estops_during_run": end["run_trips"],
            "firmware_estops_after_stop": end["final_trips"],
            "overruns": summary["loop"]["overruns"], "commands": envelope,
            "policy_version": summary["policy_version"],
            "seconds": round(time.monotonic() - started, 1)})
