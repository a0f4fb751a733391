"""The onboard control loop: sense -> infer -> safety -> act -> record, at a fixed rate.

One tick (:meth:`Runtime.tick`), on the control thread, never touching the network:

1. ``sense``: the robot's latest observation. At an episode start a policy that was validated in
   the background (:meth:`Runtime.offer_policy`) replaces the running one (or at once, with
   ``swap="immediate"``); the runner zeroes the carry on every swap.
2. ``infer``: the policy's action (random before the first policy). An inference error is
   counted and logged; the safety layer then holds/stops the robot.
3. ``safety`` + ``act``: the action actually sent, which is also what gets recorded and what
   the policy sees as ``prev_action`` next tick.
4. ``record``: the step (observation, sent action, policy version) goes to ``sink`` — the
   streaming client's bounded queue; the sink must not block.

After a step with ``is_last`` the runtime resets the robot.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from onboard.clock import Clock, MonotonicClock
from onboard.policy import LoadedPolicy, PolicyLoadError, PolicyRunner
from onboard.rate_loop import RateLoop
from onboard.robot import Robot
from onboard.safety import SafetyConfig, SafetyLayer
from onboard.timing import PhaseStats
from shared.messages import POLICY_VERSION_KEY
from shared.policy_io import action_key

log = logging.getLogger(__name__)
Step = dict[str, np.ndarray]
#: control rate of robots that do not name their own (in-process environments).
DEFAULT_HZ = 20.0


@dataclass(frozen=True)
class RuntimeConfig:
    """How the onboard runtime acts.

    Attributes:
        hz: control rate; 0 uses the robot's own rate (``robot.control_hz``: the task's design
            rate for the firmware robots), else 20 Hz.
        mode: ``random`` (prefill only), ``sample`` (training) or ``mode`` (evaluation).
        swap: ``episode`` swaps a new policy at the next episode start, ``immediate`` at the next
            tick.
        seed: seed of random actions and policy noise.
        safety: safety limits.
    """

    hz: float = 0.0
    mode: Literal["random", "sample", "mode"] = "sample"
    swap: Literal["episode", "immediate"] = "episode"
    seed: int = 0
    safety: SafetyConfig = field(default_factory=SafetyConfig)


@dataclass
class RuntimeStats:
    """Per-phase timings and counters of the runtime."""

    sense: PhaseStats = field(default_factory=PhaseStats)
    infer: PhaseStats = field(default_factory=PhaseStats)
    act: PhaseStats = field(default_factory=PhaseStats)
    inference_errors: int = 0
    episodes: int = 0
    steps: int = 0
    returns: list[float] = field(default_factory=list)
    episode_return: float = 0.0
    policy_swaps: int = 0
    swap_errors: int = 0


class Runtime:
    """Drives one robot with the current policy under the safety layer.

    Args:
        robot: the robot (firmware bridge or in-process environment).
        config: runtime configuration.
        sink: receives every recorded step; must not block (the streaming queue).
        clock: monotonic clock; tests pass a fake one.

    Attributes:
        on_tick: called with the clock's time at the start of every tick, on the control thread
            (e.g. :meth:`onboard.systemd.SystemdNotifier.tick`); must be cheap and must not raise
            or block. None: nothing is called.
    """

    def __init__(self, robot: Robot, config: RuntimeConfig | None = None,
                 sink: Callable[[Step], None] | None = None, clock: Clock | None = None) -> None:
        self.robot = robot
        self.config = config or RuntimeConfig()
        self.clock = clock or MonotonicClock()
        self.sink = sink
        self.key = action_key(robot.spec)
        self.runner = PolicyRunner(robot.spec, mode=self.config.mode, seed=self.config.seed)
        self.safety = SafetyLayer(robot.spec.action, robot.safe_action(), self.config.safety)
        self.stats = RuntimeStats()
        self.hz = self.config.hz or float(getattr(robot, "control_hz", DEFAULT_HZ))
        self.loop = RateLoop(self.hz, self.clock)
        self._pending: LoadedPolicy | None = None
        self._pending_lock = threading.Lock()
        self._stop = threading.Event()
        self._needs_reset = True
        self.on_tick: Callable[[float], None] | None = None

    def offer_policy(self, policy: LoadedPolicy) -> None:
        """Hand over a validated policy (any thread); it is swapped in at the next boundary."""
        with self._pending_lock:
            self._pending = policy

    def stop(self) -> None:
        """Ask the loop to end after the current tick (any thread, signal handlers too)."""
        self._stop.set()

    def run(self, max_ticks: int | None = None) -> dict[str, object]:
        """Run the loop until :meth:`stop` or ``max_ticks``; return the summary."""
        try:
            self.loop.run(self.tick, max_ticks)
        finally:
            self.robot.halt()
        return self.summary()

    def _maybe_swap(self, first: bool) -> None:
        if self._pending is None or not (first or self.config.swap == "immediate"):
            return
        with self._pending_lock:
            policy, self._pending = self._pending, None
        if policy is None:
            return
        try:
            self.runner.swap(policy)
        except PolicyLoadError as error:  # never end the loop over a policy: keep the running one
            self.stats.swap_errors += 1
            log.error("policy version %d not swapped in: %s", policy.version, error)
            return
        self.stats.policy_swaps += 1
        log.info("policy version %d in use", policy.version)

    def tick(self, index: int, deadline: float) -> bool:
        """One control step (see the module docstring). Returns False to stop the loop."""
        clock = self.clock
        start = clock.now()
        if self.on_tick is not None:
            self.on_tick(start)
        if self._needs_reset:
            self.robot.reset()
            self._needs_reset = False
        obs = self.robot.sense()
        first = bool(obs["is_first"])
        self._maybe_swap(first)
        sensed = clock.now()
        try:
            proposal: dict[str, np.ndarray] | None = {self.key: self.runner.act(obs)}
        except Exception as error:  # onnxruntime raises untyped errors; never kill the loop
            self.stats.inference_errors += 1
            log.error("inference failed (%d so far): %s", self.stats.inference_errors, error)
            proposal = None
        inferred = clock.now()
        reason = self.robot.fault()
        if reason is not None:
            self.safety.estop(reason)
        sent = self.safety.filter(proposal, inferred)
        self.robot.act(sent)
        self.runner.sent(sent[self.key])
        acted = clock.now()
        self.stats.sense.add(sensed - start)
        self.stats.infer.add(inferred - sensed)
        self.stats.act.add(acted - inferred)
        self._record(obs, sent)
        return not self._stop.is_set()

    def _record(self, obs: Step, sent: Step) -> None:
        stats = self.stats
        stats.steps += 1
        stats.episode_return = (0.0 if obs["is_first"] else stats.episode_return) + float(
            obs["reward"])
        if obs["is_last"]:
            stats.episodes += 1
            stats.returns.append(stats.episode_return)
            self._needs_reset = True
        if self.sink is not None:
            step = {**obs, **sent, POLICY_VERSION_KEY: np.int64(max(0, self.runner.version))}
            self.sink(step)

    def summary(self) -> dict[str, object]:
        """Timing per phase, loop counters, safety counters and episode returns."""
        safety = self.safety.counters
        return {
            "loop": self.loop.stats.summary(),
            "sense": self.stats.sense.summary(), "infer": self.stats.infer.summary(),
            "act": self.stats.act.summary(), "steps": self.stats.steps,
            "episodes": self.stats.episodes, "returns": list(self.stats.returns),
            "last_return": self.stats.returns[-1] if self.stats.returns else 0.0,
            "mean_return_10": float(np.mean(self.stats.returns[-10:])) if self.stats.returns
            else 0.0,
            "inference_errors": self.stats.inference_errors,
            "policy_version": self.runner.version, "policy_swaps": self.stats.policy_swaps,
            "swap_errors": self.stats.swap_errors,
            "safety": {"clamped": safety.clamped, "rate_limited": safety.rate_limited,
                       "nan_replaced": safety.nan_replaced, "watchdog_trips":
                           safety.watchdog_trips, "estops": safety.estops},
        }
