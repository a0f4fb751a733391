"""Test helper: the whole system as processes on loopback, shared by ``tests/test_end_to_end.py``
and the fault-injection suite (``tests/faults``).

The simulated firmware on a pty, ``daydreamer-onboard`` driving it at 50 Hz and
``daydreamer-trainer serve`` learning from the stream, with the scheduling settings a loaded
2-core test machine needs; the command lines of both programs; a context manager that stops every
process and keeps its log; the replay audit by sequence numbers; the control-loop checks.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from offboard.replay.config import ReplayConfig
from offboard.replay.store import Replay
from shared.spec import EnvSpec
from tests.processes import Process

ROBOT = "cart"
TASK = "cartpole_swingup"
#: On loopback the trainer shares the robot's cores (on a robot it runs on another machine), and
#: on a shared test machine other jobs do too: the trainer runs niced and the robot side under
#: SCHED_FIFO where permitted (nice -10 else), as a robot computer runs its control process. The
#: simulated firmware (a microcontroller on a real robot) outranks the onboard process, whose
#: policy verifier thread would otherwise hold a core for ~0.1 s of session building.
#: The pty's data path runs through kernel workers that other jobs' load can delay by ~40 ms:
#: the test tolerates 4 periods (80 ms) of firmware silence before an e-stop (default 2).
SILENCE_PERIODS = 4.0
TRAINER = {"niceness": 15}
ONBOARD = {"niceness": -10, "realtime": 10}
FIRMWARE = {"niceness": -10, "realtime": 20}


def print_spec(task: str, path: Path) -> EnvSpec:
    """``daydreamer-onboard --print-spec`` of a task, written to ``path``."""
    process = Process("print-spec", "onboard.cli",
                      ["--print-spec", "--set", "robot.kind=sim", "--set", f"robot.task={task}"])
    assert process.wait(120) == 0, process.output()
    path.write_text(process.stdout[0] + "\n")
    return EnvSpec.from_canonical(json.loads(process.stdout[0]))


def trainer_args(spec: Path | None, port: int, keys: Path, run_dir: Path,
                 export_every_updates: int = 15) -> list[str]:
    """``daydreamer-trainer serve`` with the debug learner: small prefill, unlimited ratio."""
    settings = {
        "ingest.bind": f"tcp://127.0.0.1:{port}", "ingest.keys_dir": str(keys),
        "ingest.heartbeat_interval": "0.2", "ingest.peer_timeout": "2.0",
        "trainer.run_dir": str(run_dir), "trainer.learner.preset": "debug",
        "trainer.learner.batch_size": "2", "trainer.learner.batch_length": "8",
        "trainer.limiter.unlimited": "true", "trainer.limiter.min_inserted": "64",
        "trainer.schedule.export_every_s": "0",
        "trainer.schedule.export_every_updates": str(export_every_updates),
        "trainer.schedule.checkpoint_every_s": "1e9", "status_every_s": "1"}
    if spec is not None:
        settings["spec"] = str(spec)
    return ["serve", *[f"--set={key}={value}" for key, value in settings.items()]]


def onboard_args(robot: dict[str, str], port: int, keys: Path, work: Path,
                 robot_id: str = ROBOT, **extra: str) -> list[str]:
    """``daydreamer-onboard`` at 50 Hz in sample mode, streaming to the trainer."""
    settings = {
        **{f"robot.{key}": value for key, value in robot.items()},
        "runtime.hz": "50", "runtime.mode": "sample",
        "link.endpoint": f"tcp://127.0.0.1:{port}", "link.robot_id": robot_id,
        "link.keys_dir": str(keys), "link.spool_dir": str(work / "spool"),
        "link.heartbeat_interval": "0.2", "link.peer_timeout": "1.0",
        "summary": str(work / "summary.json"), **extra}
    return [f"--set={key}={value}" for key, value in settings.items()]


@contextmanager
def processes(logs: Path) -> Iterator[list[Process]]:
    """A list the test appends its processes to; all of them are stopped at the end and their
    output is written to ``logs/<index>-<name>.log`` (for post-mortems)."""
    started: list[Process] = []
    try:
        yield started
    finally:
        logs.mkdir(exist_ok=True)
        for index, process in reversed(list(enumerate(started))):
            process.stop_quietly()
            (logs / f"{index}-{process.name}.log").write_text(process.output(tail=100_000))


def audit_replay(run_dir: Path, spec: EnvSpec) -> dict[tuple[str, str], dict[str, np.ndarray]]:
    """Every stream of a stopped trainer's replay (opened on a copy: the original is untouched),
    checked for gaps and duplicates; returns the stored steps per stream."""
    copy = run_dir.parent / f"{run_dir.name}-audit"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(run_dir / "replay", copy)
    with Replay(ReplayConfig(directory=str(copy), sequence_length=8), spec.hash) as replay:
        assert not replay.load_report.corrupt and not replay.load_report.holes, replay.load_report
        streams = {}
        for stream in replay.streams():
            sequences = replay.sequences(stream)
            np.testing.assert_array_equal(sequences, np.arange(len(sequences)))
            streams[stream] = replay.read(stream, 0, len(sequences))
    return streams


def check_control(summary: dict, output: str) -> None:
    """The robot kept its 50 Hz rate and never e-stopped (a few overruns on a shared
    2-core machine are allowed)."""
    loop = summary["loop"]
    assert loop["ticks"] == summary["steps"] and summary["steps"] > 500, summary
    assert loop["overruns"] <= max(3, summary["steps"] // 100), (loop, output)
    assert summary["safety"]["estops"] == 0, (summary["safety"], output)
    assert summary["inference_errors"] == 0, output


def check_policy_versions(steps: dict[str, np.ndarray], final_version: int) -> None:
    """Recorded versions start at 0, only grow, change only at episode starts (the carry is
    reset there) and end at the version the robot ran last."""
    versions = steps["policy_version"].astype(np.int64)
    assert versions[0] == 0 and versions[-1] == final_version >= 1, versions
    changes = np.flatnonzero(np.diff(versions)) + 1
    assert len(changes) >= 1 and np.all(np.diff(versions) >= 0), changes
    assert np.all(steps["is_first"][changes]), (changes, steps["is_first"][changes])
