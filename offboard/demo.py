"""``daydreamer-demo``: the whole DayDreamer loop on this machine with simulated robots.

It starts, as separate processes talking over the loopback network exactly as a deployment does:

1. ``daydreamer-keygen``: CURVE keys for the trainer and each robot, the policy signing key;
2. per robot, ``daydreamer-simfirmware --pty``: a MuJoCo robot behind its serial firmware,
   in real time;
3. ``daydreamer-trainer serve``: replay, learner, signed policy exports;
4. per robot, ``daydreamer-onboard``: the fixed-rate runtime with its ONNX policy, streaming to
   the trainer over CURVE and swapping in every verified policy.

It prints a status line every few seconds (returns, transitions, updates/s, policy version and
age, what each process is doing), stops everything cleanly after the budget (or on Ctrl-C), then
writes the report (:mod:`offboard.report`): learning curve, world-model open-loop video, and an
evaluation of the last policy against the random policy on the same seeds.

This module only launches programs; it imports none of the robot-side packages.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from shared.config import add_config_arguments, config_from_args, write_resolved

log = logging.getLogger("offboard.demo")
PYTHON = sys.executable


@dataclass(frozen=True)
class DemoConfig:
    """The main job.

    Attributes:
        task: simulated task (cartpole_swingup learns visibly within minutes on a CPU).
        robots: how many simulated robots feed the one trainer (2+ is the fleet form).
        minutes: wall-clock budget of the learning phase.
        run_dir: output folder; empty: ``runs/demo-<date>-<time>``.
        port: trainer port on 127.0.0.1 (0: pick a free one).
        preset: learner size preset.
        batch_size: learner batch size B.
        batch_length: learner sequence length T (32: twice the updates per second of 64 and as
            good per wall-clock second in the runs measured).
        lr: learning rate. DreamerV3's 4e-5 with a 1000-update warm-up is tuned for hundreds of
            thousands of updates; a CPU does a few thousand in the budget, where 6e-4 learns
            clearly (cart-pole swing-up eval ~60 random -> ~215 in ~4k updates) and 1e-4 does not.
        warmup: learning-rate warm-up in updates.
        train_ratio: replayed steps per collected step; 0 trains as fast as it can (DayDreamer).
        prefill: steps collected with random actions before the first update.
        export_every_s: seconds between policy exports.
        eval_episodes: episodes of the final policy and of the random policy (same seeds).
        status_every_s: seconds between status lines.
        rearm_after_s: a simulated robot whose e-stop latched (e.g. its firmware's STATE came
            late because this shared machine stalled) is re-armed after this long
            (``robot.rearm_after_s``; counted in its status line); 0: it stays stopped.
    """

    task: str = "cartpole_swingup"
    robots: int = 1
    minutes: float = 15.0
    run_dir: str = ""
    port: int = 0
    preset: str = "debug"
    batch_size: int = 16
    batch_length: int = 32
    lr: float = 6e-4
    warmup: int = 100
    train_ratio: float = 0.0
    prefill: int = 2500
    export_every_s: float = 45.0
    eval_episodes: int = 5
    status_every_s: float = 10.0
    rearm_after_s: float = 2.0


class Process:
    """A child program with its output in a log file."""

    def __init__(self, name: str, command: list[str], log_path: Path, nice: int = 0) -> None:
        self.name, self.log_path = name, log_path
        self._log = open(log_path, "w")  # noqa: SIM115 - closed in wait()
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "MUJOCO_GL": os.environ.get(
            "MUJOCO_GL", "egl")}
        self.popen = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=self._log,
                                      text=True, env=env, start_new_session=True,
                                      preexec_fn=(lambda: os.nice(nice)) if nice else None)

    def first_line(self, timeout: float = 60.0) -> str:
        """The first line the program printed (the simulated firmware prints its pty)."""
        deadline = time.monotonic() + timeout
        assert self.popen.stdout is not None
        line = self.popen.stdout.readline().strip()
        if not line or time.monotonic() > deadline:
            raise RuntimeError(f"{self.name} printed nothing; see {self.log_path}")
        return line

    def last_log_line(self, needle: str) -> str:
        """The newest log line containing ``needle`` (status lines), without the prefix."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return ""
        for line in reversed(lines):
            if needle in line:
                return line.split(": ", 1)[-1]
        return ""

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM, wait, SIGKILL if it does not end; returns the exit code."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                log.error("%s did not stop in %.0f s; killing it", self.name, timeout)
                self.popen.kill()
                self.popen.wait()
        self._log.close()
        return self.popen.returncode

    def stdout_rest(self) -> str:
        assert self.popen.stdout is not None
        return self.popen.stdout.read()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Demo:
    """Runs the main job; see the module docstring."""

    def __init__(self, config: DemoConfig) -> None:
        self.config = config
        stamp = time.strftime("%Y%m%d-%H%M%S")
        self.run = Path(config.run_dir or f"runs/demo-{stamp}").resolve()
        self.run.mkdir(parents=True, exist_ok=True)
        (self.run / "logs").mkdir(exist_ok=True)
        write_resolved(config, self.run, "demo.toml")
        self.robots = [f"robot{i}" for i in range(config.robots)]
        self.port = config.port or free_port()
        self.processes: list[Process] = []

    def _start(self, name: str, command: list[str], nice: int = 0) -> Process:
        process = Process(name, command, self.run / "logs" / f"{name}.log", nice)
        self.processes.append(process)
        return process

    def _program(self, module: str, *args: str) -> list[str]:
        return [PYTHON, "-m", module, *args]

    def setup(self) -> None:
        """Keys and the robots' spec."""
        keys = self.run / "keys"
        if not (keys / "trainer").exists():
            subprocess.run(self._program("shared.keys", "--out", str(keys), "--robots",
                                         ",".join(self.robots)), check=True,
                           capture_output=True, text=True)
        spec = subprocess.run(self._program("onboard.cli", "--print-spec", "--set",
                                            f"robot.task={self.config.task}"),
                              check=True, capture_output=True, text=True).stdout
        (self.run / "spec.json").write_text(spec)

    def start_all(self) -> None:
        """Firmware per robot, the trainer, the onboard runtime per robot."""
        config = self.config
        ports = {}
        for index, robot in enumerate(self.robots):
            firmware = self._start(f"firmware-{robot}", self._program(
                "firmware_bridge.sim.cli", "--task", config.task, "--pty", "--seed", str(index)))
            ports[robot] = firmware.first_line()
        trainer_args = [
            "serve", "--set", f"spec={self.run / 'spec.json'}",
            "--set", f"ingest.bind=tcp://127.0.0.1:{self.port}",
            "--set", f"ingest.keys_dir={self.run / 'keys' / 'trainer'}",
            "--set", f"trainer.run_dir={self.run / 'trainer'}",
            "--set", f"trainer.learner.preset={config.preset}",
            "--set", f"trainer.learner.batch_size={config.batch_size}",
            "--set", f"trainer.learner.batch_length={config.batch_length}",
            "--set", f"trainer.learner.optimizer.lr={config.lr}",
            "--set", f"trainer.learner.optimizer.warmup={config.warmup}",
            "--set", f"trainer.limiter.unlimited={'true' if not config.train_ratio else 'false'}",
            "--set", f"trainer.limiter.train_ratio={config.train_ratio or 512}",
            "--set", f"trainer.limiter.min_inserted={config.prefill}",
            "--set", f"trainer.schedule.export_every_s={config.export_every_s}",
            "--set", "status_every_s=5"]
        # the learner may take a whole core; the robot side (firmware, runtime) must not wait
        self.trainer = self._start("trainer", self._program("offboard.cli", *trainer_args),
                                   nice=10)
        self.onboards = []
        for robot in self.robots:
            self.onboards.append(self._start(f"onboard-{robot}", self._program(
                "onboard.cli", "--set", f"robot.task={config.task}",
                "--set", f"robot.port={ports[robot]}", "--set", "robot.clear_estop_on_start=true",
                "--set", f"robot.rearm_after_s={self.config.rearm_after_s}",
                "--set", f"link.endpoint=tcp://127.0.0.1:{self.port}",
                "--set", f"link.robot_id={robot}",
                "--set", f"link.keys_dir={self.run / 'keys' / f'robot-{robot}'}",
                "--set", f"link.spool_dir={self.run / 'spool' / robot}",
                "--set", f"summary={self.run / f'onboard-{robot}.json'}")))

    def status(self, elapsed: float) -> str:
        trainer = self.trainer.last_log_line("updates ")
        robots = [f"{p.name.removeprefix('onboard-')}: {p.last_log_line('steps ')}"
                  for p in self.onboards]
        dead = [p.name for p in self.processes if p.popen.poll() is not None]
        lines = [f"[{elapsed / 60:5.1f}/{self.config.minutes:.0f} min] trainer: "
                 f"{trainer or 'starting'}", *[f"    {r}" for r in robots]]
        if dead:
            lines.append(f"    STOPPED: {', '.join(dead)} (see {self.run / 'logs'})")
        return "\n".join(lines)

    def learn(self) -> None:
        """Wait for the budget (or Ctrl-C) while printing status."""
        started = time.monotonic()
        interrupted = False
        try:
            while (elapsed := time.monotonic() - started) < 60 * self.config.minutes:
                time.sleep(min(self.config.status_every_s, 60 * self.config.minutes - elapsed))
                print(self.status(time.monotonic() - started), flush=True)
                if any(p.popen.poll() is not None for p in self.processes):
                    raise RuntimeError(f"a process stopped early; logs in {self.run / 'logs'}")
        except KeyboardInterrupt:
            interrupted = True
            print("\nCtrl-C: stopping everything cleanly", flush=True)
        finally:
            self.stop_all()
        if interrupted:
            raise KeyboardInterrupt

    def stop_all(self) -> None:
        """Robots first (their last steps reach the trainer), then trainer, then firmware."""
        order = [*self.onboards, self.trainer] if hasattr(self, "trainer") else []
        order += [p for p in self.processes if p not in order]
        for process in order:
            code = process.stop()
            if code not in (0, -signal.SIGTERM):
                log.warning("%s exited with %s (log %s)", process.name, code, process.log_path)


def main(argv: list[str] | None = None) -> int:
    """Console entry point."""
    parser = argparse.ArgumentParser(prog="daydreamer-demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    config = config_from_args(DemoConfig, args)
    demo = Demo(config)
    print(f"run folder: {demo.run}", flush=True)
    demo.setup()
    demo.start_all()
    try:
        demo.learn()
    except KeyboardInterrupt:
        return 130
    from offboard.report import write_report

    report = write_report(demo.run, config.task, config.eval_episodes)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
