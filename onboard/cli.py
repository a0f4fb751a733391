"""``daydreamer-onboard``: the on-robot runtime.

Threads: the control thread (this one: fixed-rate loop, never touches the network), the link's
network thread (streaming, spool, policies in), the policy verifier, and a reporter that logs a
status line and sends the runtime's figures to the trainer. SIGINT/SIGTERM end the loop after the
current tick; the robot is halted, the partial batch is spooled and given a few seconds to be
acknowledged, and a summary is printed as JSON.

Under systemd (``Type=notify``, ``$NOTIFY_SOCKET`` set) the control loop sends ``READY=1`` at its
first tick and feeds the watchdog, the reporter sends ``STATUS=``, shutdown sends ``STOPPING=1``
(:mod:`onboard.systemd`; see ``docs/DEPLOY.md``).
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from onboard.config import OnboardConfig, RobotConfig
from onboard.policy import LoadedPolicy
from onboard.rearm import Rearm
from onboard.robot import EnvRobot, Robot
from onboard.runtime import Runtime
from onboard.systemd import SystemdNotifier
from shared.atomic import atomic_write
from shared.config import add_config_arguments, config_from_args, write_resolved
from shared.errors import ConfigError, DaydreamerError
from shared.spec import EnvSpec

log = logging.getLogger("onboard.cli")


def robot_spec(config: RobotConfig) -> EnvSpec:
    """The spec of the configured robot, without opening any port."""
    if config.kind == "firmware":
        from firmware_bridge.host_tasks import make_host_task

        return make_host_task(config.task).spec
    if config.kind == "sim":
        from firmware_bridge.sim.tasks import make_task

        return make_task(config.task).spec
    from shared.envs import make_env

    env = make_env(_env_name(config), seed=config.seed)
    env.close()
    return env.spec


def _env_name(config: RobotConfig) -> str:
    if not config.env:
        raise ConfigError("robot.kind = 'env' needs robot.env (e.g. dmc:cartpole_swingup)")
    return config.env


def build_robot(config: RobotConfig, hz: float) -> Robot:
    """Open the configured robot."""
    if config.kind == "firmware":
        if not config.port:
            raise ConfigError("robot.kind = 'firmware' needs robot.port (the serial device or "
                              "the pty path daydreamer-simfirmware printed)")
        from onboard.firmware_robot import FirmwareRobot, FirmwareRobotConfig

        return FirmwareRobot(FirmwareRobotConfig(
            port=config.port, task=config.task, control_hz=hz, camera=config.camera,
            baud=config.baud, seed=config.seed, clear_estop_on_start=config.clear_estop_on_start,
            silence_periods=config.silence_periods))
    if config.kind == "sim":
        from firmware_bridge.sim.tasks import make_env as make_sim_env

        return EnvRobot(make_sim_env(config.task, seed=config.seed))
    from shared.envs import make_env

    return EnvRobot(make_env(_env_name(config), seed=config.seed))


def policy_from_file(path: Path) -> Any:
    """A POLICY message from an exported file and the ``.manifest.json`` written beside it."""
    from shared.protocol import Policy

    onnx = path.read_bytes()
    manifest_path = path.with_suffix(".manifest.json")
    if manifest_path.exists():
        record = json.loads(manifest_path.read_text())
        manifest, signature = record["manifest"], bytes.fromhex(record["signature"])
    else:
        raise ConfigError(f"{manifest_path} is missing: a policy file needs its manifest")
    return Policy(int(manifest["version"]), onnx, manifest, signature)


class Onboard:
    """Robot + runtime + policy verifier + (optional) link, wired together."""

    def __init__(self, config: OnboardConfig) -> None:
        # onnxruntime is imported here, before the loop runs: its first import in the verifier
        # thread holds the GIL for ~0.1 s and stalled the control loop past the firmware
        # watchdog (tests/test_end_to_end.py caught it).
        import onnxruntime  # noqa: F401

        from onboard.policy_updates import PolicyUpdater
        from shared.keys import load_verify_key

        self.config = config
        self.robot = build_robot(config.robot, config.runtime.hz)
        spec = self.robot.spec
        self.runtime = Runtime(self.robot, config.runtime)
        self.rearm = (Rearm(self.robot, self.runtime.safety, config.robot.rearm_after_s)
                      if config.robot.rearm_after_s > 0 else None)
        self.notifier = SystemdNotifier.from_environment()
        if self.notifier.enabled:  # no per-tick call at all outside systemd
            self.runtime.on_tick = self.notifier.tick
        keys = Path(config.link.keys_dir) if config.link.keys_dir else None
        verify = load_verify_key(keys / "policy_signing.pub") if keys else None
        state = Path(config.link.spool_dir)
        state.mkdir(parents=True, exist_ok=True)
        write_resolved(config, state, "onboard.toml")
        self._version_file = state / "policy_version"
        variant = None if config.runtime.mode == "random" else config.runtime.mode
        self.updater = PolicyUpdater(spec, self._offer, verify,
                                     allow_unsigned=config.allow_unsigned,
                                     current_version=self._accepted_version(),
                                     variant=variant).start()
        self.link = None
        if not config.offline:
            from onboard.link import Link

            self.link = Link(config.link, spec, self.updater.submit,
                             self.updater.running).start()
            self.runtime.sink = self.link.record
        if config.policy:
            self._load_first_policy(Path(config.policy))
        self._done = threading.Event()
        self._reporter = threading.Thread(target=self._report, name="reporter", daemon=True)
        self._started = time.monotonic()

    def _accepted_version(self) -> int:
        """The last policy version this robot accepted (a restart must not accept an older)."""
        try:
            return int(self._version_file.read_text())
        except FileNotFoundError:
            return 0
        except ValueError as error:
            raise ConfigError(f"{self._version_file} is unreadable; delete it only if the "
                              "trainer run changed") from error

    def _offer(self, policy: LoadedPolicy) -> None:
        self.runtime.offer_policy(policy)
        atomic_write(self._version_file, f"{policy.version}\n")

    def _load_first_policy(self, path: Path, timeout: float = 60.0) -> None:
        """Verify and load ``path`` before the first tick, so the first episode uses it."""
        policy = policy_from_file(path)
        self.updater.submit(policy)
        deadline = time.monotonic() + timeout
        while self.updater.version != policy.version:
            if self.updater.rejected or time.monotonic() > deadline:
                raise ConfigError(f"policy {path} was refused: {dict(self.updater.rejected)} "
                                  "(see the log)")
            time.sleep(0.01)

    def _status_line(self) -> str:
        stats = self.runtime.stats
        loop = self.runtime.loop.stats
        version, created = self.updater.running()
        age = f" ({time.time() - created:.0f} s old)" if created else ""
        parts = [f"steps {stats.steps}", f"episodes {stats.episodes}",
                 f"last return {stats.returns[-1]:.1f}" if stats.returns else "",
                 f"policy v{self.runtime.runner.version} (received v{version}{age})",
                 f"overruns {loop.overruns}",
                 f"infer p99 {stats.infer.percentile(99) * 1e3:.2f} ms"]
        if self.link is not None:
            link = self.link.status()
            parts.append(f"link {link.state}, acked {link.acked_seq}, spool {link.pending_steps}")
        if self.rearm is not None and (self.rearm.rearms or self.rearm.failures):
            parts.append(f"re-armed {self.rearm.rearms} (failed {self.rearm.failures})")
        if self.runtime.safety.latched:
            parts.append(f"E-STOP: {self.runtime.safety.latched}")
        return " | ".join(p for p in parts if p)

    def _report(self) -> None:
        while not self._done.wait(5.0):
            line = self._status_line()
            log.info("%s", line)
            self.notifier.status(line)
            if self.link is not None:
                self.link.report(self.runtime.summary())

    def _limits(self) -> None:
        limit_s, limit_episodes = self.config.max_seconds, self.config.max_episodes
        while not self._done.wait(0.1):
            if self.rearm is not None:
                self.rearm.poll()
            elapsed = time.monotonic() - self._started
            if (limit_s and elapsed >= limit_s) or (
                    limit_episodes and self.runtime.stats.episodes >= limit_episodes):
                self.runtime.stop()
                return

    def run(self) -> dict[str, Any]:
        """Run until a signal or a limit; returns the summary."""
        self._reporter.start()
        threading.Thread(target=self._limits, name="limits", daemon=True).start()
        try:
            summary = self.runtime.run()
        finally:
            self._done.set()
            self.close()
        if self.rearm is not None:
            summary["rearm"] = {"rearms": self.rearm.rearms, "failures": self.rearm.failures}
        summary["updater"] = {"accepted": self.updater.accepted,
                              "rejected": dict(self.updater.rejected)}
        if self.link is not None:
            summary["link"] = vars(self.link.status())
        if self.notifier.enabled:
            summary["systemd"] = {"sent": self.notifier.sent, "errors": self.notifier.errors,
                                  "watchdogs": self.notifier.watchdogs}
        return summary

    def close(self) -> None:
        self.notifier.stopping("stopping: robot halted, flushing the spool"
                               if self.link is not None else "stopping")
        if self.link is not None:
            self.link.report(self.runtime.summary())
            acked = self.link.stop(timeout=5.0)
            if not acked:
                log.warning("unacknowledged steps stay in the spool (%s) and are sent next time",
                            self.config.link.spool_dir)
        self.updater.stop()
        self.robot.close()
        if self.notifier.errors:
            log.warning("%d systemd notifications failed", self.notifier.errors)
        self.notifier.close()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="daydreamer-onboard", description=__doc__,
        epilog="examples:\n"
               "  daydreamer-onboard --print-spec --set robot.task=a1_walk > spec.json\n"
               "  daydreamer-onboard --set robot.port=/dev/ttyACM0 --set robot.task=a1_walk \\\n"
               "      --set link.endpoint=tcp://trainer:5555 --set link.robot_id=a1 \\\n"
               "      --set link.keys_dir=keys/robot-a1\n"
               "  daydreamer-onboard --set robot.kind=env --set robot.env=dmc:cartpole_swingup "
               "--set offline=true \\\n      --set runtime.mode=mode --set policy=policy.onnx",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--print-spec", action="store_true",
                        help="print the robot's spec as JSON (for the trainer) and exit")
    add_config_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Console entry point."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name in ("onboard", "shared", "firmware_bridge"):
        logging.getLogger(name).setLevel(logging.DEBUG if args.verbose else logging.INFO)
    try:
        config = config_from_args(OnboardConfig, args)
        if args.print_spec:
            sys.stdout.write(robot_spec(config.robot).canonical_bytes().decode() + "\n")
            return 0
        onboard = Onboard(config)
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: onboard.runtime.stop())
        summary = onboard.run()
    except DaydreamerError as error:
        print(f"daydreamer-onboard: {error}", file=sys.stderr)
        return 2
    text = json.dumps(summary, default=float)
    if config.summary:
        Path(config.summary).write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
