"""A :class:`~onboard.robot.Robot` on a serial firmware: the robot computer's side of a real robot.

:class:`FirmwareRobot` combines the serial driver (:class:`firmware_bridge.host.FirmwareDriver`),
the task's host-side code (:class:`firmware_bridge.host_tasks.HostTask`: observation, reward and
action -> targets from what crosses the link) and, when the task observes images, the camera
reader (:class:`firmware_bridge.camera.CameraReader`)::

    robot = FirmwareRobot(FirmwareRobotConfig(port="/dev/ttyACM0", task="cartpole_swingup"))
    runtime = Runtime(robot, RuntimeConfig(hz=robot.control_hz))
    runtime.run()

Per tick: :meth:`sense` turns the newest STATE into an observation (``is_first`` after
:meth:`reset`, ``is_last`` after ``episode_length`` steps), :meth:`act` sends one COMMAND (latest
wins on the firmware; a write never blocks longer than the link's write timeout) and
:meth:`fault` names a reason to stop: a serial error, a STATE older than ``silence_periods``
control periods (firmware hung, cable out), a latched firmware e-stop, a stale camera.

Nothing here raises on the control thread: link errors are caught, counted and reported by
:meth:`fault` until :meth:`clear_estop`.

The firmware watchdog is fed by the control loop's COMMANDs only (the driver's background
heartbeat is off by default): when the loop stops or hangs, the firmware e-stops on its own.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from firmware_bridge.camera import CameraReader
from firmware_bridge.errors import BridgeError
from firmware_bridge.host import FirmwareDriver
from firmware_bridge.host_tasks import HostTask, make_host_task, readings_from_state
from firmware_bridge.messages import TABLE, ConfigKey, MessageTable
from firmware_bridge.records import FaultReport, FirmwareInfo, StateSample
from firmware_bridge.transport import LinkConfig
from onboard.robot import default_safe_action
from shared.env import Action, Observation, transition
from shared.errors import SpecMismatchError
from shared.spec import EnvSpec

log = logging.getLogger(__name__)
#: link errors caught on the control thread (pyserial may raise OSError underneath).
LINK_ERRORS = (BridgeError, OSError)


@dataclass(frozen=True)
class FirmwareRobotConfig:
    """How the robot computer talks to its firmware.

    Attributes:
        port: pyserial URL of the firmware (``/dev/ttyACM0``, a pty path, ``socket://``).
        task: host-side task name (:data:`firmware_bridge.host_tasks.HOST_TASKS`).
        control_hz: control rate; 0 uses the task's.
        camera: camera endpoint (required when the task observes ``image``).
        baud: line rate of the port.
        silence_periods: a STATE older than this many control periods is a fault.
        watchdog_periods: the firmware watchdog is raised to at least this many control periods.
        heartbeat_s: the driver sends HEARTBEAT when nothing went out for this long;
            0 = never, so only the control loop's COMMANDs feed the firmware watchdog.
        camera_timeout_s: a camera frame older than this is a fault.
        estop_on_halt: :meth:`FirmwareRobot.halt` also latches the firmware e-stop.
        seed: seed of the first RESET (episode ``k`` uses ``seed + k``).
        clear_estop_on_start: clear a latched firmware e-stop at connect (a person's decision;
            ``daydreamer-onboard`` leaves it off unless told).
    """

    port: str
    task: str = "cartpole_swingup"
    control_hz: float = 0.0
    camera: str = ""
    baud: int = 1_000_000
    silence_periods: float = 2.0
    watchdog_periods: float = 2.5
    heartbeat_s: float = 0.0
    camera_timeout_s: float = 1.0
    estop_on_halt: bool = False
    seed: int = 0
    clear_estop_on_start: bool = True


@dataclass
class FirmwareRobotStats:
    """Counters of a :class:`FirmwareRobot`.

    Attributes:
        commands_sent: COMMANDs written.
        link_errors: writes/requests that failed (each also reported by ``fault``).
        reset_failures: RESET requests that failed (the episode was only cut).
        repeated_states: ticks that saw the same STATE as the tick before.
        firmware_faults: FAULT reports from the firmware or the driver.
        episodes: :meth:`FirmwareRobot.reset` calls.
    """

    commands_sent: int = 0
    link_errors: int = 0
    reset_failures: int = 0
    repeated_states: int = 0
    firmware_faults: int = 0
    episodes: int = 0


class FirmwareRobot:
    """The :class:`onboard.robot.Robot` of a robot whose motors sit behind a serial firmware.

    Args:
        config: port, task and policies.
        task: the host-side task (default: ``make_host_task(config.task)``).
        table: message table (tests pass another to see a mismatch refused).
        clock: monotonic clock of the STATE ages (the driver's clock).
    """

    def __init__(self, config: FirmwareRobotConfig, task: HostTask | None = None,
                 table: MessageTable = TABLE, clock: Callable[[], float] = time.monotonic
                 ) -> None:
        self.config = config
        self.task = task or make_host_task(config.task)
        self.control_hz = config.control_hz or self.task.control_hz
        self.period = 1.0 / self.control_hz
        if self.task.has_image and not config.camera:
            raise BridgeError(f"task {self.task.name!r} observes images: give a camera endpoint")
        self.stats = FirmwareRobotStats()
        self.last_fault: FaultReport | None = None
        self._clock = clock
        self._error = ""
        self._first = True
        self._steps = 0
        self._last_obs: Observation | None = None
        self._readings: dict[str, np.ndarray] | None = None
        self._stopped: str | None = None
        self._last_stamp = -1
        heartbeat = config.heartbeat_s or 3600.0
        link = LinkConfig(baud=config.baud, control_period_s=self.period,
                          heartbeat_period_s=heartbeat,
                          silence_timeout_periods=config.silence_periods)
        self.driver = FirmwareDriver.open(config.port, link, table=table, clock=clock,
                                          on_fault=self._on_fault)
        try:
            self.info = self._handshake()
        except BaseException:
            self.driver.close()
            raise
        self.camera = CameraReader(config.camera) if self.task.has_image else None

    def _handshake(self) -> FirmwareInfo:
        info = self.driver.connect()
        task = self.task
        expected = (task.joint_count, task.task_sensor_count, task.command_mode)
        found = (info.joint_count, info.task_sensor_count, info.command_mode)
        if expected != found:
            raise SpecMismatchError(
                f"firmware {info.robot_name!r} reports (joints, task sensors, command mode) "
                f"{found}; host task {task.name!r} needs {expected}")
        watchdog_ms = math.ceil(self.config.watchdog_periods * self.period * 1000)
        if info.watchdog_ms < watchdog_ms:
            applied = self.driver.configure(ConfigKey.WATCHDOG_MS, watchdog_ms)
            log.info("firmware watchdog raised from %d to %.0f ms (%.1f control periods)",
                     info.watchdog_ms, applied, self.config.watchdog_periods)
        self.rtt_s = self.driver.ping()  # the last HEARTBEAT before the control loop's COMMANDs
        if self.config.clear_estop_on_start:
            self.driver.clear_estop()  # also disarms the watchdog until the first COMMAND
        return info

    @property
    def stopped_reason(self) -> str | None:
        """The first fault reported since the last :meth:`clear_estop` (hold targets are being
        sent), or None."""
        return self._stopped

    @property
    def spec(self) -> EnvSpec:
        """The task's spec."""
        return self.task.spec

    def _on_fault(self, report: FaultReport) -> None:
        self.last_fault = report
        self.stats.firmware_faults += 1

    # ------------------------------------------------------------------------ the Robot API
    def reset(self) -> None:
        """New episode: RESET on the firmware where the task allows it, else only a cut.

        Blocks for the request's round trip plus one STATE period (a few ms at 100 Hz STATE)
        and, with a camera, until a frame of the new world arrives (one camera period);
        when the firmware does not answer, up to the link's retries x reply timeout, then the
        failure is counted and reported by :meth:`fault`."""
        self._first = True
        self._steps = 0
        self.stats.episodes += 1
        if not self.task.resets_physics:
            return
        try:
            self.driver.reset(self.task.task_id, self.config.seed + self.stats.episodes - 1)
            # a STATE received after the ACK was sent after the reset (the line keeps order)
            state = self.driver.wait_for_state(4 * self.period, newer_than=self._clock())
            if self.camera is not None and state is not None:  # a frame of the new world
                self.camera.wait_for_frame(max(self.period, 0.3), from_us=state.timestamp_us)
        except LINK_ERRORS as error:
            self.stats.reset_failures += 1
            self._link_error(f"reset failed: {error}")

    def sense(self) -> Observation:
        """The newest STATE as an observation (zeros with a fault before the first STATE)."""
        state = self.driver.latest_state()
        if state is None:
            obs = transition(self._zero_observation(), 0.0, first=self._first)
            self._first = False
            self._last_obs = obs
            return obs
        if state.timestamp_us == self._last_stamp:
            self.stats.repeated_states += 1
        self._last_stamp = state.timestamp_us
        obs = self._observation(state)
        self._last_obs = obs
        return obs

    def _observation(self, state: StateSample) -> Observation:
        readings = readings_from_state(state)
        previous, self._readings = self._readings, readings
        keys = self.task.observe(readings)
        if self.camera is not None:
            frame = self.camera.latest()
            keys["image"] = (frame.image.copy() if frame is not None
                             else np.zeros(self.spec.observation["image"].shape, np.uint8))
        first, self._first = self._first, False
        if first:
            return transition(keys, 0.0, first=True)
        self._steps += 1
        terminal = self.task.is_terminal(readings)
        last = terminal or self.task.is_last(readings) or self._steps >= self.task.episode_length
        reward = self.task.reward(readings, previous)
        return transition(keys, reward, last=last, terminal=terminal)

    def _zero_observation(self) -> dict[str, np.ndarray]:
        return {key: np.zeros(space.shape, space.dtype)
                for key, space in self.spec.observation.items()
                if key not in ("reward", "is_first", "is_last", "is_terminal")}

    def act(self, action: Action) -> None:
        """Send the action's targets as one COMMAND (never raises; errors become a fault).

        Once :meth:`fault` reported a reason, the task's hold targets are sent instead of the
        action until :meth:`clear_estop` (the runtime's safe action of a discrete task, e.g.
        "move -x", is not a safe command). Nothing is sent before the first STATE."""
        if self._readings is None:
            return
        try:
            targets = (self.task.hold_targets(self._readings) if self._stopped
                       else self.task.targets(action, self._readings))
            self.driver.send_command(targets)
            self.stats.commands_sent += 1
        except LINK_ERRORS as error:
            self._link_error(f"command not sent: {error}")

    def safe_action(self) -> Action:
        """Zero action (zero force / mid-range joints / stop), the lowest class if discrete."""
        return default_safe_action(self.spec)

    def fault(self) -> str | None:
        """Why the robot must stop now, or None (see the module docstring); a reason latches
        holding (see :meth:`act`) until :meth:`clear_estop`."""
        reason = self._fault_reason()
        if reason is not None and self._stopped is None:
            self._stopped = reason
        return reason

    def _fault_reason(self) -> str | None:
        if self._error:
            return self._error
        state = self.driver.latest_state()
        now = self._clock()
        if state is None:
            return "no STATE from the firmware yet"
        age = state.age_s(now)
        limit = self.config.silence_periods * self.period
        if age > limit:
            port_error = self.driver.health().transport_error
            return (f"firmware silent for {age * 1000:.0f} ms (limit {limit * 1000:.0f} ms)"
                    + (f"; serial port: {port_error}" if port_error else ""))
        if state.estop:
            names = ", ".join(code.name for code in state.faults()) or "no fault flag"
            return f"firmware e-stop latched ({names})"
        if self.camera is not None:
            frame = self.camera.latest()
            if frame is None or frame.age_s() > self.config.camera_timeout_s:
                age_text = "no frame" if frame is None else f"{frame.age_s() * 1000:.0f} ms"
                return f"camera silent ({age_text})"
        return None

    def halt(self) -> None:
        """Send the hold targets (and latch the firmware e-stop if configured)."""
        stopped, self._stopped = self._stopped, self._stopped or "halted"
        self.act(self.safe_action())
        self._stopped = stopped
        if self.config.estop_on_halt:
            try:
                self.driver.estop()
            except LINK_ERRORS as error:
                self._link_error(f"e-stop request failed: {error}")

    def clear_estop(self) -> None:
        """A person's decision: clear the firmware's e-stop and the remembered link error.

        Waits for the first STATE sent after the firmware acknowledged, so the next
        :meth:`fault` does not see the old latch. Raises the driver's error when the firmware
        does not answer (call it off the control thread, between runs).
        """
        self.driver.clear_estop()
        self.driver.wait_for_state(4 * self.period + 0.1, newer_than=self._clock())
        self._error = ""
        self._stopped = None

    def close(self) -> None:
        """Close the camera reader and the serial port."""
        if self.camera is not None:
            self.camera.close()
        self.driver.close()

    def _link_error(self, text: str) -> None:
        self.stats.link_errors += 1
        if not self._error:
            log.error("%s", text)
        self._error = text
