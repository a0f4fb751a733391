"""The whole system as separate processes on loopback: simulated firmware on a pty,
``daydreamer-onboard`` driving it at 50 Hz, ``daydreamer-trainer serve`` learning from the stream,
with generated keys (CURVE and signed policies).

Checked: every step arrives exactly once (the replay audited by sequence numbers), a trained
policy is delivered, verified and swapped in at an episode start, a SIGKILLed trainer restarted on
the same run folder and port loses nothing while the robot keeps its rate, SIGTERM makes both
programs exit 0 with everything flushed; a wrong spec, an unknown robot key, a tampered policy and
a replayed old policy are refused.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from shared.keys import generate_deployment
from shared.spec import EnvSpec
from tests.processes import Process, free_port
from tests.whole_system import (
    FIRMWARE,
    ONBOARD,
    ROBOT,
    SILENCE_PERIODS,
    TASK,
    TRAINER,
    audit_replay,
    check_control,
    check_policy_versions,
    onboard_args,
    print_spec,
    processes,
    trainer_args,
)


def run_robot_with_trainer(tmp_path: Path, keys: dict[str, Path], restarts: int,
                           seconds_between: float) -> dict:
    """Firmware + onboard + trainer until a trained policy is swapped in; then ``restarts``
    times: stop the trainer (SIGKILL, and every second time SIGTERM, which must exit 0), let the
    robot spool for 2 s, restart it on the same run folder and port, run ``seconds_between``.
    SIGTERM ends onboard and trainer (both must exit 0); returns the onboard summary."""
    port, run_dir = free_port(), tmp_path / "run"
    with processes(tmp_path / "logs") as running:
        firmware = Process("firmware", "firmware_bridge.sim.cli", ["--task", TASK, "--pty"],
                           **FIRMWARE)
        running.append(firmware)
        pty = firmware.first_line(60)
        assert pty.startswith("/dev/"), firmware.output()
        trainer = Process("trainer", "offboard.cli",
                          trainer_args(tmp_path / "spec.json", port, keys["trainer"], run_dir),
                          **TRAINER)
        running.append(trainer)
        trainer.wait_for_line("trainer listening on", 120)
        onboard = Process("onboard", "onboard.cli", onboard_args(
            {"kind": "firmware", "port": pty, "task": TASK,
             "silence_periods": str(SILENCE_PERIODS), "clear_estop_on_start": "true"}, port,
            keys[ROBOT], tmp_path),
            **ONBOARD)
        running.append(onboard)
        onboard.wait_for_line("link: welcomed by", 60)
        onboard.wait_for_line("policy version", 150)  # a trained policy swapped in
        for restart in range(restarts):
            if restart % 2 == 0:
                trainer.kill()  # crash: what was not flushed and acknowledged is lost there
            else:
                assert trainer.terminate(120) == 0, trainer.output()
            time.sleep(2.0)  # the robot runs on, spooling
            trainer = Process("trainer", "offboard.cli",
                              trainer_args(None, port, keys["trainer"], run_dir), **TRAINER)
            running.append(trainer)
            onboard.wait_for(lambda lines, count=restart + 2: sum(
                "link: welcomed by" in line for line in lines) >= count, 120, "WELCOME again")
            time.sleep(seconds_between)
        assert onboard.terminate(60) == 0, onboard.output()
        assert trainer.terminate(120) == 0, trainer.output()
        assert "trainer stopped cleanly" in "\n".join(trainer.stderr), trainer.output()
    summary = json.loads((tmp_path / "summary.json").read_text())
    check_control(summary, onboard.output() + firmware.output())
    link = summary["link"]
    assert link["acked_seq"] == summary["steps"] - 1 and link["pending_steps"] == 0, link
    assert link["queue_drops"] == 0 and link["spool_dropped_steps"] == 0, link
    assert link["reconnects"] >= restarts and summary["policy_swaps"] >= 1, summary
    return summary


def audit_run(tmp_path: Path, summary: dict) -> None:
    """The replay holds the robot's one stream, every recorded step exactly once, with policy
    versions that changed only at episode starts."""
    spec = EnvSpec.from_canonical(json.loads((tmp_path / "spec.json").read_text()))
    streams = audit_replay(tmp_path / "run", spec)
    assert len(streams) == 1, list(streams)
    (stream, steps), = streams.items()
    assert stream[0] == ROBOT and len(steps["is_first"]) == summary["steps"]
    check_policy_versions(steps, summary["policy_version"])


def test_robot_trainer_crash_and_restart(tmp_path: Path) -> None:
    """Headline: firmware + onboard + trainer; policy swap; trainer SIGKILL and restart;
    then tampered and older policies against the trained run's signed exports."""
    keys = generate_deployment(tmp_path / "keys", [ROBOT])
    print_spec(TASK, tmp_path / "spec.json")
    summary = run_robot_with_trainer(tmp_path, keys, restarts=1, seconds_between=3.0)
    audit_run(tmp_path, summary)
    check_policy_refusals(tmp_path, tmp_path / "run", keys)


@pytest.mark.slow
def test_long_run_with_repeated_trainer_restarts(tmp_path: Path) -> None:
    """Minutes of the whole system with four trainer stops (SIGKILL and SIGTERM alternating):
    still every step exactly once, the robot's rate kept, no e-stop."""
    keys = generate_deployment(tmp_path / "keys", [ROBOT])
    print_spec(TASK, tmp_path / "spec.json")
    summary = run_robot_with_trainer(tmp_path, keys, restarts=4, seconds_between=25.0)
    assert summary["steps"] > 5000 and summary["policy_swaps"] >= 2, summary
    audit_run(tmp_path, summary)


def check_policy_refusals(tmp_path: Path, run_dir: Path, keys: dict[str, Path]) -> None:
    """With the trained run's signed policies: a tampered copy is refused; a robot running the
    newest policy that connects, with its whole spool, to a fresh trainer holding only an older
    policy keeps the newest (the trainer never pushes an older version; the robot refusing a
    stale version is covered by tests/onboard/test_policy_updates.py), and the backlog burst is
    stored exactly once without upsetting the learner."""
    policies = sorted((run_dir / "policies").glob("policy-*.onnx"))
    assert len(policies) >= 2, policies
    newest, oldest = policies[-1], policies[0]
    manifest = newest.with_suffix("").with_suffix(".manifest.json")
    tampered = tmp_path / "tampered" / newest.name
    tampered.parent.mkdir()
    data = bytearray(newest.read_bytes())
    data[len(data) // 2] ^= 0x01
    tampered.write_bytes(bytes(data))
    shutil.copy(manifest, tampered.parent / manifest.name)
    port, replaying = free_port(), tmp_path / "replaying-run"
    (replaying / "policies").mkdir(parents=True)
    for path in (oldest, oldest.with_suffix("").with_suffix(".manifest.json")):
        shutil.copy(path, replaying / "policies" / path.name)
    work = {name: tmp_path / name for name in ("offline-tampered", "newest")}
    with processes(tmp_path / "logs-policies") as running:
        work["offline-tampered"].mkdir()
        refused = Process("offline-tampered", "onboard.cli", onboard_args(
            {"kind": "sim", "task": TASK}, port, keys[ROBOT], work["offline-tampered"],
            policy=str(tampered), offline="true"))
        running.append(refused)
        assert refused.wait(120) == 2, refused.output()  # a refused start policy is an error
        assert "refused: {'digest': 1}" in "\n".join(refused.stderr), refused.output()
        work["newest"].mkdir()
        running.append(Process("newest", "onboard.cli", onboard_args(
            {"kind": "sim", "task": TASK}, port, keys[ROBOT], work["newest"],
            policy=str(newest), offline="false", **{"runtime.swap": "immediate"})))
        running[-1].wait_for_line("accepted", 60)
        time.sleep(2.0)  # a spool backlog builds up
        trainer = Process("trainer-old-policy", "offboard.cli", trainer_args(
            tmp_path / "spec.json", port, keys["trainer"], replaying, export_every_updates=0),
            **TRAINER)
        running.append(trainer)
        running[1].wait_for_line("link: welcomed by", 120)
        time.sleep(3.0)
        codes = [process.terminate(60) for process in running[1:]]
        assert codes == [0, 0], [process.output() for process in running]
        assert "learner thread failed" not in "\n".join(trainer.stderr), trainer.output()
    robot = json.loads((work["newest"] / "summary.json").read_text())
    newest_version = int(json.loads(manifest.read_text())["manifest"]["version"])
    assert newest_version > int(oldest.stem.split("-")[1]), (newest, oldest)
    assert robot["updater"] == {"accepted": 1, "rejected": {}}, robot["updater"]
    assert robot["policy_version"] == newest_version and robot["policy_swaps"] == 1, robot
    assert robot["link"]["policies_received"] == 0, robot["link"]
    assert robot["link"]["acked_seq"] == robot["steps"] - 1, robot["link"]
    streams = audit_replay(replaying, EnvSpec.from_canonical(
        json.loads((tmp_path / "spec.json").read_text())))
    assert [len(steps["is_first"]) for steps in streams.values()] == [robot["steps"]]
    versions = next(iter(streams.values()))["policy_version"]  # 0 until the file is verified
    assert set(np.unique(versions)) <= {0, newest_version} and versions[-1] == newest_version


def test_wrong_spec_and_unknown_key_are_refused(tmp_path: Path) -> None:
    """A robot with another spec is rejected with both hashes; a robot whose key is not in
    ``allowed_robots`` never gets a session; neither stores anything."""
    keys = generate_deployment(tmp_path / "keys", [ROBOT, "other"])
    stranger = generate_deployment(tmp_path / "stranger", ["intruder"])["intruder"]
    shutil.copy(keys[ROBOT] / "trainer.key", stranger / "trainer.key")  # knows the server key
    spec = print_spec(TASK, tmp_path / "spec.json")
    port, run_dir = free_port(), tmp_path / "run"
    with processes(tmp_path / "logs") as running:
        trainer = Process("trainer", "offboard.cli",
                          trainer_args(tmp_path / "spec.json", port, keys["trainer"], run_dir))
        running.append(trainer)
        trainer.wait_for_line("trainer listening on", 120)
        work = {name: tmp_path / name for name in ("wrong", "intruder")}
        for folder in work.values():
            folder.mkdir()
        wrong = Process("onboard-wrong-spec", "onboard.cli", onboard_args(
            {"kind": "sim", "task": "sphere_goal"}, port, keys["other"], work["wrong"],
            robot_id="other"))
        intruder = Process("onboard-intruder", "onboard.cli", onboard_args(
            {"kind": "sim", "task": TASK}, port, stranger, work["intruder"],
            robot_id="intruder"))
        running += [wrong, intruder]
        wrong.wait_for_line("the trainer refused robot other", 90)
        time.sleep(6.0)  # the intruder has been knocking all along; a status line is due
        assert wrong.count("link rejected") >= 1, wrong.output()  # the 5 s status line
        assert wrong.terminate(60) == 0 and intruder.terminate(60) == 0
        assert trainer.terminate(120) == 0, trainer.output()
    summaries = {name: json.loads((folder / "summary.json").read_text())
                 for name, folder in work.items()}
    link = summaries["wrong"]["link"]
    assert link["rejects"] >= 1 and link["acked_seq"] == -1, link
    wrong_hash = print_spec("sphere_goal", tmp_path / "wrong.json").hash
    assert link["reject_reason"].startswith("spec_mismatch"), link
    assert spec.hash[:16] in link["reject_reason"] and wrong_hash[:16] in link["reject_reason"]
    link = summaries["intruder"]["link"]
    assert summaries["intruder"]["steps"] > 100, summaries["intruder"]
    assert link["acked_seq"] == -1 and link["batches_sent"] == 0 and link["rejects"] == 0, link
    assert link["pending_steps"] == summaries["intruder"]["steps"], link  # kept for later
    assert audit_replay(run_dir, spec) == {}
