"""Fault: the network between robot and trainer goes away for a minute, then comes back.

A TCP forwarder (``tests/tcp_forwarder.py``) sits between ``daydreamer-onboard`` and the trainer.
Once a trained policy runs on the robot, the link is blackholed for 30 s (nothing moves, nothing
is refused: a pulled cable) and then cut for 30 s (every connection closed, new ones refused),
then restored.

Expected: the robot keeps running its policy at its rate without any e-stop (the network is not
a safety input), spools every step to disk meanwhile, reconnects on its own after the outage and
delivers everything: the replay holds every step exactly once.
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
from tests.faults.harness import WELCOMED, deployment, wait_for_welcomes, wait_until
from tests.tcp_forwarder import TcpForwarder
from tests.whole_system import check_control, check_policy_versions

pytestmark = pytest.mark.faults
BLACKHOLE_S = 30.0
CUT_S = 30.0
#: control rate of the cart-pole (steps per second).
HZ = 50


def test_link_cut_for_a_minute(tmp_path: Path) -> None:
    started = time.monotonic()
    with deployment(tmp_path) as system:
        system.start_firmware()
        system.start_trainer()
        with TcpForwarder(system.port) as forwarder:
            onboard = system.start_onboard("onboard", port=forwarder.port)
            wait_for_welcomes(onboard, 1)
            onboard.wait_for_line("policy version", 180)  # a trained policy is in use
            outage = time.monotonic()
            forwarder.blackhole()
            time.sleep(BLACKHOLE_S)
            forwarder.cut()
            time.sleep(CUT_S)
            spooled, _ = system.spooled_steps()
            welcomes = onboard.count(WELCOMED)
            forwarder.restore()
            outage_s = time.monotonic() - outage
            assert welcomes == 1, onboard.output()  # nothing got through the outage
            assert spooled >= (BLACKHOLE_S + CUT_S) * HZ / 2, spooled  # on disk, not lost
            wait_for_welcomes(onboard, 2)
            wait_until(lambda: system.spooled_steps()[0] < HZ, 120, "spool drained")
            drained_s = time.monotonic() - outage - outage_s
            end = system.finish(onboard)
            traffic = forwarder.counters
    summary, link = end["onboard"], end["onboard"]["link"]
    check_control(summary, onboard.output())  # no e-stop, rate kept through the outage
    assert summary["steps"] >= (BLACKHOLE_S + CUT_S) * HZ, summary["steps"]
    assert end["run_trips"] == 0 and end["final_trips"] == 1, end
    assert link["acked_seq"] == summary["steps"] - 1 and link["pending_steps"] == 0, link
    assert link["queue_drops"] == 0 and link["spool_dropped_steps"] == 0, link
    assert traffic.outages == 1 and traffic.closed_by_cut <= 1, traffic  # one outage
    envelope = command_envelope(system.commands(), system.spec)
    assert envelope["sessions"] == 1 and envelope["stops"] <= 1, envelope
    steps = audit_stream(system.run_dir, system.spec, summary["steps"])
    assert episode_cuts(steps) == 0
    check_policy_versions(steps, summary["policy_version"])
    on_policy = int(np.sum(steps["policy_version"] >= 1))
    assert on_policy >= (BLACKHOLE_S + CUT_S) * HZ, on_policy  # the outage ran on the policy
    report({"scenario": "link_cut", "steps": summary["steps"], "outage_s": round(outage_s, 1),
            "spooled_steps_at_restore": spooled, "drained_s": round(drained_s, 1),
            "steps_on_policy": on_policy, "reconnects": link["reconnects"],
            "resent_batches": link["batches_resent"],
            "duplicates_dropped": duplicates_dropped(system.trainers),
            "onboard_estops": summary["safety"]["estops"],
            "firmware_estops_during_run": end["run_trips"],
            "firmware_estops_after_stop": end["final_trips"],
            "overruns": summary["loop"]["overruns"], "commands": envelope,
            "policy_version": summary["policy_version"],
            "forwarder": vars(traffic), "seconds": round(time.monotonic() - started, 1)})
