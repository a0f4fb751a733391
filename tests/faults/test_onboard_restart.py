"""Fault: the onboard process is SIGKILLed mid-run and restarted on the same spool folder.

1. ``daydreamer-onboard`` runs, streaming to the trainer; it is SIGKILLed. No COMMAND comes any
   more: the firmware's own watchdog must e-stop the robot.
2. It is restarted *without* ``clear_estop_on_start``: the firmware's latch must hold (the robot
   only records, every command it sends is ignored) and the runtime latches its own e-stop.
3. It is restarted *with* it: the latch is cleared and the robot runs again.

Across the three processes the robot's one stream continues from its spool: the replay holds
every numbered step exactly once; steps the killed process had not yet spooled were never
numbered, so they leave no hole. A batch the trainer had stored but whose ACK the killed process
never saw is put back into the spool: the restarted robot learns from the trainer's WELCOME that
it is stored and drops it, and anything re-sent anyway would be deduplicated by the trainer.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from tests.faults.checks import (
    audit_stream,
    command_envelope,
    command_sessions,
    duplicates_dropped,
    episode_cuts,
    report,
)
from tests.faults.harness import SpoolCopier, deployment, wait_for_welcomes, wait_until

pytestmark = pytest.mark.faults
RUN_S = 4.0


def test_onboard_sigkilled_and_restarted(tmp_path: Path) -> None:
    started = time.monotonic()
    with deployment(tmp_path) as system:
        system.start_firmware()
        system.start_trainer()
        first = system.start_onboard("onboard0")
        with SpoolCopier(system.spool_dir, tmp_path / "stash") as copier:
            wait_for_welcomes(first, 1)
            time.sleep(RUN_S)
            first.kill()
        wait_until(lambda: system.firmware_watchdog_trips() == 1, 10.0, "firmware e-stop")
        _, numbered_by_first = system.spooled_steps()  # the stream as the killed process left it
        stale = copier.put_back_oldest()  # stored by the trainer, its ACK "lost" in the kill
        assert stale[1] < numbered_by_first - 1, stale
        kept_latched = system.start_onboard("onboard1", clear_estop=False)
        wait_for_welcomes(kept_latched, 1)
        kept_latched.wait_for_line("e-stop latched: firmware e-stop latched (WATCHDOG)", 30)
        time.sleep(RUN_S / 2)
        latched = system.stop_onboard(kept_latched)
        cleared = system.start_onboard("onboard2", clear_estop=True)
        wait_for_welcomes(cleared, 1)
        time.sleep(RUN_S)
        end = system.finish(cleared)
    summary, link = end["onboard"], end["onboard"]["link"]
    assert end["run_trips"] == 1 and end["final_trips"] == 1, end  # the kill, the final stop
    assert latched["safety"]["estops"] == 1 and summary["safety"]["estops"] == 0, (latched,
                                                                                    summary)
    assert summary["loop"]["overruns"] <= max(3, summary["steps"] // 100), summary["loop"]
    total = numbered_by_first + latched["steps"] + summary["steps"]
    assert link["next_seq"] == total and link["acked_seq"] == total - 1, (link, total)
    assert link["pending_steps"] == 0 and link["spool_dropped_steps"] == 0, link
    records = system.commands()
    envelope = command_envelope(records, system.spec)
    assert envelope["sessions"] == 3, envelope  # one HELLO session per onboard process
    sessions = command_sessions(records)
    while_latched = [record for record, session in zip(records, sessions, strict=True)
                     if session == 1]
    assert while_latched and {r["outcome"] for r in while_latched} == {"estop"}, while_latched
    assert all(r["targets"] == [0.0] for r in while_latched)  # and only the hold target
    steps = audit_stream(system.run_dir, system.spec, total)
    assert episode_cuts(steps) == 2  # each restart began a new episode
    actions = steps["action"][numbered_by_first:numbered_by_first + latched["steps"]]
    assert not np.any(actions), "the latched runtime recorded a non-zero action"
    commands_of_first = int(np.sum(sessions == 0))
    report({"scenario": "onboard_sigkill_restart", "steps": total,
            "steps_per_process": [numbered_by_first, latched["steps"], summary["steps"]],
            "unspooled_at_kill": commands_of_first - numbered_by_first,
            "onboard_restarts": 2, "acked_batch_put_back": list(stale),
            "resent_batches": latched["link"]["batches_resent"] + link["batches_resent"],
            "duplicates_dropped": duplicates_dropped(system.trainers),
            "onboard_estops": [None, latched["safety"]["estops"], summary["safety"]["estops"]],
            "firmware_estops_during_run": end["run_trips"],
            "firmware_estops_after_stop": end["final_trips"],
            "commands": envelope, "seconds": round(time.monotonic() - started, 1)})
